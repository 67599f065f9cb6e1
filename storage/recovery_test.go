package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// snapshotDir reads every regular file of dir.
func snapshotDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

func restoreDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRecoveryEveryByteOfLastBatch simulates a crash that leaves the last
// batch torn at every possible length, or corrupt at every byte: recovery
// must drop exactly that batch, keep everything before it and accept
// appends at the right offset afterwards.
func TestRecoveryEveryByteOfLastBatch(t *testing.T) {
	src := t.TempDir()
	l := openLog(t, src, testConfig())
	infos := fill(t, l, 60)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	activeName := filepath.Base(segs[len(segs)-1].Path)
	before := segs[len(segs)-1].Size
	last := appendN(t, l, 2, 20, t0.UnixMilli()+99)
	after := l.Segments()[len(segs)-1].Size
	if len(l.Segments()) != len(segs) || after <= before {
		t.Fatal("last batch must land in the same active segment")
	}
	files := snapshotDir(t, src) // as a crash would leave it: no clean marker
	l.Close()
	if _, ok := files[cleanMarkerName]; ok {
		t.Fatal("snapshot has a clean marker")
	}
	batchLen := after - before

	check := func(t *testing.T, dir string, wantEnd int64) {
		t.Helper()
		l := openLog(t, dir, testConfig())
		defer l.Close()
		if l.EndOffset() != wantEnd {
			t.Fatalf("end offset %d, want %d", l.EndOffset(), wantEnd)
		}
		if l.StartOffset() != 0 || len(l.Segments()) != len(segs) {
			t.Fatalf("start %d, %d segments", l.StartOffset(), len(l.Segments()))
		}
		checkEveryOffset(t, l, infos)
		info := appendN(t, l, 1, 5, t0.UnixMilli())
		if info.FirstOffset != wantEnd {
			t.Fatalf("append after recovery at %d, want %d", info.FirstOffset, wantEnd)
		}
		if hdrs := readHeaders(t, l, wantEnd, 1<<20, wantEnd+1); len(hdrs) != 1 {
			t.Fatalf("appended batch not readable: %+v", hdrs)
		}
	}

	for k := int64(0); k < batchLen; k++ {
		dir := restoreDir(t, files)
		if err := os.Truncate(filepath.Join(dir, activeName), before+k); err != nil {
			t.Fatal(err)
		}
		check(t, dir, last.FirstOffset)
		if t.Failed() {
			t.Fatalf("torn at %d of %d bytes", k, batchLen)
		}
	}
	for p := int64(0); p < batchLen; p++ {
		dir := restoreDir(t, files)
		path := filepath.Join(dir, activeName)
		b, _ := os.ReadFile(path)
		b[before+p] ^= 0x41
		os.WriteFile(path, b, 0o644)
		want := last.FirstOffset
		if p >= 12 && p < 16 { // partition leader epoch: outside the CRC
			want = last.LastOffset + 1
		}
		check(t, dir, want)
		if t.Failed() {
			t.Fatalf("corrupted byte %d of %d", p, batchLen)
		}
	}
	// Garbage appended after the last batch is dropped too.
	dir := restoreDir(t, files)
	f, _ := os.OpenFile(filepath.Join(dir, activeName), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(make([]byte, 100))
	f.Close()
	check(t, dir, last.LastOffset+1)
}

// TestRecoveryOfUnsyncedSealedSegment crashes after a roll with the
// sealed segment never synced: it is rescanned and its torn tail dropped,
// together with the segments after it.
func TestRecoveryOfUnsyncedSealedSegment(t *testing.T) {
	src := t.TempDir()
	l := openLog(t, src, testConfig())
	fill(t, l, 10)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	synced := l.Segments()
	fill(t, l, 60) // rolls several times, never synced
	segs := l.Segments()
	files := snapshotDir(t, src)
	l.Close()
	// Tear the first segment rolled after the sync.
	victim := segs[len(synced)-1]
	name := filepath.Base(victim.Path)
	files[name] = files[name][:len(files[name])-7]
	dir := restoreDir(t, files)
	l = openLog(t, dir, testConfig())
	defer l.Close()
	got := l.Segments()
	if len(got) != len(synced) {
		t.Fatalf("%d segments after recovery, want %d", len(got), len(synced))
	}
	if l.EndOffset() >= victim.NextOffset || l.EndOffset() <= victim.BaseOffset {
		t.Fatalf("end %d, victim %d-%d", l.EndOffset(), victim.BaseOffset, victim.NextOffset)
	}
	appendN(t, l, 1, 1, 0)
}

func TestCleanOpenDoesNotScan(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	infos := fill(t, l, 50)
	l.Close()
	// Corrupt a byte in the middle of the active segment's data: a clean
	// open trusts the file and does not notice, an unclean one would.
	segs := openLog(t, dir, testConfig())
	active := segs.Segments()[len(segs.Segments())-1]
	segs.Close()
	b, _ := os.ReadFile(active.Path)
	b[len(b)/2+30] ^= 0xff
	os.WriteFile(active.Path, b, 0o644)
	l = openLog(t, dir, testConfig())
	if l.EndOffset() != infos[len(infos)-1].LastOffset+1 {
		t.Fatalf("clean open changed the end offset to %d", l.EndOffset())
	}
	l.Close()
}
