package storage

import (
	"errors"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/record"
)

func TestSyncerConcurrent(t *testing.T) {
	var logs []*Log
	for i := 0; i < 4; i++ {
		logs = append(logs, openLog(t, t.TempDir(), testConfig()))
	}
	s := NewSyncer(testLogger())
	var requests atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := logs[g%len(logs)]
			for i := 0; i < 40; i++ {
				b, h := mkBatch(t, record.CodecNone, 2, 100, t0.UnixMilli())
				// The caller serialises appends per partition.
				info, err := appendLocked(l, b, h)
				if err != nil {
					t.Error(err)
					return
				}
				upTo := info.LastOffset + 1
				done := make(chan error, 1)
				requests.Add(1)
				s.Sync(l, upTo, func(err error) {
					if err == nil && l.SyncedOffset() < upTo {
						err = errors.New("completed before durable")
					}
					done <- err
				})
				if err := <-done; err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := s.Stats()
	t.Logf("%d requests, %d passes, %d fsyncs", requests.Load(), st.Passes, st.Syncs)
	if st.Syncs > requests.Load() || st.Passes == 0 {
		t.Fatalf("stats %+v for %d requests", st, requests.Load())
	}
	// Already durable: completes at once.
	called := false
	s.Sync(logs[0], 1, func(err error) { called = err == nil })
	if !called {
		t.Fatal("durable offset not completed synchronously")
	}
	s.Close()
	s.Close()
	var closedErr error
	s.Sync(logs[0], logs[0].EndOffset()+10, func(err error) { closedErr = err })
	if !errors.Is(closedErr, ErrClosed) {
		t.Fatalf("after Close: %v", closedErr)
	}
	for _, l := range logs {
		l.Close()
	}
}

var appendLocks sync.Map // *Log -> *sync.Mutex: the per-partition serialisation a broker does

func appendLocked(l *Log, b []byte, h []record.Header) (AppendInfo, error) {
	mu, _ := appendLocks.LoadOrStore(l, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	return l.Append(b, h, 0, -1)
}

// TestReadsDuringAppendsAndDeletes runs readers against a log being
// appended to, rolled and trimmed; every read must return whole, valid,
// contiguous batches or ErrOffsetOutOfRange.
func TestReadsDuringAppendsAndDeletes(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(r)))
			for {
				select {
				case <-stop:
					return
				default:
				}
				start, end := l.StartOffset(), l.EndOffset()
				off := start + rng.Int63n(end-start+1)
				res, err := l.Read(off, rng.Intn(8000), end)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				b, err := res.Bytes()
				res.Release()
				if err != nil {
					t.Error(err)
					return
				}
				hdrs, err := splitBatches(b)
				if err != nil {
					t.Errorf("read %d: %v", off, err)
					return
				}
				if len(hdrs) > 0 && (hdrs[0].BaseOffset > off || hdrs[0].LastOffset() < off) {
					t.Errorf("read %d starts at batch %d-%d", off, hdrs[0].BaseOffset, hdrs[0].LastOffset())
					return
				}
				if off < end && len(hdrs) == 0 {
					t.Errorf("read %d of [%d,%d) returned nothing", off, start, end)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if err := l.Sync(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := 0; i < 1500; i++ {
		appendN(t, l, 1+i%4, 50, t0.UnixMilli())
		if i%200 == 199 {
			if err := l.DeleteRecordsBefore(l.EndOffset() - 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}
