package tiering

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/faultstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/objectstore/testservers"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/record/recordtest"
	"github.com/stratalog/strata/storage"
)

// testSegmentBytes returns n batches as stored from offset base (offsets
// assigned), and the offset after them.
func testSegmentBytes(t *testing.T, base int64, n int) ([]byte, int64) {
	t.Helper()
	var out []byte
	off := base
	for i := 0; i < n; i++ {
		b := recordtest.Batch(recordtest.Options{FirstTimestamp: int64(1000 + i)}, recordtest.Records(5, 50, 1))
		h, err := record.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		record.SetBaseOffset(b, off)
		off = off + int64(h.LastOffsetDelta) + 1
		out = append(out, b...)
	}
	return out, off
}

// The verifying reader passes a good segment through byte-exact in any
// read pattern and rejects every kind of bad batch.
func TestBatchVerifier(t *testing.T) {
	seg, next := testSegmentBytes(t, 100, 8)
	for name, r := range map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	} {
		got, err := io.ReadAll(newBatchVerifier(r(bytes.NewReader(seg)), 100, next, int64(len(seg)), false))
		if err != nil || !bytes.Equal(got, seg) {
			t.Fatalf("%s: good segment: %d bytes, %v", name, len(got), err)
		}
	}
	h, _ := record.ParseHeader(seg)
	second := h.Size()
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), seg...)) }
	for _, tc := range []struct {
		name string
		b    []byte
		next int64
	}{
		{"flipped body byte", mutate(func(b []byte) []byte { b[second+70] ^= 0x01; return b }), next},
		{"flipped attribute (crc-covered header)", mutate(func(b []byte) []byte { b[second+22] ^= 0x40; return b }), next},
		{"bad magic", mutate(func(b []byte) []byte { b[second+16] = 7; return b }), next},
		{"length past the end", mutate(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[second+8:], uint32(len(b)))
			return b
		}), next},
		{"length below a header", mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[second+8:], 10); return b }), next},
		{"offset gap", mutate(func(b []byte) []byte { record.SetBaseOffset(b[second:], 106); return b }), next},
		{"offset overlap", mutate(func(b []byte) []byte { record.SetBaseOffset(b[second:], 100); return b }), next},
		{"truncated mid-batch", seg[:len(seg)-7], next},
		{"truncated at a batch end", seg[:second], next},
		{"ends before the next offset", seg, next + 1},
		{"runs past the next offset", seg, next - 1},
		{"trailing garbage", append(append([]byte(nil), seg...), 0, 0, 0), next},
	} {
		v := newBatchVerifier(bytes.NewReader(tc.b), 100, tc.next, int64(len(seg)), false)
		_, err := io.Copy(io.Discard, v)
		if !errors.Is(err, ErrCorruptLocal) {
			t.Errorf("%s: got %v, want ErrCorruptLocal", tc.name, err)
		}
		if tc.next == next && len(tc.b) == len(seg) {
			if err := verifyBatches(tc.b, 100, tc.next, false); !errors.Is(err, ErrCorruptLocal) {
				t.Errorf("%s: verifyBatches: %v", tc.name, err)
			}
		}
	}
}

// The summer's chunk checksums are those of each ChunkBytes range.
func TestSummerChunks(t *testing.T) {
	b := make([]byte, 300)
	for i := range b {
		b[i] = byte(i * 7)
	}
	s := newSummer(iotest.OneByteReader(bytes.NewReader(b)), [4]int64{100, 50, 50, 100}, 64)
	if _, err := io.Copy(io.Discard, s); err != nil {
		t.Fatal(err)
	}
	c := s.result()
	if len(c.Chunks) != 5 {
		t.Fatalf("%d chunks, want 5", len(c.Chunks))
	}
	for i, want := range c.Chunks {
		end := min(300, (i+1)*64)
		if got := crc32c(b[i*64 : end]); got != want {
			t.Fatalf("chunk %d: %08x, want %08x", i, got, want)
		}
	}
	if c.Log != crc32c(b[:100]) || c.Index != crc32c(b[100:150]) || c.Snapshot != crc32c(b[200:]) {
		t.Fatal("part checksums wrong")
	}
	if sums, step, ok := c.chunkSums(128, 128, 300); !ok || step != 64 || len(sums) != 2 {
		t.Fatalf("chunkSums(128,128): %v %d %v", sums, step, ok)
	}
	if _, _, ok := c.chunkSums(256, 44, 300); !ok {
		t.Fatal("last partial chunk not covered")
	}
	if _, _, ok := c.chunkSums(32, 64, 300); ok {
		t.Fatal("misaligned range covered")
	}
}

