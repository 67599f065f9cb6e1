package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReassignTimes measures a reassignment of a tiered partition whose
// history lives in the store: STRATA_REASSIGN_GB gigabytes are produced
// to a one-replica partition with a small hot tail (segment.bytes 32 MiB,
// local.retention.bytes 64 MiB), and once it is uploaded the partition is
// moved to another node. It reports the time from the request until the
// move is complete and the new node leads, and the bytes the new replica
// copied beside the leader's local log (the hot tail) and the store's
// size. It only reports (make bench-reassign); no assertion is made on
// the time.
func TestReassignTimes(t *testing.T) {
	gb, _ := strconv.ParseFloat(os.Getenv("STRATA_REASSIGN_GB"), 64)
	if gb <= 0 {
		t.Skip("set STRATA_REASSIGN_GB (make bench-reassign)")
	}
	nodes := startTestClusterWith(t, 3, map[string]string{"remote.log.manifest.sync.interval.ms": "1000"})
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	ctx := context.Background()
	from, to := nodes[0], nodes[1]
	const topic = "history"
	createAssigned(t, from.kafka, topic, 1, func(int32) []int32 { return []int32{from.id} })
	adm := newAdmin(t, from.kafka)
	set := func(k, v string) kadm.AlterConfig { return kadm.AlterConfig{Name: k, Value: &v} }
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		set("segment.bytes", strconv.Itoa(32<<20)), set("local.retention.bytes", strconv.Itoa(64<<20)),
	}, topic); err != nil {
		t.Fatal(err)
	}

	// Incompressible values from a pool larger than any batch.
	const valueSize = 64 << 10
	pool := make([]byte, 8<<20)
	for i := range pool {
		pool[i] = byte(rand.Uint32())
	}
	cl := newClient(t, from.kafka, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedBytes(64<<20), kgo.ProducerLinger(5*time.Millisecond))
	total := int64(gb * (1 << 30))
	began := time.Now()
	for sent := int64(0); sent < total; sent += valueSize {
		off := rand.IntN(len(pool) - valueSize)
		cl.Produce(ctx, &kgo.Record{Value: pool[off : off+valueSize]}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced %.1f GiB in %v", gb, time.Since(began).Round(time.Second))

	// Wait until everything sealed is uploaded and the leader's disk is
	// down to its hot tail.
	deadline := time.Now().Add(30 * time.Minute)
	for {
		cold := partMetric(t, from, "strata_tier_remote_log_size_bytes", topic, 0)
		hot := partMetric(t, from, "strata_tier_local_log_size_bytes", topic, 0)
		if cold >= float64(total)-float64(96<<20) && hot <= float64(100<<20) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not uploaded: %.0f bytes in the store, %.0f local", cold, hot)
		}
		time.Sleep(time.Second)
	}
	hot := partMetric(t, from, "strata_tier_local_log_size_bytes", topic, 0)
	cold := partMetric(t, from, "strata_tier_remote_log_size_bytes", topic, 0)
	copiedBefore := metricValue(t, to.http, "strata_replication_bytes_in_total")

	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, []int32{to.id})
	moved := time.Now()
	rs, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil || rs[topic][0].Err != nil {
		t.Fatalf("reassign: %v %v", err, rs)
	}
	took := awaitReassigned(t, adm, topic, 0, []int32{to.id}, 10*time.Minute)
	for leaders(t, to.kafka, topic)[0] != to.id {
		time.Sleep(10 * time.Millisecond)
	}
	led := time.Since(moved)
	copied := metricValue(t, to.http, "strata_replication_bytes_in_total") - copiedBefore
	t.Logf("reassignment of a partition with %.2f GiB in the store and %.1f MiB hot: complete in %v, new node leading after %v; copied %.1f MiB = %.2f × the hot tail",
		cold/(1<<30), hot/(1<<20), took.Round(time.Millisecond), led.Round(time.Millisecond), copied/(1<<20), copied/hot)

	// The new leader serves the oldest record from the store.
	rd := newClient(t, to.kafka, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))
	fctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		fs := rd.PollRecords(fctx, 1)
		if err := fctx.Err(); err != nil {
			t.Fatalf("reading offset 0 from the new leader: %v", err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			if recs[0].Offset != 0 || len(recs[0].Value) != valueSize {
				t.Fatalf("first record read: offset %d, %d bytes", recs[0].Offset, len(recs[0].Value))
			}
			break
		}
	}
}
