package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stratalog/strata/record"
)

// readAll reads from offset to the log end one batch at a time and returns
// the base offsets it got, stopping at the first error.
func readAll(t *testing.T, l *Log, from int64) ([]record.Header, error) {
	t.Helper()
	var out []record.Header
	off := from
	for off < l.EndOffset() {
		res, err := l.Read(off, 1<<20, l.EndOffset())
		if err != nil {
			return out, err
		}
		b, err := res.Bytes()
		res.Release()
		if err != nil {
			t.Fatal(err)
		}
		hdrs, err := splitBatches(b)
		if err != nil {
			t.Fatalf("read at %d served a bad batch: %v", off, err)
		}
		if len(hdrs) == 0 {
			t.Fatalf("empty read at %d below the end %d", off, l.EndOffset())
		}
		for _, h := range hdrs {
			if h.BaseOffset > off {
				t.Fatalf("read at %d skipped to %d", off, h.BaseOffset)
			}
			off = h.NextOffset()
			out = append(out, h)
		}
	}
	return out, nil
}

// checkDamageRead checks that reads from every offset of a log with one
// damaged segment serve exactly the contiguous records below the damage,
// refuse the damaged range, and serve the segments after it.
func checkDamageRead(t *testing.T, l *Log, d Damage) {
	t.Helper()
	hdrs, err := readAll(t, l, l.StartOffset())
	if !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("reading through damage: %v", err)
	}
	if n := len(hdrs); n == 0 || hdrs[n-1].NextOffset() != d.ValidEnd {
		t.Fatalf("read stopped at %v, want valid end %d", hdrs[len(hdrs)-1].NextOffset(), d.ValidEnd)
	}
	if !strings.Contains(err.Error(), "offset") {
		t.Fatalf("error does not name the offset: %v", err)
	}
	for off := d.ValidEnd; off < d.Next; off++ {
		if _, err := l.Read(off, 1<<20, l.EndOffset()); !errors.Is(err, ErrCorruptSegment) {
			t.Fatalf("read at damaged offset %d: %v", off, err)
		}
	}
	if d.Next < l.EndOffset() {
		if _, err := readAll(t, l, d.Next); err != nil {
			t.Fatalf("segments after the damage: %v", err)
		}
	}
}

func sealedPaths(l *Log) []SegmentInfo {
	segs := l.Segments()
	return segs[:len(segs)-1]
}

func flipByte(t *testing.T, path string, pos int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[pos] ^= 0x5a
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifySegmentFindsFlippedByte(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	defer l.Close()
	infos := fill(t, l, 120)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	sealed := sealedPaths(l)
	if len(sealed) < 3 {
		t.Fatalf("only %d sealed segments", len(sealed))
	}
	victim := sealed[1]
	for _, s := range sealed {
		if err := l.VerifySegment(context.Background(), s.BaseOffset, nil); err != nil {
			t.Fatalf("verify of a good segment %d: %v", s.BaseOffset, err)
		}
	}
	if len(l.Damaged()) != 0 {
		t.Fatal("damage before any")
	}
	flipByte(t, victim.Path, victim.Size/2)
	var paced int
	err := l.VerifySegment(context.Background(), victim.BaseOffset, func(ctx context.Context, n int) error {
		paced += n
		return nil
	})
	if !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("verify of a flipped segment: %v", err)
	}
	if paced < int(victim.Size/2) {
		t.Fatalf("limit saw %d bytes", paced)
	}
	ds := l.Damaged()
	if len(ds) != 1 || ds[0].Base != victim.BaseOffset || ds[0].Next != victim.NextOffset ||
		ds[0].ValidEnd <= ds[0].Base || ds[0].ValidEnd >= ds[0].Next || !errors.Is(ds[0].Cause, ErrCorruptSegment) {
		t.Fatalf("damage %+v, victim %+v", ds, victim)
	}
	if l.DamagedSegments() != 1 || l.DamageMarked() != 1 {
		t.Fatalf("counts %d %d", l.DamagedSegments(), l.DamageMarked())
	}
	checkDamageRead(t, l, ds[0])
	// Everything outside the damage still reads its own batch.
	var outside []AppendInfo
	for _, in := range infos {
		if in.LastOffset < ds[0].ValidEnd || in.FirstOffset >= ds[0].Next {
			outside = append(outside, in)
		}
	}
	checkEveryOffset(t, l, outside)

	// A cancelled verify marks nothing and reports the cancellation.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.VerifySegment(ctx, sealed[0].BaseOffset, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled verify: %v", err)
	}
	if len(l.Damaged()) != 1 {
		t.Fatal("cancelled verify marked damage")
	}
	// The active segment is not verified by the scrubber.
	if err := l.VerifySegment(context.Background(), l.Segments()[len(l.Segments())-1].BaseOffset, nil); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("verify of the active segment: %v", err)
	}
}

func TestDamageSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	fill(t, l, 120)
	sealed := sealedPaths(l)
	l.MarkDamaged(sealed[2].BaseOffset, errors.New("bad batch before upload"))
	l.MarkDamaged(12345678, errors.New("no such segment"))
	ds := l.Damaged()
	if len(ds) != 1 || ds[0].ValidEnd != sealed[2].BaseOffset || !errors.Is(ds[0].Cause, ErrCorruptSegment) {
		t.Fatalf("damage %+v", ds)
	}
	if _, err := l.Read(sealed[2].BaseOffset, 1<<20, l.EndOffset()); !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("read of a marked segment: %v", err)
	}
	if _, _, _, err := l.OffsetForTimestamp(sealed[2].MaxTimestamp); !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("timestamp lookup past damage: %v", err)
	}
	if off, _, ok, err := l.OffsetForTimestamp(t0.UnixMilli()); err != nil || !ok || off != 0 {
		t.Fatalf("timestamp lookup before damage: %d %v %v", off, ok, err)
	}
	l.Close()
	l = openLog(t, dir, testConfig())
	defer l.Close()
	if got := l.Damaged(); len(got) != 1 || got[0].Base != ds[0].Base || got[0].ValidEnd != ds[0].ValidEnd || got[0].Next != ds[0].Next {
		t.Fatalf("damage after restart %+v, want %+v", got, ds)
	}
}

func TestReplaceSegmentHeals(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	defer l.Close()
	infos := fill(t, l, 120)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	victim := sealedPaths(l)[1]
	good, err := os.ReadFile(victim.Path)
	if err != nil {
		t.Fatal(err)
	}
	// A reader holds the segment across the damage and the healing.
	held, err := l.Read(victim.BaseOffset, 1<<30, l.EndOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	flipByte(t, victim.Path, victim.Size-10)
	if err := l.VerifySegment(context.Background(), victim.BaseOffset, nil); !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("verify: %v", err)
	}
	damagedBytes, _ := os.ReadFile(victim.Path)

	// A bad copy is refused: a flipped byte, a short copy, a copy in
	// another directory, a copy of another segment.
	bad := filepath.Join(dir, "heal-bad")
	os.WriteFile(bad, damagedBytes, 0o644)
	if err := l.ReplaceSegment(victim.BaseOffset, bad); !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("replace with a damaged copy: %v", err)
	}
	os.WriteFile(bad, good[:len(good)-1], 0o644)
	if err := l.ReplaceSegment(victim.BaseOffset, bad); !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("replace with a short copy: %v", err)
	}
	other, _ := os.ReadFile(sealedPaths(l)[0].Path)
	os.WriteFile(bad, other, 0o644)
	if err := l.ReplaceSegment(victim.BaseOffset, bad); !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("replace with another segment: %v", err)
	}
	elsewhere := filepath.Join(t.TempDir(), "heal")
	os.WriteFile(elsewhere, good, 0o644)
	if err := l.ReplaceSegment(victim.BaseOffset, elsewhere); err == nil {
		t.Fatal("replace from another directory accepted")
	}
	if len(l.Damaged()) != 1 {
		t.Fatal("a refused copy cleared the damage")
	}

	heal := filepath.Join(dir, "heal-good")
	os.WriteFile(heal, good, 0o644)
	if err := l.ReplaceSegment(victim.BaseOffset, heal); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if got, _ := os.ReadFile(victim.Path); !bytes.Equal(got, good) {
		t.Fatal("healed file differs from the good copy")
	}
	if _, err := os.Stat(heal); !os.IsNotExist(err) {
		t.Fatal("the copy was not renamed into place")
	}
	if len(l.Damaged()) != 0 || l.DamagedSegments() != 0 {
		t.Fatalf("damage after healing: %+v", l.Damaged())
	}
	if err := l.VerifySegment(context.Background(), victim.BaseOffset, nil); err != nil {
		t.Fatalf("verify after healing: %v", err)
	}
	checkEveryOffset(t, l, infos)
	if hdrs, err := readAll(t, l, 0); err != nil || hdrs[len(hdrs)-1].NextOffset() != l.EndOffset() {
		t.Fatalf("full read after healing: %v", err)
	}
	// The reader that held the old file still reads its descriptor.
	b, err := held.Bytes()
	if err != nil {
		t.Fatalf("held read after replace: %v", err)
	}
	if !bytes.Equal(b[:len(good)], damagedBytes) {
		t.Fatal("held read does not see the old file")
	}
	// And the healed segment survives a restart with exact lookups.
	l.Close()
	l = openLog(t, dir, testConfig())
	checkEveryOffset(t, l, infos)
	if len(l.Damaged()) != 0 {
		t.Fatal("damage came back after restart")
	}
}

