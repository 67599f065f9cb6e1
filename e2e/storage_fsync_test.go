package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/node"
)

// TestFsyncFailureRecoversWithoutRestart injects fsync failures (EIO) into
// a running node's partition log: produce gets retriable errors (franz-go
// keeps retrying), the partition cuts its log back to the last synced
// offset and reopens it by itself, and once fsync works again every record
// is acknowledged exactly once, in order, with nothing acknowledged lost.
func TestFsyncFailureRecoversWithoutRestart(t *testing.T) {
	var failing atomic.Bool
	var injected atomic.Int64
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Logger = testLogger(t)
	cfg.Fdatasync = func(fd int) error {
		if failing.Load() {
			injected.Add(1)
			return syscall.EIO
		}
		return syscall.Fdatasync(fd)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	addr := n.KafkaAddr()
	const topic = "fsync"
	createTopic(t, addr, topic, 1, nil)
	before := produceAckedSeq(t, addr, topic, 100)

	failing.Store(true)
	cl := newClient(t, addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordDeliveryTimeout(2*time.Minute), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	const more = 200
	var mu sync.Mutex
	acked := map[uint64]int64{}
	var failed []error
	var wg sync.WaitGroup
	for seq := 100; seq < 100+more; seq++ {
		v := binary.BigEndian.AppendUint64(nil, uint64(seq))
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: append(v, bytes.Repeat([]byte{'f'}, 100)...)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, err)
				return
			}
			acked[binary.BigEndian.Uint64(r.Value)] = r.Offset
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for injected.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if injected.Load() < 3 {
		t.Fatalf("only %d fsync failures injected", injected.Load())
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	if len(acked) > 0 || len(failed) > 0 {
		t.Fatalf("with fsync failing: %d acknowledged, %d failed (%v)", len(acked), len(failed), failed)
	}
	mu.Unlock()
	failing.Store(false)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("produce failed after fsync recovered: %v", failed[0])
	}
	all := make([]int64, 100+more)
	copy(all, before)
	for seq, off := range acked {
		all[seq] = off
	}
	_, last, seqs := consumeFrom(t, addr, topic, 0, int64(100+more), 10*time.Second)
	if last != int64(100+more-1) || len(seqs) != 100+more {
		t.Fatalf("consumed up to %d (%d records) of %d", last, len(seqs), 100+more)
	}
	for off, seq := range seqs {
		if all[seq] != int64(off) {
			t.Fatalf("sequence %d at offset %d, acknowledged at %d", seq, off, all[seq])
		}
	}
	t.Logf("%d fsync failures injected; the partition recovered by itself and all %d records are present once, in order", injected.Load(), 100+more)
}
