package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestUncleanStartManyPartitions SIGKILLs a node hosting many partitions,
// each holding a few records, and measures the restart until /readyz
// answers; then checks every acknowledged record is still there. 100
// partitions by default; STRATA_SOAK=1 runs 2,000 (the "Recovery" figures
// of docs/benchmarks.md). STRATA_RECOVERY_BIN runs another build of the
// binary instead (to measure a baseline).
func TestUncleanStartManyPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	parts := 100
	if os.Getenv("STRATA_SOAK") == "1" {
		parts = 2000
	}
	if v, err := strconv.Atoi(os.Getenv("STRATA_RECOVERY_PARTITIONS")); err == nil && v > 0 {
		parts = v
	}
	defer func(d time.Duration) { procReadyTimeout = d }(procReadyTimeout)
	procReadyTimeout = 5 * time.Minute // a baseline build opens partitions one by one
	bin := os.Getenv("STRATA_RECOVERY_BIN")
	if bin == "" {
		bin = strataBinary(t)
	}
	dir := t.TempDir()
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	p := startProcNode(t, bin, dir, kafka, httpAddr)
	const topic = "many"
	adm := newAdmin(t, kafka)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A slow creation may be retried by the client and then answer
	// TOPIC_ALREADY_EXISTS: the topic is there either way.
	if resp, err := adm.CreateTopic(ctx, int32(parts), 1, nil, topic); err != nil || (resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists)) {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	cl := newClient(t, kafka, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := 0; i < parts; i++ {
		for j := 0; j < 3; j++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i), Value: []byte(fmt.Sprintf("%d-%d", i, j))})
		}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cl.Close()
	p.kill(t)

	started := time.Now()
	p = startProcNode(t, bin, dir, kafka, httpAddr)
	took := time.Since(started)
	log, _ := os.ReadFile(p.logPath)
	phases := regexp.MustCompile(`msg="(start-up phases|opened partitions)".*`).FindAll(log, -1)
	t.Logf("unclean start of %d partitions: ready after %v", parts, took)
	for _, ph := range phases {
		t.Logf("  %s", ph)
	}
	offs, err := newAdmin(t, kafka).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < parts; i++ {
		o, ok := offs.Lookup(topic, int32(i))
		if !ok || o.Err != nil || o.Offset != 3 {
			t.Fatalf("partition %d: end %d (%v) after restart, 3 records were acknowledged", i, o.Offset, o.Err)
		}
	}
}
