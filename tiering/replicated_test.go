package tiering

import (
	"bytes"
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/record/recordtest"
	"github.com/stratalog/strata/storage"
)

// replSource is one replica of a partition: leadership and epoch change.
type replSource struct {
	log    *storage.Log
	leader atomic.Bool
	epoch  atomic.Int32
	policy Policy
}

func (s *replSource) Log() LocalLog        { return s.log }
func (s *replSource) HighWatermark() int64 { return s.log.EndOffset() }
func (s *replSource) Policy() Policy       { return s.policy }
func (s *replSource) LeaderEpoch() int32   { return s.epoch.Load() }
func (s *replSource) IsLeader() bool       { return s.leader.Load() }

func openSizedLog(t *testing.T, dir string, segBytes int64) *storage.Log {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.SegmentBytes = segBytes
	cfg.IndexIntervalBytes = 1024
	l, err := storage.Open(dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// appendReplicated appends n batches to the leader's log and the same bytes
// at the same offsets to the follower's, as replication does.
func appendReplicated(t *testing.T, leader, follower *storage.Log, n int, epoch int32) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := recordtest.Batch(recordtest.Options{FirstTimestamp: time.Now().UnixMilli()}, recordtest.Records(10, 100, 1))
		hdrs, err := record.Validate(b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leader.Append(b, hdrs, epoch, -1); err != nil {
			t.Fatal(err)
		}
		stored, err := record.Validate(b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := follower.AppendReplica(b, stored); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, l := range []*storage.Log{leader, follower} {
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestLeaderChangeResumesTheRemoteLog: two replicas whose segments roll at
// different offsets share a store. While A leads, B only syncs the
// manifest and drops its own uploaded local segments; when B becomes leader
// it resumes at A's remote end (uploading the tail of a segment that
// straddles it), so the remote log is one chain with no gap, no overlap
// and nothing uploaded twice, and every offset reads back byte-identical.
func TestLeaderChangeResumesTheRemoteLog(t *testing.T) {
	ctx := context.Background()
	u := "file://" + filepath.Join(t.TempDir(), "store")
	store, err := open.Open(ctx, u, open.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	policy := Policy{RemoteEnabled: true, RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: -1, LocalRetentionBytes: 30 << 10}
	id := ID{Topic: "events", TopicID: [16]byte{7}, Partition: 0}
	type replica struct {
		src *replSource
		m   *Manager
		p   *Partition
	}
	mk := func(segBytes int64) replica {
		dir := t.TempDir()
		src := &replSource{log: openSizedLog(t, dir, segBytes), policy: policy}
		cfg := testConfig(t)
		cfg.SyncInterval = 20 * time.Millisecond
		m, err := New(cfg, store, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		p, err := m.Attach(ctx, id, dir, src)
		if err != nil {
			t.Fatal(err)
		}
		return replica{src, m, p}
	}
	a, b := mk(16<<10), mk(11<<10)
	a.src.leader.Store(true)
	a.src.epoch.Store(3)
	b.src.epoch.Store(3)
	a.m.Start()
	b.m.Start()

	all := appendReplicated(t, a.src.log, b.src.log, 120, 3)
	if err := a.src.log.Roll(); err != nil {
		t.Fatal(err)
	}
	aEnd := a.src.log.EndOffset()
	waitFor(t, "A's segments uploaded", func() bool { e, ok := a.p.RemoteEndOffset(); return ok && e == aEnd })
	waitFor(t, "B synced A's remote log", func() bool { e, ok := b.p.RemoteEndOffset(); return ok && e == aEnd })
	waitFor(t, "B dropped uploaded local segments", func() bool { return b.src.log.StartOffset() > 0 })
	if ls := b.src.log.StartOffset(); ls > aEnd {
		t.Fatalf("follower's local start %d past the remote end %d", ls, aEnd)
	}
	straddles := false
	for _, s := range b.src.log.Segments() {
		straddles = straddles || s.BaseOffset < aEnd && (s.NextOffset > aEnd || !s.Sealed)
	}
	if !straddles {
		t.Fatalf("test setup: no segment of B straddles the remote end %d: %+v", aEnd, b.src.log.Segments())
	}

	// Failover: B leads under a new epoch, A follows.
	a.src.leader.Store(false)
	b.src.epoch.Store(4)
	a.src.epoch.Store(4)
	b.src.leader.Store(true)
	all = append(all, appendReplicated(t, b.src.log, a.src.log, 80, 4)...)
	if err := b.src.log.Roll(); err != nil {
		t.Fatal(err)
	}
	bEnd := b.src.log.EndOffset()
	waitFor(t, "B's segments uploaded", func() bool { e, ok := b.p.RemoteEndOffset(); return ok && e == bEnd })
	waitFor(t, "A synced B's uploads", func() bool { e, ok := a.p.RemoteEndOffset(); return ok && e == bEnd })

	// One chain in the store, and one data object per entry.
	chain, err := b.p.storeChain(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	prev := int64(0)
	tailUpload := false
	for _, e := range chain {
		if e.BaseOffset != prev {
			t.Fatalf("remote chain has a gap or overlap at %d (previous end %d): %+v", e.BaseOffset, prev, chain)
		}
		tailUpload = tailUpload || e.BaseOffset == aEnd && e.UploadedBy == b.m.cfg.NodeID && e.LeaderEpoch == 4
		prev = e.NextOffset
	}
	if prev != bEnd {
		t.Fatalf("remote chain ends at %d, want %d", prev, bEnd)
	}
	if !tailUpload {
		t.Fatalf("B did not resume with an upload at A's remote end %d: %+v", aEnd, chain)
	}
	entries, objects := 0, 0
	page, err := store.List(ctx, objectstore.ListOptions{Prefix: b.p.root})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range page.Objects {
		if _, _, ok := parseEntryKey(b.p.root, o.Key); ok {
			entries++
		} else if _, _, ok := parseSegmentKey(b.p.root, o.Key); ok {
			objects++
		}
	}
	if entries != len(chain) || objects != len(chain) {
		t.Fatalf("store holds %d entries and %d data objects for a chain of %d: something was uploaded twice", entries, objects, len(chain))
	}

	// Every offset through the new leader, byte-identical.
	waitFor(t, "B dropped more local segments", func() bool { return b.src.log.StartOffset() > aEnd })
	if got, want := readAll(t, b.p, b.src.log, 0), bytes.Join(all, nil); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes through the new leader, want %d identical", len(got), len(want))
	}
	// And through A, now a follower with a synced manifest.
	if got, want := readAll(t, a.p, a.src.log, 0), bytes.Join(all, nil); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes through the old leader, want %d identical", len(got), len(want))
	}
}

// TestPlanResumesInsideASegment: the planner uploads the part of a sealed
// segment past the remote end, and deletes nothing above the high
// watermark (a follower's tail there may still be truncated).
func TestPlanResumesInsideASegment(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	segs := []storage.SegmentInfo{
		{BaseOffset: 0, NextOffset: 100, Size: 1000, MaxTimestamp: 1, Sealed: true},
		{BaseOffset: 100, NextOffset: 250, Size: 1500, MaxTimestamp: 2, Sealed: true},
		{BaseOffset: 250, NextOffset: 300, Size: 500, MaxTimestamp: 3, Sealed: true},
		{BaseOffset: 300, NextOffset: 310, Size: 100, MaxTimestamp: 4},
	}
	st := State{Now: now, Policy: Policy{RemoteEnabled: true, RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: 0, LocalRetentionBytes: -1},
		Local: segs, HighWatermark: 310, RemoteStart: 0, RemoteEnd: 180, RemoteBytes: 1800}
	p := PlanPartition(st)
	if p.Upload == nil || p.Upload.BaseOffset != 100 || p.UploadFrom != 180 {
		t.Fatalf("upload %+v from %d, want segment 100 from 180", p.Upload, p.UploadFrom)
	}
	if p.DeleteLocalBefore != 100 {
		t.Fatalf("delete local before %d, want 100 (only [0, 100) is wholly remote)", p.DeleteLocalBefore)
	}
	st.RemoteEnd = 300
	st.HighWatermark = 200
	if p := PlanPartition(st); p.DeleteLocalBefore != 100 || p.Upload != nil {
		t.Fatalf("with the high watermark at 200: delete before %d, upload %+v; want 100 and none", p.DeleteLocalBefore, p.Upload)
	}
	st.HighWatermark = 310
	if p := PlanPartition(st); p.DeleteLocalBefore != 300 || p.Upload != nil {
		t.Fatalf("all sealed segments remote: delete before %d, upload %+v; want 300 and none", p.DeleteLocalBefore, p.Upload)
	}
}

// TestManifestResetAndCompact: Reset and compaction rewrite the local
// manifest atomically, and what they leave reopens the same.
func TestManifestResetAndCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), manifestName)
	m, err := openManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { m.Close() }()
	const n = 4200
	for i := int64(0); i < n; i++ {
		if err := m.Append(Segment{BaseOffset: i * 10, NextOffset: i*10 + 10, Size: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.DropHead(4100); err != nil { // past 4096 and half the file: compacts
		t.Fatal(err)
	}
	check := func(what string, m *manifest, count, start, end int64) {
		t.Helper()
		s, e, b, ok := m.Bounds()
		if m.Len() != count || !ok || s != start || e != end || b != count*100 {
			t.Fatalf("%s: %d segments [%d, %d) %d bytes, want %d [%d, %d)", what, m.Len(), s, e, b, count, start, end)
		}
	}
	check("compacted", m, 100, 41000, 42000)
	m.Close()
	if m, err = openManifest(path); err != nil {
		t.Fatal(err)
	}
	check("compacted, reopened", m, 100, 41000, 42000)
	if err := m.Reset([]Segment{{BaseOffset: 5, NextOffset: 9, Size: 100}, {BaseOffset: 9, NextOffset: 20, Size: 100}}); err != nil {
		t.Fatal(err)
	}
	check("reset", m, 2, 5, 20)
	if err := m.Append(Segment{BaseOffset: 20, NextOffset: 30, Size: 100}); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if m, err = openManifest(path); err != nil {
		t.Fatal(err)
	}
	check("reset, appended, reopened", m, 3, 5, 30)
	if err := m.Reset([]Segment{{BaseOffset: 5, NextOffset: 9}, {BaseOffset: 8, NextOffset: 20}}); err == nil {
		t.Fatal("Reset took overlapping segments")
	}
}
