package e2e

import (
	"context"
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
	prod := produceSeqAsync(cl, topic, 100, more, 100, 'f')
	deadline := time.Now().Add(20 * time.Second)
	for injected.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if injected.Load() < 3 {
		t.Fatalf("only %d fsync failures injected", injected.Load())
	}
	time.Sleep(500 * time.Millisecond)
	if acked, failed := prod.status(); acked > 0 || len(failed) > 0 {
		t.Fatalf("with fsync failing: %d acknowledged, %d failed (%v)", acked, len(failed), failed)
	}
	failing.Store(false)
	if failed := prod.wait(); len(failed) > 0 {
		t.Fatalf("produce failed after fsync recovered: %v", failed[0])
	}
	checkAckedSeqLog(t, addr, topic, before, prod, 100+more)
	t.Logf("%d fsync failures injected; the partition recovered by itself and all %d records are present once, in order", injected.Load(), 100+more)
}