// integrityRig is a partition on a real log tiered to a real file store
// whose objects the test can damage.
type integrityRig struct {
	t     *testing.T
	dir   string                  // the file store's directory
	file  func(key string) string // the file holding an object
	store objectstore.Store
	l     *storage.Log
	src   *testSource
	m     *Manager
	p     *Partition
	want  []byte
}

func newIntegrityRig(t *testing.T, localRetention int64, wrap func(objectstore.Store) objectstore.Store) *integrityRig {
	dir := t.TempDir()
	s, err := open.Open(context.Background(), "file://"+dir, open.Default())
	if err != nil {
		t.Fatal(err)
	}
	return newIntegrityRigOn(t, s, func(key string) string { return filepath.Join(dir, filepath.FromSlash(key)) }, localRetention, wrap)
}

// newIntegrityRigS3 tiers to versitygw over real S3 (objects are files of
// its posix backend).
func newIntegrityRigS3(t *testing.T, localRetention int64) *integrityRig {
	srv := testservers.StartVersityGW(t)
	bucket := srv.CreateBucket(t, "")
	srv.SetAWSEnv(t)
	u := fmt.Sprintf("s3://%s/strata?endpoint=%s&path_style=true&region=%s", bucket, url.QueryEscape(srv.Endpoint), srv.Region)
	s, err := open.Open(context.Background(), u, open.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return newIntegrityRigOn(t, s, func(key string) string { return filepath.Join(srv.Dir, bucket, "strata", filepath.FromSlash(key)) }, localRetention, nil)
}

func newIntegrityRigOn(t *testing.T, s objectstore.Store, file func(string) string, localRetention int64, wrap func(objectstore.Store) objectstore.Store) *integrityRig {
	ctx := context.Background()
	var err error
	r := &integrityRig{t: t, file: file}
	r.store = s
	if wrap != nil {
		r.store = wrap(s)
	}
	logDir := t.TempDir()
	r.l = openTestLog(t, logDir)
	r.src = &testSource{log: r.l}
	r.src.policy.Store(&Policy{RemoteEnabled: true, RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: -1, LocalRetentionBytes: localRetention})
	cfg := testConfig(t)
	cfg.UploadStallTimeout = 200 * time.Millisecond
	if r.m, err = New(cfg, r.store, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.m.Close() })
	if r.p, err = r.m.Attach(ctx, ID{Topic: "integrity", TopicID: [16]byte{9}, Partition: 0}, logDir, r.src); err != nil {
		t.Fatal(err)
	}
	return r
}

// produce appends batches, seals them and starts the manager.
func (r *integrityRig) produce(n int) {
	r.want = bytes.Join(appendBatches(r.t, r.l, n, 1_000_000), nil)
	if err := r.l.Roll(); err != nil {
		r.t.Fatal(err)
	}
	r.m.Start()
}

func (r *integrityRig) uploaded() {
	end := r.l.EndOffset()
	waitFor(r.t, "every sealed segment uploaded", func() bool { e, ok := r.p.RemoteEndOffset(); return ok && e == end })
}

// flipRemote flips one byte at off of the data object of the remote
// segment holding offset, in the file store's directory.
func (r *integrityRig) flipRemote(offset, off int64) Segment {
	seg, ok, err := r.p.man.Find(offset)
	if err != nil || !ok {
		r.t.Fatalf("no remote segment at %d: %v", offset, err)
	}
	flipFile(r.t, r.file(segmentKey(r.p.root, seg.BaseOffset, seg.UploadID)), off)
	return seg
}

