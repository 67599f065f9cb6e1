package e2e

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashKeepsAcknowledgedRecords produces with acks=all from a real
// client, SIGKILLs the node mid-stream, restarts it and checks that every
// acknowledged record is present exactly once and in order.
func TestCrashKeepsAcknowledgedRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and kills a real process")
	}
	bin := strataBinary(t)
	dir := t.TempDir()
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	p := startProcNode(t, bin, dir, kafka, httpAddr, "log.segment.bytes=262144")
	createTopic(t, kafka, "crash", 1, nil)

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.ProducerLinger(time.Millisecond), kgo.RecordRetries(0), kgo.MaxBufferedRecords(2000))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked = map[uint64]int64{} // sequence -> offset
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := uint64(0); ctx.Err() == nil; seq++ {
			v := binary.BigEndian.AppendUint64(nil, seq)
			v = append(v, make([]byte, 200)...)
			cl.Produce(ctx, &kgo.Record{Topic: "crash", Value: v}, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[binary.BigEndian.Uint64(r.Value)] = r.Offset
					mu.Unlock()
				}
			})
		}
	}()
	// Let a good number of acknowledged writes accumulate, then kill.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n > 5000 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill(t)
	cancel()
	wg.Wait()
	cl.Close()
	mu.Lock()
	nAcked := len(acked)
	mu.Unlock()
	if nAcked == 0 {
		t.Fatal("no record was acknowledged before the kill")
	}

	startProcNode(t, bin, dir, kafka, httpAddr)
	c := newClient(t, kafka, kgo.ConsumeTopics("crash"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	end := newAdmin(t, kafka)
	offs, err := end.ListEndOffsets(context.Background(), "crash")
	if err != nil {
		t.Fatal(err)
	}
	o, _ := offs.Lookup("crash", 0)
	if o.Offset < int64(nAcked) {
		t.Fatalf("log end %d after restart, but %d records were acknowledged", o.Offset, nAcked)
	}
	seen := map[uint64]int64{}
	var lastOffset int64 = -1
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	for lastOffset < o.Offset-1 {
		fs := c.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read up to offset %d of %d", lastOffset, o.Offset)
		}
		for _, r := range fs.Records() {
			if r.Offset != lastOffset+1 {
				t.Fatalf("offset %d follows %d", r.Offset, lastOffset)
			}
			lastOffset = r.Offset
			seq := binary.BigEndian.Uint64(r.Value)
			if prev, dup := seen[seq]; dup {
				t.Fatalf("record %d appears twice (offsets %d and %d)", seq, prev, r.Offset)
			}
			seen[seq] = r.Offset
		}
	}
	for seq, off := range acked {
		got, ok := seen[seq]
		if !ok {
			t.Fatalf("acknowledged record %d (offset %d) lost", seq, off)
		}
		if got != off {
			t.Fatalf("record %d at offset %d, acknowledged at %d", seq, got, off)
		}
	}
	t.Logf("%d acknowledged records all present after SIGKILL; log end %d", nAcked, o.Offset)
}
