package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stratalog/strata/record"
)

// rec is one record as a reader sees it.
type rec struct {
	off int64
	val string
}

// readRecords reads the whole log from offset from as a consumer would,
// skipping gaps, and checks every batch.
func readRecords(t *testing.T, l *Log, from int64) []rec {
	t.Helper()
	var out []rec
	off := from
	for off < l.EndOffset() {
		res, err := l.Read(off, 1<<20, l.EndOffset())
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		b, err := res.Bytes()
		res.Release()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Fatalf("Read(%d) returned nothing below the end %d", off, l.EndOffset())
		}
		for len(b) > 0 {
			h, err := record.ParseHeader(b)
			if err != nil || record.CheckCRC(b, h) != nil {
				t.Fatalf("Read(%d): bad batch: %v", off, err)
			}
			if err := record.ForEachRecord(b[:h.Size()], func(r record.Record) bool {
				if o := h.BaseOffset + int64(r.OffsetDelta); o >= off {
					out = append(out, rec{o, string(r.Value)})
				}
				return true
			}); err != nil {
				t.Fatal(err)
			}
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return out
}

// thinEveryOther drops every other batch of a segment and keeps only the
// first record of the others.
func thinEveryOther(h record.Header, b []byte) ([]byte, error) {
	if (h.BaseOffset/2)%2 == 0 {
		return nil, nil
	}
	var first []record.Record
	if err := record.ForEachRecord(b, func(r record.Record) bool { first = append(first, r); return false }); err != nil {
		return nil, err
	}
	return record.Rebuild(h, first, 0)
}

// compactedLog builds a log of 2-record batches over several sealed,
// synced segments.
func compactedLog(t *testing.T, dir string, cfg Config) *Log {
	t.Helper()
	l := openLog(t, dir, cfg)
	for i := 0; i < 40; i++ {
		appendN(t, l, 2, 60, int64(1000+i))
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if len(l.Segments()) < 3 {
		t.Fatalf("want several segments, got %d", len(l.Segments()))
	}
	return l
}

// expectThinned is what readRecords returns from offset 0 after the first
// segment (ending at next) was thinned by thinEveryOther.
func expectThinned(before []rec, next int64) []rec {
	var out []rec
	for _, r := range before {
		if r.off >= next {
			out = append(out, r)
			continue
		}
		base := r.off - r.off%2
		if (base/2)%2 == 1 && r.off == base {
			out = append(out, r)
		}
	}
	return out
}

func TestCleanSegmentKeepsOffsetsAndSurvivesReopen(t *testing.T) {
	for _, compacted := range []bool{true, false} {
		t.Run(fmt.Sprint("compacted=", compacted), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.Compacted = compacted
			l := compactedLog(t, dir, cfg)
			before := readRecords(t, l, 0)
			seg := l.Segments()[0]
			res, err := l.CleanSegment(context.Background(), seg.BaseOffset, thinEveryOther, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Replaced || res.NewSize >= res.OldSize {
				t.Fatalf("result %+v", res)
			}
			want := expectThinned(before, seg.NextOffset)
			check := func(l *Log, when string) {
				t.Helper()
				if got := readRecords(t, l, 0); !slices.Equal(got, want) {
					t.Fatalf("%s: read %v\nwant %v", when, got, want)
				}
				// A read of any offset, kept or cleaned away, starts at the
				// first record at or after it.
				for off := int64(0); off < seg.NextOffset+3; off++ {
					got := readRecords(t, l, off)
					i := slices.IndexFunc(want, func(r rec) bool { return r.off >= off })
					if !slices.Equal(got, want[i:]) {
						t.Fatalf("%s: read from %d: %v", when, off, got[:min(3, len(got))])
					}
				}
				if d := l.Damaged(); len(d) != 0 {
					t.Fatalf("%s: damaged %v", when, d)
				}
				if s := l.Segments()[0]; s.NextOffset != seg.NextOffset || s.BaseOffset != seg.BaseOffset {
					t.Fatalf("%s: segment moved: %+v", when, s)
				}
			}
			check(l, "after the swap")
			// The whole segment verifies with its gaps.
			if err := l.VerifySegment(context.Background(), seg.BaseOffset, nil); err != nil {
				t.Fatal(err)
			}
			// Cleaning it again changes nothing.
			if res, err := l.CleanSegment(context.Background(), seg.BaseOffset, func(h record.Header, b []byte) ([]byte, error) { return b, nil }, nil); err != nil || res.Replaced {
				t.Fatalf("no-op clean: %+v %v", res, err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			cfg.Compacted = false // the log remembers it holds gaps
			l = openLog(t, dir, cfg)
			check(l, "after a clean reopen")
			// A follower of a compacted leader appends with gaps.
			b, hdrs := mkBatch(t, record.CodecNone, 1, 10, 5000)
			record.SetBaseOffset(b, l.EndOffset()+7)
			hdrs[0].BaseOffset = l.EndOffset() + 7
			if _, err := l.AppendReplica(b, hdrs); err != nil {
				t.Fatalf("gapped replica append: %v", err)
			}
			want = append(want, rec{hdrs[0].BaseOffset, want[len(want)-1].val})
			want[len(want)-1].val = readRecords(t, l, hdrs[0].BaseOffset)[0].val
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			// Crash: no clean marker, no recovery point: everything is
			// rescanned or checked.
			l.closeSegments()
			for _, n := range []string{cleanMarkerName, recoveryCkptName} {
				_ = os.Remove(filepath.Join(dir, n))
			}
			l = openLog(t, dir, cfg)
			check(l, "after a crash")
			l.Close()
		})
	}
}

func TestGapsAreDamageInALogNeverCompacted(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	appendN(t, l, 2, 10, 1)
	b, hdrs := mkBatch(t, record.CodecNone, 1, 10, 5)
	record.SetBaseOffset(b, 5)
	hdrs[0].BaseOffset = 5
	if _, err := l.AppendReplica(b, hdrs); err == nil {
		t.Fatal("a gap was accepted in a log that is not compacted")
	}
}

// TestCleanCrashAtEveryStep rebuilds the directory as a crash would leave
// it at each step of a cleaning pass (every length of the output file
// before the rename, the old indexes removed, the rename done with no
// indexes yet) and checks that the log opens to either the old segment or
// the new one, never a mix, with nothing damaged.
func TestCleanCrashAtEveryStep(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1024
	cfg.Compacted = true
	src := t.TempDir()
	l := compactedLog(t, src, cfg)
	before := readRecords(t, l, 0)
	seg := l.Segments()[0]
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	done := t.TempDir()
	copyDir(t, src, done)
	l = openLog(t, done, cfg)
	if _, err := l.CleanSegment(context.Background(), seg.BaseOffset, thinEveryOther, nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	name := segmentName(seg.BaseOffset)
	cleaned, err := os.ReadFile(filepath.Join(done, name+logSuffix))
	if err != nil {
		t.Fatal(err)
	}
	after := expectThinned(before, seg.NextOffset)

	open := func(t *testing.T, dir string, want []rec) {
		t.Helper()
		_ = os.Remove(filepath.Join(dir, cleanMarkerName))
		l := openLog(t, dir, cfg)
		defer l.Close()
		if got := readRecords(t, l, 0); !slices.Equal(got, want) {
			t.Fatalf("read %d records, want %d", len(got), len(want))
		}
		if d := l.Damaged(); len(d) != 0 {
			t.Fatalf("damaged %v", d)
		}
		if _, err := os.Stat(filepath.Join(dir, name+logSuffix+cleanedSuffix)); !os.IsNotExist(err) {
			t.Fatalf("leftover output: %v", err)
		}
	}
	for n := 0; n <= len(cleaned); n++ {
		dir := t.TempDir()
		copyDir(t, src, dir)
		if err := os.WriteFile(filepath.Join(dir, name+logSuffix+cleanedSuffix), cleaned[:n], 0o644); err != nil {
			t.Fatal(err)
		}
		if n == len(cleaned) {
			// Output complete, old indexes removed, not yet renamed.
			for _, suf := range []string{indexSuffix, timeIndexSuffix} {
				os.Remove(filepath.Join(dir, name+suf))
			}
		}
		open(t, dir, before)
	}
	// Renamed, the new indexes not written yet.
	dir := t.TempDir()
	copyDir(t, src, dir)
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		os.Remove(filepath.Join(dir, name+suf))
	}
	if err := os.WriteFile(filepath.Join(dir, compactedMarkerName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+logSuffix), cleaned, 0o644); err != nil {
		t.Fatal(err)
	}
	open(t, dir, after)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCleanerCheckpointFollowsTruncation(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	if l.CleanerCheckpoint().FirstDirty != -1 {
		t.Fatal("fresh log has a checkpoint")
	}
	for i := 0; i < 10; i++ {
		appendN(t, l, 1, 10, 1)
	}
	if err := l.SetCleanerCheckpoint(CleanerState{FirstDirty: 8, NextHorizon: 1234}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	if got := l.CleanerCheckpoint(); got != (CleanerState{FirstDirty: 5, NextHorizon: 1234}) {
		t.Fatalf("checkpoint %+v after truncation to 5", got)
	}
}

func TestCleanSegmentNeverEmpty(t *testing.T) {
	cfg := testConfig()
	cfg.Compacted = true
	l := compactedLog(t, t.TempDir(), cfg)
	defer l.Close()
	seg := l.Segments()[0]
	res, err := l.CleanSegment(context.Background(), seg.BaseOffset, func(record.Header, []byte) ([]byte, error) { return nil, nil }, nil)
	if err != nil || !res.Replaced {
		t.Fatal(res, err)
	}
	after := l.Segments()[0]
	if after.Size != record.HeaderSize || after.NextOffset != seg.NextOffset {
		t.Fatalf("emptied segment %+v: want one empty batch keeping [%d, %d)", after, seg.BaseOffset, seg.NextOffset)
	}
	hdrs := readHeaders(t, l, 0, 1<<20, seg.NextOffset)
	if len(hdrs) != 1 || hdrs[0].NumRecords != 0 || hdrs[0].NextOffset() != seg.NextOffset || hdrs[0].IsControl() || hdrs[0].IsTransactional() {
		t.Fatalf("placeholder %+v", hdrs)
	}
	if got := readRecords(t, l, 0); len(got) == 0 || got[0].off != seg.NextOffset {
		t.Fatalf("a read from 0 should start at %d: %v", seg.NextOffset, got[:1])
	}
}
