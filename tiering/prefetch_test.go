package tiering

import (
	"bytes"
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stratalog/strata/objectstore/open"
)

// The read-ahead window is ReadAheadChunks chunks after the one just read,
// running on into the following remote segments when the current one ends,
// and skipping (but counting) chunks already cached.
func TestPlanPrefetch(t *testing.T) {
	type pc = PrefetchChunk
	none := func(int, int64) bool { return false }
	for _, tc := range []struct {
		name    string
		k       int64
		objects []int64
		ahead   int
		cached  func(int, int64) bool
		want    []pc
	}{
		{"inside one big object", 2, []int64{10}, 4, none, []pc{{0, 3}, {0, 4}, {0, 5}, {0, 6}}},
		{"object ends, nothing after", 8, []int64{10}, 4, none, []pc{{0, 9}}},
		{"last chunk, nothing after", 9, []int64{10}, 4, none, nil},
		{"continues into the next segment", 8, []int64{10, 5}, 4, none, []pc{{0, 9}, {1, 0}, {1, 1}, {1, 2}}},
		{"last chunk, next segment", 0, []int64{1, 3}, 2, none, []pc{{1, 0}, {1, 1}}},
		{"several small segments (8 MiB segments, data+index in 2 chunks)", 0, []int64{2, 2, 2, 2}, 4, none,
			[]pc{{0, 1}, {1, 0}, {1, 1}, {2, 0}}},
		{"one-chunk segments", 0, []int64{1, 1, 1, 1, 1, 1}, 4, none, []pc{{1, 0}, {2, 0}, {3, 0}, {4, 0}}},
		{"fewer segments than the window", 0, []int64{1, 1}, 4, none, []pc{{1, 0}}},
		{"cached chunks count in the window", 0, []int64{2, 2, 2}, 4,
			func(o int, i int64) bool { return o == 0 || (o == 1 && i == 0) }, []pc{{1, 1}, {2, 0}}},
		{"everything cached", 0, []int64{3, 3}, 4, func(int, int64) bool { return true }, nil},
		{"no read-ahead", 0, []int64{3, 3}, 0, none, nil},
		{"empty object skipped", 0, []int64{1, 0, 2}, 2, none, []pc{{2, 0}, {2, 1}}},
	} {
		if got := PlanPrefetch(tc.k, tc.objects, tc.ahead, tc.cached); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// From returns the segments holding or after an offset, in order, up to k,
// and nothing past the end; Find is its first one.
func TestManifestFrom(t *testing.T) {
	m, err := openManifest(filepath.Join(t.TempDir(), "manifest"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	segs := []Segment{
		{BaseOffset: 0, NextOffset: 100, Size: 10},
		{BaseOffset: 100, NextOffset: 200, Size: 10},
		{BaseOffset: 250, NextOffset: 300, Size: 10}, // after a gap
		{BaseOffset: 300, NextOffset: 400, Size: 10},
	}
	for _, s := range segs {
		if err := m.Append(s); err != nil {
			t.Fatal(err)
		}
	}
	bases := func(ss []Segment) []int64 {
		var out []int64
		for _, s := range ss {
			out = append(out, s.BaseOffset)
		}
		return out
	}
	for _, tc := range []struct {
		offset int64
		k      int
		want   []int64
	}{
		{0, 2, []int64{0, 100}},
		{99, 1, []int64{0}},
		{100, 4, []int64{100, 250, 300}},
		{200, 4, []int64{250, 300}}, // in the gap: the next segment
		{399, 4, []int64{300}},
		{400, 4, nil},
		{0, 0, nil},
	} {
		got, err := m.From(tc.offset, tc.k)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(bases(got), tc.want) {
			t.Errorf("From(%d, %d) = %v, want %v", tc.offset, tc.k, bases(got), tc.want)
		}
		s, ok, err := m.Find(tc.offset)
		if err != nil || ok != (len(bases(got)) > 0 || tc.k == 0 && tc.offset < 400) {
			t.Errorf("Find(%d) ok=%v err=%v", tc.offset, ok, err)
		}
		if ok && tc.k > 0 && s.BaseOffset != tc.want[0] {
			t.Errorf("Find(%d) = %d, want %d", tc.offset, s.BaseOffset, tc.want[0])
		}
	}
}

// A read near the end of a remote segment prefetches the first chunks of
// the next remote segments (up to ReadAheadChunks), never those the local
// log still holds, and the log reads back byte-identical afterwards.
func TestReadAheadCrossesSegments(t *testing.T) {
	ctx := context.Background()
	store, err := open.Open(ctx, "file://"+t.TempDir(), open.Default())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := openTestLog(t, dir) // 16 KiB segments: one 64 KiB chunk each
	src := &testSource{log: l}
	src.policy.Store(&Policy{RemoteEnabled: true, RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: -1, LocalRetentionBytes: 40 << 10})
	m, err := New(testConfig(t), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := m.Attach(ctx, ID{Topic: "events", TopicID: [16]byte{4}, Partition: 0}, dir, src)
	if err != nil {
		t.Fatal(err)
	}
	m.Start()
	want := bytes.Join(appendBatches(t, l, 200, 1_000_000), nil)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	end := l.EndOffset()
	waitFor(t, "every sealed segment uploaded", func() bool { e, ok := p.RemoteEndOffset(); return ok && e == end })
	waitFor(t, "local deletion", func() bool { return l.Size() <= 40<<10+16<<10 })
	// Keep the local start where it is from now on.
	src.policy.Store(&Policy{RemoteEnabled: true, RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: -1, LocalRetentionBytes: -1})
	time.Sleep(50 * time.Millisecond) // a planner pass in flight finishes

	segs, err := p.man.From(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	localStart := l.StartOffset()
	var cold []Segment // wholly below the local start
	for _, s := range segs {
		if s.NextOffset <= localStart {
			cold = append(cold, s)
		}
	}
	if len(cold) < 7 || len(cold) == len(segs) {
		t.Fatalf("%d remote segments, %d below the local start %d: want at least 7 and some above", len(segs), len(cold), localStart)
	}
	cached := func(s Segment) bool {
		return m.cache.contains(chunkKey{segmentKey(p.root, s.BaseOffset, s.UploadID), 0})
	}
	waitIdle := func() {
		waitFor(t, "prefetches done", func() bool { return len(m.prefetchSlots) == 0 })
	}

	// The last batch of segment 0: the window is segments 1 to 4.
	rr, err := p.Read(ctx, cold[0].NextOffset-1, 1)
	if err != nil {
		t.Fatal(err)
	}
	rr.Release()
	waitIdle()
	for i, s := range cold[:6] {
		if want := i <= m.cfg.ReadAheadChunks; cached(s) != want {
			t.Errorf("after reading segment 0: segment %d cached %v, want %v", i, cached(s), want)
		}
	}

	// The last cold segment: nothing after it is fetched (the local log
	// serves those offsets).
	last := cold[len(cold)-1]
	rr, err = p.Read(ctx, last.NextOffset-1, 1)
	if err != nil {
		t.Fatal(err)
	}
	rr.Release()
	waitIdle()
	for _, s := range segs[len(cold):] {
		if cached(s) {
			t.Errorf("segment at %d (local start %d) was prefetched", s.BaseOffset, localStart)
		}
	}
	if got := readAll(t, p, l, 0); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, want %d identical", len(got), len(want))
	}
}
