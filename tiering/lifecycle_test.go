package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/faultstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/objectstore/testservers"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/record/recordtest"
	"github.com/stratalog/strata/storage"
)

// testSource is a partition backed by a real storage.Log.
type testSource struct {
	log    *storage.Log
	policy atomic.Pointer[Policy]
}

func (s *testSource) Log() LocalLog        { return s.log }
func (s *testSource) HighWatermark() int64 { return s.log.EndOffset() }
func (s *testSource) Policy() Policy       { return *s.policy.Load() }
func (s *testSource) LeaderEpoch() int32   { return 3 }
func (s *testSource) IsLeader() bool       { return true }

func openTestLog(t *testing.T, dir string) *storage.Log {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.IndexIntervalBytes = 1024
	l, err := storage.Open(dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// appendBatches appends n batches of 10 records each and returns their
// bytes as stored (offsets assigned), in order.
func appendBatches(t *testing.T, l *storage.Log, n int, firstTs int64) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := recordtest.Batch(recordtest.Options{FirstTimestamp: firstTs + int64(i)*10}, recordtest.Records(10, 100, 1))
		hdrs, err := record.Validate(b, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(b, hdrs, 3, -1); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	return out
}

func testConfig(t *testing.T) Config {
	cfg := Default()
	cfg.CacheDir = filepath.Join(t.TempDir(), "cache")
	cfg.ChunkBytes = 64 << 10
	cfg.CacheBytes = 1 << 20
	cfg.Interval = 10 * time.Millisecond
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.MaxRetryBackoff = 100 * time.Millisecond
	cfg.GCInterval = 50 * time.Millisecond
	cfg.OrphanGrace = time.Hour
	return cfg
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readAll reads the whole log from offset 0 through the tiers the way the
// broker does (remote below the local start, local above) and returns the
// batch bytes.
func readAll(t *testing.T, p *Partition, l *storage.Log, from int64) []byte {
	t.Helper()
	var out []byte
	off := from
	for off < l.EndOffset() {
		var rr *storage.ReadResult
		var err error
		if off < l.StartOffset() {
			rr, err = p.Read(context.Background(), off, 20000)
		} else {
			rr, err = l.Read(off, 20000, l.EndOffset())
		}
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		b, err := rr.Bytes()
		rr.Release()
		if err != nil || len(b) == 0 {
			t.Fatalf("read at %d: %d bytes, %v", off, len(b), err)
		}
		out = append(out, b...)
		for len(b) > 0 {
			h, err := record.ParseHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return out
}

func runLifecycle(t *testing.T, store objectstore.Store) {
	ctx := context.Background()
	dir := t.TempDir()
	l := openTestLog(t, dir)
	src := &testSource{log: l}
	src.policy.Store(&Policy{RemoteEnabled: true, RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: -1, LocalRetentionBytes: 40 << 10})
	m, err := New(testConfig(t), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	id := ID{Topic: "events", TopicID: [16]byte{1, 2, 3}, Partition: 0}
	p, err := m.Attach(ctx, id, dir, src)
	if err != nil {
		t.Fatal(err)
	}
	m.Start()

	// Roll -> upload -> local delete.
	batches := appendBatches(t, l, 200, 1_000_000)
	want := bytes.Join(batches, nil)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	end := l.EndOffset()
	waitFor(t, "every sealed segment uploaded", func() bool { e, ok := p.RemoteEndOffset(); return ok && e == end })
	waitFor(t, "local deletion", func() bool { return l.Size() <= 40<<10+16<<10 })
	if p.LogStartOffset() != 0 || l.StartOffset() == 0 {
		t.Fatalf("log start %d, local start %d: want 0 and > 0", p.LogStartOffset(), l.StartOffset())
	}

	// Cold fetch: byte-identical across tiers.
	if got := readAll(t, p, l, 0); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, want %d identical", len(got), len(want))
	}
	// A fetch in the middle of a batch starts with that batch.
	rr, err := p.Read(ctx, 15, 1)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := rr.Bytes(); !bytes.Equal(b, batches[1]) {
		t.Fatalf("read at 15 did not return batch 1")
	}
	rr.Release()
	if _, err := p.Read(ctx, end+5, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past the remote end: %v", err)
	}

	// Timestamps across tiers: batch i's records have timestamps
	// 1_000_000 + 10*i + j.
	off, ts, found, err := p.OffsetForTimestamp(ctx, 1_000_000+10*50+3)
	if err != nil || !found || off != 503 || ts != 1_000_503 {
		t.Fatalf("offset for timestamp: %d %d %v %v, want 503", off, ts, found, err)
	}

	// Remote retention by bytes moves the log start and deletes objects.
	src.policy.Store(&Policy{RemoteEnabled: true, RetentionMs: -1, RetentionBytes: 100 << 10, LocalRetentionMs: -1, LocalRetentionBytes: 40 << 10})
	waitFor(t, "remote retention", func() bool { return p.LogStartOffset() > 0 })
	st := p.Status()
	if st.RemoteBytes > 100<<10+16<<10 {
		t.Fatalf("after retention: %+v", st)
	}
	if _, err := p.Read(ctx, 0, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v", err)
	}
	waitFor(t, "deleted objects gone", func() bool {
		page, err := store.List(ctx, objectstore.ListOptions{Prefix: p.root + "manifest/"})
		return err == nil && int64(len(page.Objects)) == p.man.Len()
	})
	start := p.LogStartOffset()
	wantTail := tailFrom(t, want, start)
	if got := readAll(t, p, l, start); !bytes.Equal(got, wantTail) {
		t.Fatalf("after retention read back %d bytes, want %d", len(got), len(wantTail))
	}

	// Recovery: a broker with an empty data directory serves the remote
	// range again from the manifest in the store.
	m2, err := New(testConfig(t), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	dir2 := t.TempDir()
	l2 := openTestLog(t, dir2)
	src2 := &testSource{log: l2}
	src2.policy.Store(src.policy.Load())
	p2, err := m2.Attach(ctx, id, dir2, src2)
	if err != nil {
		t.Fatal(err)
	}
	remoteEnd, _ := p.RemoteEndOffset()
	if l2.EndOffset() != remoteEnd || p2.LogStartOffset() != start {
		t.Fatalf("restored log: end %d (want %d), start %d (want %d)", l2.EndOffset(), remoteEnd, p2.LogStartOffset(), start)
	}
	if got := readAll(t, p2, l2, start); !bytes.Equal(got, tailFrom(t, want, start)[:len(got)]) || len(got) == 0 {
		t.Fatalf("restored read back %d bytes", len(got))
	}
}

// tailFrom cuts the batches from the one holding offset.
func tailFrom(t *testing.T, all []byte, offset int64) []byte {
	b := all
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.LastOffset() >= offset {
			return b
		}
		b = b[h.Size():]
	}
	return nil
}

func TestLifecycleFileStore(t *testing.T) {
	s, err := open.Open(context.Background(), "file://"+t.TempDir(), open.Default())
	if err != nil {
		t.Fatal(err)
	}
	runLifecycle(t, s)
}

func TestLifecycleS3(t *testing.T) {
	srv := testservers.StartVersityGW(t)
	bucket := srv.CreateBucket(t, "")
	srv.SetAWSEnv(t)
	u := fmt.Sprintf("s3://%s/strata?endpoint=%s&path_style=true&region=%s", bucket, url.QueryEscape(srv.Endpoint), srv.Region)
	s, err := open.Open(context.Background(), u, open.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runLifecycle(t, s)
}

// TestFaultsNeverLoseOrCorrupt runs uploads and cold reads through error
// storms and throttling: uploads are retried, local data stays until
// committed, and reads either fail retriably or return the exact bytes.
func TestFaultsNeverLoseOrCorrupt(t *testing.T) {
	ctx := context.Background()
	inner, err := open.Open(ctx, "file://"+t.TempDir(), open.Options{Retry: objectstore.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	fs := faultstore.New(inner, faultstore.Config{Seed: 7, Faults: map[string]faultstore.Fault{
		faultstore.OpPut: {Rate: 0.5},
		faultstore.OpGet: {Rate: 0.3, Class: objectstore.ErrThrottled},
	}, FailPutAfterBytes: 0})
	dir := t.TempDir()
	l := openTestLog(t, dir)
	src := &testSource{log: l}
	src.policy.Store(&Policy{RemoteEnabled: true, RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: -1, LocalRetentionBytes: 0})
	m, err := New(testConfig(t), fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := m.Attach(ctx, ID{Topic: "f", Partition: 1}, dir, src)
	if err != nil {
		t.Fatal(err)
	}
	// While every put fails, nothing is deleted locally.
	fs.SetConfig(faultstore.Config{Faults: map[string]faultstore.Fault{faultstore.OpPut: {Rate: 1}}})
	m.Start()
	batches := appendBatches(t, l, 150, 5_000)
	want := bytes.Join(batches, nil)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if l.StartOffset() != 0 || p.Status().LastError == "" || p.Status().PendingSegments == 0 {
		t.Fatalf("store down: local start %d, status %+v", l.StartOffset(), p.Status())
	}
	// An error storm: half the puts and a third of the gets fail.
	fs.SetConfig(faultstore.Config{Seed: 7, Faults: map[string]faultstore.Fault{
		faultstore.OpPut: {Rate: 0.5},
		faultstore.OpGet: {Rate: 0.3, Class: objectstore.ErrThrottled},
	}})
	end := l.EndOffset()
	waitFor(t, "uploads through the storm", func() bool { e, ok := p.RemoteEndOffset(); return ok && e == end })
	waitFor(t, "local deletion", func() bool { return l.StartOffset() > 0 })
	var got []byte
	off := int64(0)
	failures := 0
	for off < l.StartOffset() {
		rr, err := p.Read(ctx, off, 5000)
		if err != nil {
			if !errors.Is(err, ErrRemoteRead) || !objectstore.Retryable(err) {
				t.Fatalf("cold read error is not a retriable remote read: %v", err)
			}
			failures++
			continue
		}
		b, err := rr.Bytes()
		rr.Release()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
		for len(b) > 0 {
			h, _ := record.ParseHeader(b)
			off, b = h.NextOffset(), b[h.Size():]
		}
	}
	if !bytes.Equal(got, want[:len(got)]) {
		t.Fatal("cold reads through faults returned wrong bytes")
	}
	// Reads and prefetches share the faulty gets, so how many failures a
	// reader sees depends on timing; the store must have injected some.
	if fs.Injected(faultstore.OpGet) == 0 {
		t.Fatal("no get failed: the fault store did not inject")
	}
	t.Logf("%d cold reads failed retriably, %d gets injected", failures, fs.Injected(faultstore.OpGet))
	// No duplicate in the manifest: contiguous, increasing.
	prev := int64(0)
	if err := p.man.Scan(func(s Segment) bool {
		if s.BaseOffset != prev {
			t.Errorf("manifest segment at %d, want %d", s.BaseOffset, prev)
		}
		prev = s.NextOffset
		return true
	}); err != nil {
		t.Fatal(err)
	}
}
