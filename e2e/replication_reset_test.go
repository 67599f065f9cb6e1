package e2e

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// TestFollowerResetRestoresProducers: a follower of a tiered RF 3
// partition is SIGSTOPped while an idempotent acks=all producer runs, and
// stays stopped until its leader has uploaded and dropped from its disk
// everything past the follower's log end. Resumed, the follower restarts
// its log at the leader's local log start and takes the producer state of
// everything below it from the store (a snapshot there, and the store's
// batches after it). It is then made leader (its replica list reordered,
// which copies nothing, and a preferred election), and the same producer
// goes on writing to it: every acknowledged record reads back once, at its
// offset, in order.
func TestFollowerResetRestoresProducers(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestClusterWith(t, 3, map[string]string{
		"remote.log.manifest.sync.interval.ms": "500",
		"replica.lag.time.max.ms":              "2000",
		"auto.leader.rebalance.enable":         "false",
	})
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	leader, lagger := nodes[0], nodes[2]
	const topic = "reset"
	createAssigned(t, leader.kafka, topic, 1, func(int32) []int32 { return []int32{leader.id, nodes[1].id, lagger.id} })
	for k, v := range map[string]string{"min.insync.replicas": "2", "segment.bytes": "65536", "local.retention.bytes": "131072"} {
		setTopicConfig(t, leader.kafka, topic, k, v)
	}
	awaitFullISR(t, leader.kafka, topic, 3, 30*time.Second)
	all := leader.kafka + "," + nodes[1].kafka + "," + lagger.kafka
	prod := startProducing(t, all, topic, 512)
	await := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	await("records acknowledged", 30*time.Second, func() bool { return prod.acked.count() > 2000 })

	lagger.signal(t, syscall.SIGSTOP)
	// The stopped follower holds at most what the leader had then (its
	// log end, a little past the high watermark ListOffsets reports).
	ends, err := newAdmin(t, leader.kafka).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	stoppedAt := float64(ends[topic][0].Offset)
	t.Logf("node %d stopped with the high watermark at %.0f", lagger.id, stoppedAt)
	await("the leader's local log to start well past the stopped follower", 90*time.Second, func() bool {
		return partMetric(t, leader, "strata_tier_local_log_start_offset", topic, 0) > stoppedAt+3000
	})
	lagger.signal(t, syscall.SIGCONT)
	restored := regexp.MustCompile(`msg="restored producer state from the cold tier".* topic=reset partition=0 .*producers=(\d+) at=(\d+)|msg="restored producer state from the cold tier".*producers=(\d+) at=(\d+).* topic=reset`)
	var producers, at int
	began := time.Now()
	await("the resumed follower to restore producer state from the store", 60*time.Second, func() bool {
		m := restored.FindStringSubmatch(lagger.log(t))
		if m == nil {
			if time.Since(began) > 55*time.Second {
				for _, l := range strings.Split(lagger.log(t), "\n") {
					if strings.Contains(l, "topic=reset") && (strings.Contains(l, `reason=reset`) || strings.Contains(l, "restor")) {
						t.Log(l)
					}
				}
			}
			return false
		}
		p, a := m[1]+m[3], m[2]+m[4]
		producers, _ = strconv.Atoi(p)
		at, _ = strconv.Atoi(a)
		return true
	})
	t.Logf("node %d restarted its log at %d and restored %d producers from the store", lagger.id, at, producers)
	if producers < 1 || float64(at) <= stoppedAt {
		t.Fatalf("restored %d producers at %d (stopped at %.0f)", producers, at, stoppedAt)
	}
	awaitFullISR(t, leader.kafka, topic, 3, 60*time.Second)

	// The restored follower leads, and the producer carries on there.
	adm := newAdmin(t, leader.kafka)
	ctx := context.Background()
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, []int32{lagger.id, leader.id, nodes[1].id})
	if rs, err := adm.AlterPartitionAssignments(ctx, req); err != nil || rs[topic][0].Err != nil {
		t.Fatalf("reorder: %v %v", err, rs)
	}
	awaitReassigned(t, adm, topic, 0, []int32{lagger.id, leader.id, nodes[1].id}, 30*time.Second)
	if _, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}}); err != nil {
		t.Fatal(err)
	}
	await("the restored follower to lead", 30*time.Second, func() bool { return leaders(t, leader.kafka, topic)[0] == lagger.id })
	before := prod.acked.count()
	await("acknowledgements from the new leader", 30*time.Second, func() bool { return prod.acked.count() > before+2000 })
	prod.Stop()
	read := checkAcked(t, leader.kafka, topic, prod.acked)
	t.Logf("%d records acknowledged (%d produce failures), %d read back", prod.acked.count(), prod.acked.fails, read)
	if prod.acked.fails > 0 {
		t.Fatalf("%d produce failures", prod.acked.fails)
	}
}