func flipFile(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

func crc32c(b []byte) uint32 { return crc32.Update(0, castagnoli, b) }

// A local segment with a flipped byte is never uploaded: the store holds
// no object of it, the failure is counted, and uploads stop there.
func TestCorruptLocalSegmentNeverUploaded(t *testing.T) {
	r := newIntegrityRig(t, 1<<30, nil)
	appendBatches(t, r.l, 100, 1_000_000)
	if err := r.l.Roll(); err != nil {
		t.Fatal(err)
	}
	segs := r.l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	bad := segs[1]
	flipFile(t, bad.Path, bad.Size/2)
	r.m.Start()
	waitFor(t, "the first segment uploaded and the second refused", func() bool {
		e, ok := r.p.RemoteEndOffset()
		_, local := r.p.corruptCounts()
		return ok && e == bad.BaseOffset && local == 1
	})
	time.Sleep(200 * time.Millisecond)
	if e, _ := r.p.RemoteEndOffset(); e != bad.BaseOffset {
		t.Fatalf("remote end %d moved past the corrupt segment at %d", e, bad.BaseOffset)
	}
	page, err := r.store.List(context.Background(), objectstore.ListOptions{Prefix: r.p.root + "seg/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range page.Objects {
		if base, _, ok := parseSegmentKey(r.p.root, o.Key); ok && base == bad.BaseOffset {
			t.Fatalf("corrupt segment uploaded as %s", o.Key)
		}
	}
	if st := r.p.Status(); st.LocalCorruptSegments != 1 || !strings.Contains(st.LastError, "verification") {
		t.Fatalf("status %+v", st)
	}
	if d := r.l.Damaged(); len(d) != 1 || d[0].Base != bad.BaseOffset {
		t.Fatalf("the corrupt segment is not marked damaged: %+v", d)
	}
	// The store does not hold it, so it cannot be healed from there.
	if _, err := r.p.HealDamaged(context.Background()); !errors.Is(err, ErrNotCovered) {
		t.Fatalf("heal of a range the store lacks: %v", err)
	}
}

// A flipped byte in a remote object whose local copy is gone is found on
// the chunk fill, never served, and reported as lost.
func TestRemoteFlipNeverServed(t *testing.T) {
	t.Run("file", func(t *testing.T) { testRemoteFlipNeverServed(t, newIntegrityRig(t, 0, nil)) })
	t.Run("s3", func(t *testing.T) { testRemoteFlipNeverServed(t, newIntegrityRigS3(t, 0)) })
}

func testRemoteFlipNeverServed(t *testing.T, r *integrityRig) {
	r.produce(100)
	r.uploaded()
	waitFor(t, "local deletion", func() bool { return r.l.StartOffset() > 100 })
	seg := r.flipRemote(0, 200)
	for i := 0; i < 3; i++ {
		rr, err := r.p.Read(context.Background(), seg.BaseOffset, 1<<20)
		if err == nil {
			b, _ := rr.Bytes()
			rr.Release()
			t.Fatalf("read of a corrupt object served %d bytes", len(b))
		}
		if !errors.Is(err, ErrRemoteLost) {
			t.Fatalf("read %d: %v, want ErrRemoteLost", i, err)
		}
	}
	if st := r.p.Status(); st.CorruptSegments != 1 {
		t.Fatalf("status %+v", st)
	}
	// The other segments still read exactly.
	next, _, _ := r.p.man.Find(seg.NextOffset)
	got := readAll(t, r.p, r.l, next.BaseOffset)
	if !bytes.Equal(got, tailFrom(t, r.want, next.BaseOffset)) {
		t.Fatal("the intact segments read back wrong")
	}
}

// An object whose entry has no checksums (written before they were
// recorded) is still never served corrupt: each served batch's CRC is
// checked.
func TestRemoteFlipLegacyEntry(t *testing.T) {
	r := newIntegrityRig(t, 0, nil)
	r.produce(100)
	r.uploaded()
	waitFor(t, "local deletion", func() bool { return r.l.StartOffset() > 100 })
	seg, _, _ := r.p.man.Find(0)
	// Rewrite the entry the way older brokers wrote it.
	e, err := r.p.fetchEntry(context.Background(), seg.BaseOffset)
	if err != nil {
		t.Fatal(err)
	}
	e.Checksums = nil
	b, _ := encodeEntry(e)
	if _, err := r.store.Put(context.Background(), manifestKey(r.p.root, seg.BaseOffset), bytes.NewReader(b), int64(len(b)), objectstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r.m.entries = newEntryCache(16)
	if got := readAll(t, r.p, r.l, 0); !bytes.Equal(got, r.want) {
		t.Fatal("legacy entry read back wrong")
	}
	r.m.cache.dropObject(segmentKey(r.p.root, seg.BaseOffset, seg.UploadID))
	r.flipRemote(0, 300)
	if _, err := r.p.Read(context.Background(), 0, 1<<20); !errors.Is(err, ErrRemoteLost) {
		t.Fatalf("legacy corrupt read: %v", err)
	}
}

// A flipped byte in a remote object whose local copy is still intact is
// repaired by a re-upload; the repaired object serves the exact bytes and
// a broker rebuilding its manifest from the store picks the repair.
func TestRemoteFlipRepairedFromLocal(t *testing.T) {
	t.Run("file", func(t *testing.T) { testRemoteFlipRepaired(t, newIntegrityRig(t, 1<<30, nil)) })
	t.Run("s3", func(t *testing.T) { testRemoteFlipRepaired(t, newIntegrityRigS3(t, 1<<30)) })
}

func testRemoteFlipRepaired(t *testing.T, r *integrityRig) {
	ctx := context.Background()
	r.produce(100)
	r.uploaded()
	seg := r.flipRemote(0, 500)
	if _, err := r.p.VerifyRemote(ctx, seg); !errors.Is(err, ErrRemoteRead) {
		t.Fatalf("verify of a corrupt object: %v", err)
	}
	waitFor(t, "repair", func() bool {
		s, _, _ := r.p.man.Find(0)
		return s.UploadID != seg.UploadID
	})
	repaired, _, _ := r.p.man.Find(0)
	if n, err := r.p.VerifyRemote(ctx, repaired); err != nil || n != repaired.ObjectSize() {
		t.Fatalf("verify repaired: %d %v", n, err)
	}
	rr, err := r.p.Read(ctx, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := rr.Bytes()
	rr.Release()
	if !bytes.Equal(got, r.want[:len(got)]) || int64(len(got)) != seg.Size {
		t.Fatalf("repaired object serves %d bytes, want %d identical", len(got), seg.Size)
	}
	if st := r.p.Status(); st.CorruptSegments != 0 {
		t.Fatalf("status after repair %+v", st)
	}
	// A fresh broker reading the store's manifest takes the repaired entry.
	m2, err := New(testConfig(t), r.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	dir2 := t.TempDir()
	l2 := openTestLog(t, dir2)
	src2 := &testSource{log: l2}
	src2.policy.Store(r.src.policy.Load())
	p2, err := m2.Attach(ctx, r.p.id, dir2, src2)
	if err != nil {
		t.Fatal(err)
	}
	s2, _, _ := p2.man.Find(0)
	if s2.UploadID != repaired.UploadID {
		t.Fatal("rebuilt manifest does not point at the repaired object")
	}
	end, _ := p2.RemoteEndOffset()
	if got := readAll(t, p2, l2, 0); !bytes.Equal(got, r.want[:len(got)]) || len(got) == 0 || l2.EndOffset() != end {
		t.Fatal("restored broker reads the repaired segment wrong")
	}
}

// A store that takes no bytes makes the upload show as stalled long
// before its timeout, and clears when bytes move again.
func TestUploadStallDetected(t *testing.T) {
	var fs *faultstore.Store
	r := newIntegrityRig(t, 1<<30, func(s objectstore.Store) objectstore.Store {
		fs = faultstore.New(s, faultstore.Config{Faults: map[string]faultstore.Fault{faultstore.OpPut: {Latency: time.Hour}}})
		return fs
	})
	r.produce(40)
	waitFor(t, "stall reported", func() bool { return r.p.Status().UploadStalledSeconds > 0 })
	st := r.p.Status()
	if !st.UploadFailing() || st.LastError != "" {
		t.Fatalf("stalled status %+v", st)
	}
	fs.SetConfig(faultstore.Config{})
	// The hung call ends at its timeout; shorten the wait by closing it.
	r.m.cancel()
	r.m.wg.Wait()
	if st := r.p.Status(); st.UploadStalledSeconds != 0 {
		t.Fatalf("stall not cleared after the upload ended: %+v", st)
	}
}

// A damaged local segment that is also remote is healed from the store:
// the local file's bytes equal the original again and reads serve it.
func TestHealDamagedLocalSegment(t *testing.T) {
	ctx := context.Background()
	r := newIntegrityRig(t, 1<<30, nil)
	r.produce(100)
	r.uploaded()
	seg := r.l.Segments()[1]
	orig, err := os.ReadFile(seg.Path)
	if err != nil {
		t.Fatal(err)
	}
	flipFile(t, seg.Path, seg.Size/3)
	if err := r.l.VerifySegment(ctx, seg.BaseOffset, nil); !errors.Is(err, storage.ErrCorruptSegment) {
		t.Fatalf("verify of a flipped segment: %v", err)
	}
	d := r.l.Damaged()
	if len(d) != 1 || d[0].Base != seg.BaseOffset {
		t.Fatalf("damage %+v", d)
	}
	if _, err := r.l.Read(d[0].ValidEnd, 1<<20, r.l.EndOffset()); !errors.Is(err, storage.ErrCorruptSegment) {
		t.Fatalf("local read of the damaged range: %v", err)
	}
	if !r.p.Covers(seg.BaseOffset) {
		t.Fatal("the remote log does not cover the damaged range")
	}
	// Until healed, the range reads exactly from the cold tier.
	rr, err := r.p.Read(ctx, seg.BaseOffset, int(seg.Size))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rr.Bytes()
	rr.Release()
	if !bytes.Equal(b, orig[:len(b)]) || len(b) == 0 {
		t.Fatal("cold read of the damaged range differs from the original")
	}
	n, err := r.p.HealDamaged(ctx)
	if err != nil || n != 1 {
		t.Fatalf("healed %d: %v", n, err)
	}
	if d := r.l.Damaged(); len(d) != 0 {
		t.Fatalf("still damaged: %+v", d)
	}
	got, err := os.ReadFile(seg.Path)
	if err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("healed file differs from the original (%d bytes, %v)", len(got), err)
	}
	if got := readAll(t, r.p, r.l, 0); !bytes.Equal(got, r.want) {
		t.Fatal("log reads back wrong after healing")
	}
}
