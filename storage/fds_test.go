package storage

import (
	"bytes"
	"context"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratalog/strata/record"
)

// fdCount is the number of descriptors this process holds.
func fdCount(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// manySegments appends n small segments (one batch each, rolled) and
// returns each segment's stored bytes by base offset.
func manySegments(t testing.TB, l *Log, n int) map[int64][]byte {
	t.Helper()
	out := map[int64][]byte{}
	for i := 0; i < n; i++ {
		b, hdrs := mkBatch(t, record.CodecNone, 1+i%3, 30+i%50, t0.UnixMilli()+int64(i)*1000)
		info, err := l.Append(b, hdrs, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		out[info.FirstOffset] = append([]byte(nil), b...)
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readEverySegment reads each segment's batch in random order and checks
// the bytes exactly.
func readEverySegment(t *testing.T, l *Log, want map[int64][]byte, seed int64) {
	t.Helper()
	bases := make([]int64, 0, len(want))
	for b := range want {
		bases = append(bases, b)
	}
	rand.New(rand.NewSource(seed)).Shuffle(len(bases), func(i, j int) { bases[i], bases[j] = bases[j], bases[i] })
	for _, b := range bases {
		res, err := l.Read(b, 1, l.EndOffset())
		if err != nil {
			t.Fatalf("read %d: %v", b, err)
		}
		got, err := res.Bytes()
		res.Release()
		if err != nil || !bytes.Equal(got, want[b]) {
			t.Fatalf("read %d: %d bytes (%v), want %d exact bytes", b, len(got), err, len(want[b]))
		}
	}
}

const fdBound = maxOpenSealed + 3

func checkBound(t *testing.T, l *Log, before int) {
	t.Helper()
	if n := l.OpenFiles(); n > fdBound {
		t.Fatalf("log holds %d files open, bound %d", n, fdBound)
	}
	if n := fdCount(t) - before; n > fdBound {
		t.Fatalf("process holds %d more descriptors than before the log, bound %d", n, fdBound)
	}
}

func TestOpenFilesBoundedWithManySegments(t *testing.T) {
	dir := t.TempDir()
	before := fdCount(t)
	l := openLog(t, dir, testConfig())
	want := manySegments(t, l, 200)
	if got := len(l.Segments()); got != 201 {
		t.Fatalf("%d segments", got)
	}
	checkBound(t, l, before)
	if n := l.OpenFiles(); n != 3 {
		t.Fatalf("after sync, no reads: %d open files, want the active segment's 3", n)
	}
	readEverySegment(t, l, want, 1)
	checkBound(t, l, before)
	if ts, _ := l.MaxTimestamp(); ts < 0 {
		t.Fatal("no max timestamp")
	}
	if off, _, found, err := l.OffsetForTimestamp(t0.UnixMilli() + 100*1000); err != nil || !found || off <= 0 {
		t.Fatalf("offset for timestamp: %d %v %v", off, found, err)
	}
	for _, s := range l.Segments()[:10] {
		if err := l.VerifySegment(context.Background(), s.BaseOffset, nil); err != nil {
			t.Fatal(err)
		}
	}
	checkBound(t, l, before)

	// Clean stop and reopen.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fdCount(t) - before; n > 0 {
		t.Fatalf("%d descriptors left after Close", n)
	}
	l = openLog(t, dir, testConfig())
	checkBound(t, l, before)
	readEverySegment(t, l, want, 2)
	checkBound(t, l, before)

	// Unclean stop: a copy of the files of a running log.
	crashed := restoreDir(t, snapshotDir(t, dir))
	l.Close()
	before = fdCount(t)
	l2 := openLog(t, crashed, testConfig())
	defer l2.Close()
	checkBound(t, l2, before)
	readEverySegment(t, l2, want, 3)
	checkBound(t, l2, before)
	if u := l2.Unverified(); len(u) == 0 {
		t.Log("no unverified segments after the unclean open")
	}
}

// A reader holding a segment keeps it open past the bound; its release
// closes it again.
func TestHeldReadsKeepFilesUntilRelease(t *testing.T) {
	before := fdCount(t)
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	want := manySegments(t, l, 40)
	var held []*ReadResult
	for b := range want {
		res, err := l.Read(b, 1, l.EndOffset())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, res)
	}
	if n := l.OpenFiles(); n != 3+len(held) {
		t.Fatalf("%d open with %d reads held", n, len(held))
	}
	for _, r := range held {
		r.Release()
	}
	checkBound(t, l, before)
}

// Readers running while retention deletes segments whose files are closed
// get their bytes or ErrOffsetOutOfRange, never a failure; held results
// stay readable after their segments are deleted.
func TestConcurrentReadsDuringRetentionWithClosedFiles(t *testing.T) {
	before := fdCount(t)
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	want := manySegments(t, l, 200)
	var held []*ReadResult
	for _, b := range []int64{0, 50, 150} {
		for off := range want {
			if off >= b && off < b+20 {
				res, err := l.Read(off, 1, l.EndOffset())
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, res)
				break
			}
		}
	}
	stop := make(chan struct{})
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(r)))
			bases := make([]int64, 0, len(want))
			for b := range want {
				bases = append(bases, b)
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				b := bases[rng.Intn(len(bases))]
				res, err := l.Read(b, 1, l.EndOffset())
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				time.Sleep(time.Duration(rng.Intn(100)) * time.Microsecond)
				got, err := res.Bytes()
				res.Release()
				if err != nil || !bytes.Equal(got, want[b]) {
					errc <- errors.Join(errors.New("read changed under retention"), err)
					return
				}
			}
		}()
	}
	cfg := testConfig()
	next := int64(0)
	for i := 0; i < 10; i++ {
		next += 20
		var b int64
		for base := range want {
			if base <= next && base > b {
				b = base
			}
		}
		if err := l.DeleteRecordsBefore(b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	cfg.RetentionBytes = 0
	l.SetConfig(cfg)
	if _, err := l.ApplyRetention(time.Now()); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for _, r := range held {
		got, err := r.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		h, _ := record.ParseHeader(got)
		if !bytes.Equal(got, want[h.BaseOffset]) {
			t.Fatalf("held read of deleted segment %d changed", h.BaseOffset)
		}
		r.Release()
	}
	if len(l.Segments()) != 1 {
		t.Fatalf("%d segments after retention", len(l.Segments()))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fdCount(t) - before; n > 0 {
		t.Fatalf("%d descriptors left after retention and Close", n)
	}
}

// ReplaceSegment of a segment whose file the cache closed: a reader that
// held the old segment reads the old file, and later reads the copy.
func TestReplaceSegmentWithClosedFile(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	defer l.Close()
	want := manySegments(t, l, 30)
	victim := l.Segments()[5]
	held, err := l.Read(victim.BaseOffset, 1, l.EndOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	readEverySegment(t, l, want, 4) // pushes the victim out of the cache
	good, _ := os.ReadFile(victim.Path)
	flipByte(t, victim.Path, victim.Size-10)
	if err := l.VerifySegment(context.Background(), victim.BaseOffset, nil); !errors.Is(err, ErrCorruptSegment) {
		t.Fatalf("verify: %v", err)
	}
	heal := filepath.Join(dir, "heal")
	if err := os.WriteFile(heal, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.ReplaceSegment(victim.BaseOffset, heal); err != nil {
		t.Fatal(err)
	}
	if n := l.OpenFiles(); n > fdBound+1 {
		t.Fatalf("%d open after replace", n)
	}
	readEverySegment(t, l, want, 5)
	if err := l.VerifySegment(context.Background(), victim.BaseOffset, nil); err != nil {
		t.Fatal(err)
	}
}

// Rewriting a settled segment's indexes opens them by path.
func TestIndexRewriteOfSettledSegment(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	infos := fill(t, l, 120)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.mu.RLock()
	s := l.segs[1]
	l.mu.RUnlock()
	if f := s.files(); f[1] != nil || f[2] != nil {
		t.Fatal("settled segment keeps its index files open")
	}
	idx, _ := os.ReadFile(s.path(indexSuffix))
	os.WriteFile(s.path(indexSuffix), []byte("junk"), 0o644)
	if _, err := s.writeIndexes(s.offsets, s.times); err != nil {
		t.Fatal(err)
	}
	s.settle()
	if got, _ := os.ReadFile(s.path(indexSuffix)); !bytes.Equal(got, idx) {
		t.Fatal("index not rewritten")
	}
	if f := s.files(); f[1] != nil || f[2] != nil {
		t.Fatal("index files left open after the rewrite")
	}
	// A missing index of a sealed segment is rebuilt at open.
	l.Close()
	os.Remove(s.path(timeIndexSuffix))
	l = openLog(t, dir, testConfig())
	defer l.Close()
	checkEveryOffset(t, l, infos)
	if n := l.OpenFiles(); n > fdBound {
		t.Fatalf("%d open", n)
	}
}

// A lazy open that fails with EMFILE is a storage error.
func TestLazyOpenEMFILEIsStorageError(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	manySegments(t, l, 5)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	low := lim
	low.Cur = uint64(fdCount(t) + 8)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skip(err)
	}
	var fill []*os.File
	defer func() {
		for _, f := range fill {
			f.Close()
		}
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		fill = append(fill, f)
	}
	_, err := l.Read(0, 1, l.EndOffset())
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("read with no descriptors left: %v", err)
	}
	if _, _, _, err := l.OffsetForTimestamp(0); !errors.Is(err, ErrStorage) {
		t.Fatalf("offset for timestamp: %v", err)
	}
	for _, f := range fill {
		f.Close()
	}
	fill = nil
	if _, err := l.Read(0, 1, l.EndOffset()); err != nil {
		t.Fatalf("read after descriptors freed: %v", err)
	}
}

// TestFileDescriptorsManyPartitions measures the descriptors held by 2,000
// logs of 4 segments each (3 sealed): after writing, after a clean reopen,
// and after reading every segment once. STRATA_FD_MEASURE=1 runs it.
func TestFileDescriptorsManyPartitions(t *testing.T) {
	if os.Getenv("STRATA_FD_MEASURE") == "" {
		t.Skip("set STRATA_FD_MEASURE=1 (opens 2,000 logs)")
	}
	const parts, segs = 2000, 4
	root := t.TempDir()
	before := fdCount(t)
	logs := make([]*Log, parts)
	for i := range logs {
		logs[i] = openLog(t, filepath.Join(root, "p"+segmentName(int64(i))), testConfig())
		for j := 0; j < segs; j++ {
			appendN(t, logs[i], 3, 50, t0.UnixMilli())
			if j < segs-1 {
				if err := logs[i].Roll(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := logs[i].Sync(); err != nil {
			t.Fatal(err)
		}
	}
	written := fdCount(t) - before
	for _, l := range logs {
		l.Close()
	}
	for i := range logs {
		logs[i] = openLog(t, filepath.Join(root, "p"+segmentName(int64(i))), testConfig())
	}
	reopened := fdCount(t) - before
	for _, l := range logs {
		for _, s := range l.Segments() {
			res, err := l.Read(s.BaseOffset, 1<<20, l.EndOffset())
			if err != nil {
				t.Fatal(err)
			}
			res.Release()
		}
	}
	read := fdCount(t) - before
	for _, l := range logs {
		l.Close()
	}
	t.Logf("%d partitions x %d segments: descriptors after writing %d, after a clean reopen %d, after reading every segment %d",
		parts, segs, written, reopened, read)
}
