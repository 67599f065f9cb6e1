package e2e

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDiskFullProduceRetries runs a node whose data directory is a small
// tmpfs, fills it, and checks that produce gets a retriable error (franz-go
// keeps retrying instead of failing the records), that produce resumes once
// space is freed, and that nothing acknowledged is lost, duplicated or
// reordered. Needs root to mount a tmpfs; skipped otherwise.
func TestDiskFullProduceRetries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real process")
	}
	bin := strataBinary(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	p := startProcNode(t, bin, dir, kafka, httpAddr, "log.segment.bytes=65536")
	_ = p
	const topic = "full"
	createTopic(t, kafka, topic, 1, nil)
	before := produceAckedSeq(t, kafka, topic, 200)

	filler := fillDisk(t, dir)

	cl := newClient(t, kafka, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordDeliveryTimeout(2*time.Minute), kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	const more = 300
	prod := produceSeqAsync(cl, topic, 200, more, 150, 'w')
	series := `strata_partition_storage_errors_total{partition="0",topic="full"}`
	deadline := time.Now().Add(30 * time.Second)
	for metricValue(t, httpAddr, series) <= 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if v := metricValue(t, httpAddr, series); v <= 0 {
		t.Fatalf("no storage error counted on a full disk (%v)", v)
	}
	time.Sleep(time.Second) // let franz-go retry a few times
	stuck, failed := prod.status()
	if len(failed) > 0 {
		t.Fatalf("produce failed instead of retrying on a full disk: %v", failed[0])
	}
	if stuck == more {
		t.Fatal("every record was acknowledged on a full disk")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if failed := prod.wait(); len(failed) > 0 {
		t.Fatalf("produce failed after space was freed: %v", failed[0])
	}
	checkAckedSeqLog(t, kafka, topic, before, prod, 200+more)
	t.Logf("%d records held back on a full disk, all %d acknowledged and present after space was freed", more-stuck, 200+more)
}
