package tiering

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
)

func TestWorthReplacing(t *testing.T) {
	remote := Segment{BaseOffset: 100, NextOffset: 200, Size: 1000}
	local := func(base, next, size int64) storage.SegmentInfo {
		return storage.SegmentInfo{BaseOffset: base, NextOffset: next, Size: size, Sealed: true}
	}
	for _, tc := range []struct {
		name      string
		cur       Segment
		found     bool
		seg       storage.SegmentInfo
		minSaving float64
		want      bool
	}{
		{"halved, ratio 0.5", remote, true, local(100, 200, 500), 0.5, true},
		{"not enough saved", remote, true, local(100, 200, 600), 0.5, false},
		{"any saving at ratio 0", remote, true, local(100, 200, 999), 0, true},
		{"no saving at ratio 0", remote, true, local(100, 200, 1000), 0, false},
		{"bigger local copy", remote, true, local(100, 200, 1200), 0, false},
		{"other range: uploaded as a tail", remote, true, local(50, 200, 300), 0.1, false},
		{"other end", remote, true, local(100, 150, 300), 0.1, false},
		{"no remote segment", Segment{}, false, local(100, 200, 300), 0.1, false},
		{"empty local copy", remote, true, local(100, 200, 0), 0.1, false},
		{"active segment", remote, true, storage.SegmentInfo{BaseOffset: 100, NextOffset: 200, Size: 10}, 0.1, false},
	} {
		if got, why := worthReplacing(tc.cur, tc.found, tc.seg, tc.minSaving); got != tc.want {
			t.Errorf("%s: %v (%s), want %v", tc.name, got, why, tc.want)
		}
	}
}

// TestReplaceCleanedCommitsAGenerationAndKeepsTheOldObjectForItsGrace
// cleans a local segment already in the store, replaces the remote copy
// with it, and checks: cold reads serve the cleaned batches, a manifest
// that missed the replacement (a crash after the entry was committed and
// before the local manifest was rewritten) adopts it at the next Sync, a
// crash after the object's PUT but before the entry leaves an orphan the
// collector removes, and the replaced object survives the collector until
// OrphanGrace has passed since the replacement.
func TestReplaceCleanedCommitsAGenerationAndKeepsTheOldObjectForItsGrace(t *testing.T) {
	ctx := context.Background()
	store, err := open.Open(ctx, "file://"+t.TempDir(), open.Default())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := storage.DefaultConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.IndexIntervalBytes = 1024
	cfg.Compacted = true
	l, err := storage.Open(dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	src := &testSource{log: l}
	src.policy.Store(&Policy{RemoteEnabled: true, RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: -1, LocalRetentionBytes: -1})
	m, err := New(testConfig(t), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := m.Attach(ctx, ID{Topic: "state", TopicID: [16]byte{9}, Partition: 0}, dir, src)
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	appendBatches(t, l, 60, 1_000_000)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	end := l.EndOffset()
	waitFor(t, "every sealed segment uploaded", func() bool { e, ok := p.RemoteEndOffset(); return ok && e == end })
	seg := l.Segments()[0]
	before, _, _ := p.man.Find(seg.BaseOffset)

	// Drop every other batch of the first segment.
	res, err := l.CleanSegment(ctx, seg.BaseOffset, func(h record.Header, b []byte) ([]byte, error) {
		if (h.BaseOffset/10)%2 == 0 {
			return nil, nil
		}
		return b, nil
	}, nil)
	if err != nil || !res.Replaced {
		t.Fatal(res, err)
	}
	cleaned := l.Segments()[0]
	if _, _, err := p.ReplaceCleaned(ctx, cleaned, 0.6); !errors.Is(err, ErrNotReplaced) {
		t.Fatalf("a copy half the size replaced with a 60%% bar: %v", err)
	}
	up, saved, err := p.ReplaceCleaned(ctx, cleaned, 0.4)
	if err != nil || saved != before.Size-cleaned.Size || up <= 0 {
		t.Fatalf("replace: %d %d %v", up, saved, err)
	}
	after, _, _ := p.man.Find(seg.BaseOffset)
	if after.UploadID == before.UploadID || after.Size != cleaned.Size || after.NextOffset != before.NextOffset {
		t.Fatalf("manifest record %+v after replacing %+v", after, before)
	}
	// Again: nothing left to save.
	if _, _, err := p.ReplaceCleaned(ctx, cleaned, 0); !errors.Is(err, ErrNotReplaced) {
		t.Fatal(err)
	}

	// Cold reads serve the cleaned batches, gaps and all.
	rr, err := p.Read(ctx, seg.BaseOffset, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := rr.Bytes()
	rr.Release()
	lr, err := l.Read(seg.BaseOffset, 1<<20, cleaned.NextOffset)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := lr.Bytes()
	lr.Release()
	if !bytes.Equal(got, want) {
		t.Fatalf("cold read of the replaced segment: %d bytes, local copy %d", len(got), len(want))
	}

	// A local manifest that missed the replacement adopts it at Sync.
	var chain []Segment
	_ = p.man.Scan(func(s Segment) bool {
		if s.BaseOffset == before.BaseOffset {
			s = before
		}
		chain = append(chain, s)
		return true
	})
	if err := p.man.Reset(chain); err != nil {
		t.Fatal(err)
	}
	if changed, err := p.Sync(ctx); err != nil || !changed {
		t.Fatalf("sync: %v %v", changed, err)
	}
	if s, _, _ := p.man.Find(seg.BaseOffset); s.UploadID != after.UploadID {
		t.Fatal("the local manifest did not adopt the newer generation")
	}

	// An object PUT whose entry never got committed is an orphan.
	stray := segmentKey(p.root, seg.BaseOffset, [16]byte{0xee})
	if _, err := store.Put(ctx, stray, bytes.NewReader([]byte("x")), 1, objectstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	exists := func(key string) bool {
		rc, err := store.GetRange(ctx, key, 0, 1)
		if err == nil {
			rc.Close()
		}
		return err == nil
	}
	oldKey := segmentKey(p.root, before.BaseOffset, before.UploadID)
	// Within the grace since the replacement, the replaced object stays.
	if _, err := p.collect(ctx, time.Now().Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !exists(oldKey) {
		t.Fatal("the replaced object was collected within its grace")
	}
	if _, err := p.collect(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if exists(oldKey) || exists(stray) {
		t.Fatalf("after the grace: replaced object kept %v, stray kept %v", exists(oldKey), exists(stray))
	}
	if !exists(segmentKey(p.root, after.BaseOffset, after.UploadID)) {
		t.Fatal("the current object was collected")
	}
}