// truncateSealed cuts a sealed segment in the middle of a batch.
func truncateSealed(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size*2/3); err != nil {
		t.Fatal(err)
	}
}

func TestTruncatedSealedSegmentIsDamageNotGap(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := "unclean"
		if clean {
			name = "clean"
		}
		t.Run(name, func(t *testing.T) {
			src := t.TempDir()
			l := openLog(t, src, testConfig())
			infos := fill(t, l, 150)
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			segs := l.Segments()
			victim := segs[2]
			end := l.EndOffset()
			var dir string
			if clean {
				l.Close()
				dir = src
			} else {
				files := snapshotDir(t, src) // as a crash would leave it
				l.Close()
				dir = restoreDir(t, files)
			}
			truncateSealed(t, filepath.Join(dir, filepath.Base(victim.Path)), victim.Size)
			l = openLog(t, dir, testConfig())
			defer l.Close()
			if l.EndOffset() != end || len(l.Segments()) != len(segs) {
				t.Fatalf("end %d (want %d), %d segments (want %d): later segments dropped", l.EndOffset(), end, len(l.Segments()), len(segs))
			}
			ds := l.Damaged()
			if len(ds) != 1 || ds[0].Base != victim.BaseOffset || ds[0].Next != victim.NextOffset || ds[0].ValidEnd >= victim.NextOffset {
				t.Fatalf("damage %+v, victim %+v", ds, victim)
			}
			if fi, _ := os.Stat(filepath.Join(dir, filepath.Base(victim.Path))); fi.Size() != victim.Size*2/3 {
				t.Fatal("open changed a damaged sealed segment")
			}
			checkDamageRead(t, l, ds[0])
			var outside []AppendInfo
			for _, in := range infos {
				if in.LastOffset < ds[0].ValidEnd || in.FirstOffset >= ds[0].Next {
					outside = append(outside, in)
				}
			}
			checkEveryOffset(t, l, outside)
			if !clean {
				if u := l.Unverified(); len(u) != len(segs)-1 {
					t.Fatalf("unverified %v", u)
				}
			}
			info := appendN(t, l, 1, 10, t0.UnixMilli())
			if info.FirstOffset != end {
				t.Fatalf("append at %d, want %d", info.FirstOffset, end)
			}
		})
	}
}

func TestCleanOpenVerifiesActiveTail(t *testing.T) {
	for _, kind := range []string{"zeroed", "truncated", "flipped"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, testConfig())
			fill(t, l, 40)
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			before := l.Segments()[len(l.Segments())-1].Size
			good := l.EndOffset()
			last := appendN(t, l, 3, 40, t0.UnixMilli()+1e6)
			active := l.Segments()[len(l.Segments())-1]
			if active.Size <= before {
				t.Fatal("last batch rolled")
			}
			l.Close()
			b, _ := os.ReadFile(active.Path)
			switch kind {
			case "zeroed":
				clear(b[before+30:])
			case "truncated":
				b = b[:before+30]
			case "flipped":
				b[len(b)-3] ^= 1
			}
			os.WriteFile(active.Path, b, 0o644)
			l = openLog(t, dir, testConfig())
			defer l.Close()
			if l.EndOffset() != good {
				t.Fatalf("end %d, want %d (the damaged batch %d-%d dropped)", l.EndOffset(), good, last.FirstOffset, last.LastOffset)
			}
			if fi, _ := os.Stat(active.Path); fi.Size() != before {
				t.Fatalf("tail not truncated: %d bytes, want %d", fi.Size(), before)
			}
			if hdrs, err := readAll(t, l, 0); err != nil || hdrs[len(hdrs)-1].NextOffset() != good {
				t.Fatalf("read: %v", err)
			}
			if info := appendN(t, l, 1, 5, t0.UnixMilli()); info.FirstOffset != good {
				t.Fatalf("append at %d", info.FirstOffset)
			}
		})
	}
}

