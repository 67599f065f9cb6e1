package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func crashValue(seq uint64) []byte {
	v := bytes.Repeat([]byte{byte(seq*13 + 5)}, 300)
	binary.BigEndian.PutUint64(v, seq)
	return v
}

// TestTieringSurvivesSIGKILL keeps a producer writing into a topic with
// 16 KiB segments and a 16 KiB hot tail, so uploads, commits and local
// deletions run all the time, and SIGKILLs the node three times at random
// points. After the last restart every acknowledged record must be there
// exactly once, in order and byte-exact, read from the earliest offset
// (mostly through the cold tier), and the remote manifest must have no gap
// or overlap.
func TestTieringSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and kills a real process")
	}
	bin := strataBinary(t)
	dir := t.TempDir()
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	settings := []string{
		"log.segment.bytes=16384",
		"remote.log.manager.task.interval.ms=50",
		"remote.log.manager.task.retry.backoff.ms=50",
		"remote.log.manager.task.retry.backoff.max.ms=500",
	}
	const topic = "tier-crash"
	p := startProcNode(t, bin, dir, kafka, httpAddr, settings...)
	local := "16384"
	createTopic(t, kafka, topic, 1, map[string]*string{"local.retention.bytes": &local})

	var (
		mu    sync.Mutex
		acked = map[uint64]int64{} // sequence -> offset
		seq   uint64
	)
	rng := rand.New(rand.NewPCG(1, 2))
	for cycle := 0; cycle < 3; cycle++ {
		if cycle > 0 {
			p = startProcNode(t, bin, dir, kafka, httpAddr, settings...)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
			kgo.ProducerLinger(time.Millisecond), kgo.RecordRetries(0), kgo.MaxBufferedRecords(500),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(8192))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				s := seq
				seq++
				mu.Unlock()
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: crashValue(s)}, func(r *kgo.Record, err error) {
					if err == nil {
						mu.Lock()
						acked[binary.BigEndian.Uint64(r.Value)] = r.Offset
						mu.Unlock()
					}
				})
			}
		}()
		// Kill somewhere between 1 and 2.5 s in: uploads, commits and
		// local deletions are all in flight by then.
		time.Sleep(time.Second + time.Duration(rng.IntN(1500))*time.Millisecond)
		p.kill(t)
		cancel()
		wg.Wait()
		cl.Close()
	}
	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()
	if nAcked < 1000 {
		t.Fatalf("only %d records acknowledged over three runs", nAcked)
	}

	startProcNode(t, bin, dir, kafka, httpAddr, settings...)
	if start := listStart(t, kafka, topic); start != 0 {
		t.Fatalf("log start %d after the crashes, want 0", start)
	}
	offs, err := newAdmin(t, kafka).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := offs.Lookup(topic, 0)
	c := newClient(t, kafka, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(1<<20))
	seen := map[uint64]int64{}
	last := int64(-1)
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	for last < end.Offset-1 {
		fs := c.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read up to offset %d of %d", last, end.Offset)
		}
		for _, r := range fs.Records() {
			if r.Offset != last+1 {
				t.Fatalf("offset %d follows %d", r.Offset, last)
			}
			last = r.Offset
			s := binary.BigEndian.Uint64(r.Value)
			if !bytes.Equal(r.Value, crashValue(s)) {
				t.Fatalf("record at offset %d differs from what was produced", r.Offset)
			}
			if prev, dup := seen[s]; dup {
				t.Fatalf("record %d appears twice (offsets %d and %d)", s, prev, r.Offset)
			}
			seen[s] = r.Offset
		}
	}
	for s, off := range acked {
		if got, ok := seen[s]; !ok || got != off {
			t.Fatalf("acknowledged record %d (offset %d) found at %d (present %v)", s, off, got, ok)
		}
	}
	segs, _ := remoteManifest(t, dir, kafka, topic)
	checkManifestContiguous(t, segs)
	if len(segs) == 0 || segs[0].BaseOffset != 0 || segs[len(segs)-1].NextOffset > end.Offset {
		t.Fatalf("remote manifest after the crashes: %d segments, first %+v, log end %d", len(segs), segs[0], end.Offset)
	}
	t.Logf("%d acknowledged records intact after 3 SIGKILLs; log end %d, %d remote segments up to %d",
		nAcked, end.Offset, len(segs), segs[len(segs)-1].NextOffset)
}
