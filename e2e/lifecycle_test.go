package e2e

import (
	"bytes"
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSIGTERMShutsDownCleanly checks that SIGTERM exits 0 after logging a
// clean stop, and that the next start finds every record.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	bin := strataBinary(t)
	dir := t.TempDir()
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	p := startProcNode(t, bin, dir, kafka, httpAddr)
	createTopic(t, kafka, "term", 2, nil)
	cl := newClient(t, kafka)
	var recs []*kgo.Record
	for i := 0; i < 1000; i++ {
		recs = append(recs, &kgo.Record{Topic: "term", Value: bytes.Repeat([]byte{'t'}, 100)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("node did not exit after SIGTERM")
	}
	log, _ := os.ReadFile(p.logPath)
	if !strings.Contains(string(log), "node stopped") {
		t.Fatalf("no clean-stop line in the log:\n%s", log)
	}
	startProcNode(t, bin, dir, kafka, httpAddr)
	consumeN(t, kafka, "term", 1000)
}

// TestRetentionDeletesOldSegments runs retention by size with a short check
// interval and checks the log start moves while the newest data stays.
func TestRetentionDeletesOldSegments(t *testing.T) {
	n := startNode(t, "", map[string]string{"log.retention.check.interval.ms": "100"})
	addr := n.KafkaAddr()
	segBytes, retBytes := "16384", "32768"
	createTopic(t, addr, "ret", 1, map[string]*string{"segment.bytes": &segBytes, "retention.bytes": &retBytes})
	cl := newClient(t, addr, kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := context.Background()
	for i := 0; i < 400; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "ret", Value: bytes.Repeat([]byte{'r'}, 500)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := newAdmin(t, addr)
	deadline := time.Now().Add(20 * time.Second)
	var start int64
	for time.Now().Before(deadline) {
		offs, err := adm.ListStartOffsets(ctx, "ret")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup("ret", 0)
		if start = o.Offset; start > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if start == 0 {
		t.Fatal("retention never advanced the log start offset")
	}
	// The newest records are still there.
	c := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"ret": {0: kgo.NewOffset().At(399)}}))
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if recs := c.PollFetches(cctx).Records(); len(recs) == 0 || recs[0].Offset != 399 {
		t.Fatalf("last record not readable after retention: %d records", len(recs))
	}
}

// TestFetchByteLimits checks per-partition and total response limits and
// that an oversized first batch is still returned whole (KIP-74).
func TestFetchByteLimits(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.KafkaAddr()
	createTopic(t, addr, "limits", 2, nil)
	cl := newClient(t, addr, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := context.Background()
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 20; i++ {
			r := &kgo.Record{Topic: "limits", Partition: p, Value: bytes.Repeat([]byte{'x'}, 1000)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	td, err := newAdmin(t, addr).ListTopics(ctx, "limits")
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(partMax, total int32) []int {
		req := kmsg.NewPtrFetchRequest()
		req.MaxBytes = total
		req.MaxWaitMillis = 0
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "limits"
		rt.TopicID = td["limits"].ID
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rp.PartitionMaxBytes = partMax
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("partition %d error %d", p.Partition, p.ErrorCode)
			}
			sizes = append(sizes, len(p.RecordBatches))
		}
		return sizes
	}
	// One batch is ~1,070 bytes. A 5,000-byte partition limit gives whole
	// batches up to the limit in each partition.
	sizes := fetch(5000, 1<<20)
	for i, s := range sizes {
		if s == 0 || s > 5000 {
			t.Fatalf("partition %d returned %d bytes with a 5000-byte limit", i, s)
		}
	}
	// A 100-byte limit still returns one whole batch for the first
	// partition; the second gets nothing once the response is non-empty.
	sizes = fetch(100, 100)
	if sizes[0] < 1000 || sizes[1] != 0 {
		t.Fatalf("KIP-74: sizes %v", sizes)
	}
	// The total limit caps the response across partitions.
	sizes = fetch(1<<20, 8000)
	if sizes[0]+sizes[1] > 8000+1100 || sizes[0] == 0 {
		t.Fatalf("total limit: sizes %v", sizes)
	}
}