func TestDeletedIndexRebuilt(t *testing.T) {
	for _, clean := range []bool{true, false} {
		dir := t.TempDir()
		l := openLog(t, dir, testConfig())
		infos := fill(t, l, 150)
		for l.Segments()[len(l.Segments())-1].Size < 1500 {
			infos = append(infos, appendN(t, l, 2, 30, t0.UnixMilli()+1e6))
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		segs := l.Segments()
		want := map[string][]byte{}
		for _, s := range segs {
			for _, suf := range []string{indexSuffix, timeIndexSuffix} {
				p := strings.TrimSuffix(s.Path, logSuffix) + suf
				b, _ := os.ReadFile(p)
				want[p] = b
			}
		}
		if clean {
			l.Close()
		} else {
			files := snapshotDir(t, dir)
			l.Close()
			dir = restoreDir(t, files)
			for p, b := range want {
				delete(want, p)
				want[filepath.Join(dir, filepath.Base(p))] = b
			}
		}
		victims := []string{
			filepath.Join(dir, segmentName(segs[1].BaseOffset)+indexSuffix),
			filepath.Join(dir, segmentName(segs[2].BaseOffset)+timeIndexSuffix),
			filepath.Join(dir, segmentName(segs[len(segs)-1].BaseOffset)+indexSuffix),
		}
		for _, v := range victims {
			if len(want[v]) == 0 {
				t.Fatalf("%s was empty before deletion", v)
			}
			os.Remove(v)
		}
		l = openLog(t, dir, testConfig())
		for _, v := range victims {
			got, err := os.ReadFile(v)
			if err != nil || !bytes.Equal(got, want[v]) {
				t.Fatalf("clean=%v: %s rebuilt as %d bytes, want %d (%v)", clean, v, len(got), len(want[v]), err)
			}
		}
		checkEveryOffset(t, l, infos)
		if len(l.Damaged()) != 0 {
			t.Fatalf("damage %+v", l.Damaged())
		}
		l.Close()
	}
}

func TestStorageErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		err     error
		storage bool
	}{
		{&os.PathError{Op: "write", Path: "x", Err: errnoENOSPC}, true},
		{&os.PathError{Op: "write", Path: "x", Err: errnoEDQUOT}, true},
		{&os.PathError{Op: "open", Path: "x", Err: errnoEMFILE}, true},
		{&os.PathError{Op: "open", Path: "x", Err: errnoENFILE}, true},
		{&os.PathError{Op: "read", Path: "x", Err: errnoEIO}, true},
		{&os.PathError{Op: "open", Path: "x", Err: os.ErrNotExist}, false},
		{errors.New("other"), false},
	} {
		err := classify("op", "path", tc.err)
		if errors.Is(err, ErrStorage) != tc.storage || !errors.Is(err, tc.err) {
			t.Errorf("classify(%v) = %v", tc.err, err)
		}
	}
	if classify("op", "p", nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}

var (
	errnoENOSPC = syscall.ENOSPC
	errnoEDQUOT = syscall.EDQUOT
	errnoEMFILE = syscall.EMFILE
	errnoENFILE = syscall.ENFILE
	errnoEIO    = syscall.EIO
)

// TestReplaceSegmentUnderConcurrentReads heals a segment while readers
// keep reading across it: every result they get is whole good batches,
// contiguous from where they started, and after the swap they read
// through.
func TestReplaceSegmentUnderConcurrentReads(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	defer l.Close()
	fill(t, l, 120)
	victim := sealedPaths(l)[2]
	good, _ := os.ReadFile(victim.Path)
	flipByte(t, victim.Path, 70)
	if err := l.VerifySegment(context.Background(), victim.BaseOffset, nil); !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("verify: %v", err)
	}
	end := l.EndOffset()
	stop := make(chan struct{})
	errc := make(chan error, 4)
	for r := 0; r < 4; r++ {
		go func() {
			for {
				select {
				case <-stop:
					errc <- nil
					return
				default:
				}
				off := int64(0)
				for off < end {
					res, err := l.Read(off, 1<<20, end)
					if errors.Is(err, ErrCorruptSegment) {
						break
					}
					if err != nil {
						errc <- err
						return
					}
					b, err := res.Bytes()
					res.Release()
					if err != nil {
						errc <- err
						return
					}
					hdrs, err := splitBatches(b)
					if err != nil || len(hdrs) == 0 || hdrs[0].BaseOffset > off {
						errc <- fmt.Errorf("read at %d: %d batches, %v", off, len(hdrs), err)
						return
					}
					off = hdrs[len(hdrs)-1].NextOffset()
				}
			}
		}()
	}
	heal := filepath.Join(dir, "heal")
	os.WriteFile(heal, good, 0o644)
	if err := l.ReplaceSegment(victim.BaseOffset, heal); err != nil {
		t.Fatal(err)
	}
	close(stop)
	for r := 0; r < 4; r++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if hdrs, err := readAll(t, l, 0); err != nil || hdrs[len(hdrs)-1].NextOffset() != end {
		t.Fatalf("read after healing: %v", err)
	}
}
