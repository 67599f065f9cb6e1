package e2e

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/faultstore"
)

// lostReplyStore commits manifest entries but, some of the time, reports
// a transient failure afterwards: the reply of a successful commit is lost,
// so the uploader's retry finds its own entry already there.
type lostReplyStore struct {
	objectstore.Store
	mu   sync.Mutex
	rng  *rand.Rand
	rate float64
	lost int
}

func (s *lostReplyStore) Put(ctx context.Context, key string, r io.Reader, size int64, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	info, err := s.Store.Put(ctx, key, r, size, opts)
	if err != nil || !strings.Contains(key, "/manifest/") {
		return info, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rng.Float64() < s.rate {
		s.lost++
		return objectstore.ObjectInfo{}, &objectstore.Error{Backend: "test", Op: "put", Key: key, Class: objectstore.ErrTransient, Err: errors.New("reply lost after commit")}
	}
	return info, nil
}

func (s *lostReplyStore) lostReplies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// TestTieringFaultStormsThroughBroker runs a node whose object store fails
// and throttles: first a full outage while producing (local data is kept),
// then error storms on uploads (with lost commit replies) and on the cold
// reads of a franz-go consumer. Every record must arrive byte-exact, and
// the remote manifest must have no gap or overlap.
func TestTieringFaultStormsThroughBroker(t *testing.T) {
	dir := t.TempDir()
	var lost *lostReplyStore
	var fs *faultstore.Store
	fast := map[string]string{
		"remote.log.manager.task.interval.ms":          "100",
		"remote.log.manager.task.retry.backoff.ms":     "50",
		"remote.log.manager.task.retry.backoff.max.ms": "500",
	}
	n := startTierNode(t, dir, fast, func(s objectstore.Store) objectstore.Store {
		lost = &lostReplyStore{Store: s, rng: rand.New(rand.NewPCG(3, 4)), rate: 0.5}
		fs = faultstore.New(lost, faultstore.Config{})
		return fs
	})
	topic := "tier-faults"
	seg, local := "65536", "0"
	createTopic(t, n.KafkaAddr(), topic, 1, map[string]*string{"segment.bytes": &seg, "local.retention.bytes": &local})

	// The store is down: nothing is uploaded, nothing deleted locally.
	fs.SetConfig(faultstore.Config{Faults: map[string]faultstore.Fault{
		faultstore.OpPut: {Rate: 1}, faultstore.OpGet: {Rate: 1}, faultstore.OpList: {Rate: 1},
	}})
	const total, size = 3000, 200
	produceSeq(t, n.KafkaAddr(), topic, 0, total, size)
	// The failure shows (a failed manifest read, or a failed upload) while
	// sealed segments wait.
	waitUntil(t, "a failure with segments waiting", 10*time.Second, func() bool {
		st := tierStatus(n, topic)
		return st.LastError != "" && st.PendingSegments > 0
	})
	if st := tierStatus(n, topic); st.LocalStartOffset != 0 || st.RemoteEndOffset != -1 || st.PendingSegments == 0 {
		t.Fatalf("store down: %+v", st)
	}

	// An upload storm: a third of the puts fail or are throttled, half of
	// the commit replies are lost, some gets fail.
	fs.SetConfig(faultstore.Config{Seed: 11, Faults: map[string]faultstore.Fault{
		faultstore.OpPut: {Rate: 0.3, Class: objectstore.ErrThrottled, Latency: 2 * time.Millisecond},
		faultstore.OpGet: {Rate: 0.2},
	}})
	waitUntil(t, "uploads through the storm", 60*time.Second, func() bool {
		st := tierStatus(n, topic)
		return st.PendingSegments == 0 && st.RemoteEndOffset > 0 && st.LocalStartOffset == st.RemoteEndOffset
	})
	if lost.lostReplies() == 0 || fs.Injected(faultstore.OpPut) == 0 {
		t.Fatalf("the storm injected nothing: lost replies %d, put faults %d", lost.lostReplies(), fs.Injected(faultstore.OpPut))
	}
	segs, _ := remoteManifest(t, dir, n.KafkaAddr(), topic)
	checkManifestContiguous(t, segs)
	if len(segs) == 0 || segs[0].BaseOffset != 0 {
		t.Fatalf("remote manifest does not start at 0: %+v", segs)
	}

	// A cold-read storm: 40% of the ranged GETs fail, half of them
	// throttled. The consumer retries the storage errors and must still
	// read every record exactly.
	fs.SetConfig(faultstore.Config{Seed: 12, Faults: map[string]faultstore.Fault{
		faultstore.OpGet: {Rate: 0.4, Latency: time.Millisecond},
	}})
	before := fs.Injected(faultstore.OpGet)
	recs := consumeN(t, n.KafkaAddr(), topic, total, kgo.FetchMaxBytes(256<<10), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	checkConsumed(t, recs, 0, func(i int) []byte { return seqValue(i, size) })
	if fs.Injected(faultstore.OpGet) == before {
		t.Fatal("no cold read failed: the storm did not reach the fetch path")
	}
	t.Logf("%d segments uploaded through %d put faults and %d lost commit replies; %d records consumed through %d failed GETs",
		len(segs), fs.Injected(faultstore.OpPut), lost.lostReplies(), total, fs.Injected(faultstore.OpGet)-before)
}
