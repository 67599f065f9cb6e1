package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// awaitReassigned waits until topic/part has no reassignment in progress
// and its replicas are want, and returns how long that took.
func awaitReassigned(t *testing.T, adm *kadm.Client, topic string, part int32, want []int32, timeout time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ongoing, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {part: {}}})
		var reps []int32
		if err == nil {
			var td kadm.TopicDetails
			if td, err = adm.ListTopics(ctx, topic); err == nil {
				reps = td[topic].Partitions[part].Replicas
			}
		}
		cancel()
		if err == nil && len(ongoing[topic]) == 0 && slices.Equal(reps, want) {
			return time.Since(began)
		}
		if time.Since(began) > timeout {
			t.Fatalf("reassignment of %s/%d to %v not done after %v: replicas %v, in progress %v, err %v", topic, part, want, timeout, reps, ongoing, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReassignment moves a tiered RF 2 partition, under an acks=all
// producer, off its leader onto the third node with Kafka's
// AlterPartitionReassignments: the new replica copies only the leader's
// local log (the hot tail; what the store holds stays there), leadership
// moves to it when the old leader leaves the replica set, the old
// replica's log is deleted while the store keeps the partition's whole
// chain, and every acknowledged record reads back from offset 0 at the
// offset it was acknowledged at. Invalid requests get Kafka's errors.
func TestReassignment(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestClusterWith(t, 3, map[string]string{"remote.log.manifest.sync.interval.ms": "500"})
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	adm := newAdmin(t, nodes[0].kafka)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const topic = "moving"
	from, to := nodes[0], nodes[2]
	createAssigned(t, nodes[0].kafka, topic, 1, func(int32) []int32 { return []int32{from.id, nodes[1].id} })
	cfg := map[string]*string{}
	for k, v := range map[string]string{"min.insync.replicas": "2", "segment.bytes": "65536", "local.retention.bytes": "262144"} {
		cfg[k] = &v
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Name: "min.insync.replicas", Value: cfg["min.insync.replicas"]},
		{Name: "segment.bytes", Value: cfg["segment.bytes"]},
		{Name: "local.retention.bytes", Value: cfg["local.retention.bytes"]},
	}, topic); err != nil {
		t.Fatal(err)
	}
	all := nodes[0].kafka + "," + nodes[1].kafka + "," + nodes[2].kafka
	prod := startProducing(t, all, topic, 512)
	acked := prod.acked
	deadline := time.Now().Add(90 * time.Second)
	for partMetric(t, from, "strata_tier_local_log_start_offset", topic, 0) < 2000 {
		if time.Now().After(deadline) {
			t.Fatal("the leader never dropped uploaded segments")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Kafka's errors first: an unknown broker, a duplicate, an unknown
	// partition, a cancel with nothing in progress.
	bad := kadm.AlterPartitionAssignmentsReq{}
	bad.Assign(topic, 0, []int32{from.id, 99})
	bad.Assign("no-such-topic", 0, []int32{from.id})
	rs, err := adm.AlterPartitionAssignments(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	if e := rs[topic][0].Err; !errors.Is(e, kerr.InvalidReplicaAssignment) {
		t.Fatalf("unknown broker: %v", e)
	}
	if e := rs["no-such-topic"][0].Err; !errors.Is(e, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v", e)
	}
	none := kadm.AlterPartitionAssignmentsReq{}
	none.CancelAssign(topic, 0)
	if rs, err = adm.AlterPartitionAssignments(ctx, none); err != nil || !errors.Is(rs[topic][0].Err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel with none in progress: %v %v", err, rs)
	}

	hotStart := int64(partMetric(t, from, "strata_tier_local_log_start_offset", topic, 0))
	hotEnd := int64(partMetric(t, from, "strata_tier_high_watermark", topic, 0))
	hotBytes := partMetric(t, from, "strata_tier_local_log_size_bytes", topic, 0)
	coldBytes := partMetric(t, from, "strata_tier_remote_log_size_bytes", topic, 0)
	copiedBefore := metricValue(t, to.http, "strata_replication_bytes_in_total")
	target := []int32{to.id, nodes[1].id}
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign(topic, 0, target)
	if rs, err = adm.AlterPartitionAssignments(ctx, req); err != nil || rs[topic][0].Err != nil {
		t.Fatalf("reassign: %v %v", err, rs)
	}
	took := awaitReassigned(t, adm, topic, 0, target, 60*time.Second)
	copied := metricValue(t, to.http, "strata_replication_bytes_in_total") - copiedBefore
	t.Logf("partition moved from %v to %v in %v (from the request); the leader held offsets [%d, %d) locally, %.0f bytes (%.0f in the store); node %d appended %.0f replicated bytes, starting at offset %.0f",
		[]int32{from.id, nodes[1].id}, target, took.Round(time.Millisecond), hotStart, hotEnd, hotBytes, coldBytes, to.id, copied,
		partMetric(t, to, "strata_tier_local_log_start_offset", topic, 0))
	if l := leaders(t, nodes[1].kafka, topic)[0]; l != to.id {
		t.Fatalf("leader %d after the move, want the new preferred replica %d", l, to.id)
	}
	// The new replica began at the leader's local start: what only the
	// store held was not copied.
	if s := partMetric(t, to, "strata_tier_local_log_start_offset", topic, 0); s <= 0 {
		t.Fatalf("the new replica's local log starts at %.0f: it copied the cold tier", s)
	}
	time.Sleep(time.Second) // more acks on the new leader
	prod.Stop()
	deadline = time.Now().Add(30 * time.Second)
	dir := filepath.Join(from.dir, "kafka", fmt.Sprintf("%s-%d", topic, 0))
	for {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the removed replica's log %s is still there", dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
	chain := remoteChain(t, from.store, topic, 0)
	prev := int64(0)
	for _, e := range chain {
		if e.Base != prev {
			t.Fatalf("remote chain has a gap at %d (previous end %d) after the move: %+v", e.Base, prev, chain)
		}
		prev = e.Next
	}
	if len(chain) == 0 || prev < hotStart {
		t.Fatalf("remote chain ends at %d, below the old leader's local start %d", prev, hotStart)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, c := range nodes {
			for _, l := range strings.Split(c.log(t), "\n") {
				if strings.Contains(l, "topic="+topic) && regexp.MustCompile(`truncat|role changed|leadership changed|ISR changed|restarted|reset|deleting partition|restored`).MatchString(l) {
					t.Log("TDBG", l)
				}
			}
		}
	})
	read := checkAcked(t, nodes[1].kafka, topic, acked)
	t.Logf("%d records acknowledged (%d produce failures), %d read back from offset 0; the store holds [0, %d) in %d segments",
		acked.count(), acked.fails, read, prev, len(chain))
}

// TestRebalanceAndDecommission drives the CLI against three nodes under
// an acks=all producer: `strata cluster rebalance` spreads a topic that
// lives on two nodes over all three (replicas and preferred leaders even),
// then `strata cluster decommission` empties the third again, and once it
// is stopped `strata cluster remove` drops its registration (refused while
// it is live); nothing acknowledged is lost, duplicated or moved.
func TestRebalanceAndDecommission(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestCluster(t, 3)
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	const topic = "spread"
	createAssigned(t, nodes[0].kafka, topic, 6, func(p int32) []int32 {
		return []int32{nodes[p%2].id, nodes[(p+1)%2].id}
	})
	all := nodes[0].kafka + "," + nodes[1].kafka + "," + nodes[2].kafka
	prod := startProducing(t, all, topic, 0)
	acked := prod.acked
	time.Sleep(time.Second)
	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(strataBinary(t), append(args, "--bootstrap", nodes[1].kafka)...).CombinedOutput()
		if err != nil {
			t.Fatalf("strata %v: %v\n%s", args, err, out)
		}
		t.Logf("strata %v:\n%s", args, out)
		return string(out)
	}
	layout := func() (replicas, preferred map[int32]int) {
		replicas, preferred = map[int32]int{}, map[int32]int{}
		td, err := newAdmin(t, nodes[1].kafka).ListTopics(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range td[topic].Partitions {
			for _, r := range p.Replicas {
				replicas[r]++
			}
			preferred[p.Replicas[0]]++
		}
		return replicas, preferred
	}
	cli("cluster", "rebalance", "--wait")
	replicas, preferred := layout()
	for _, c := range nodes {
		if replicas[c.id] != 4 || preferred[c.id] != 2 {
			t.Fatalf("after rebalance: replicas %v preferred leaders %v, want 4 and 2 on each node", replicas, preferred)
		}
	}
	if out := cli("cluster", "rebalance", "--dry-run"); !strings.Contains(out, "nothing to move") {
		t.Fatalf("a balanced cluster is planned again")
	}
	out := cli("cluster", "decommission", fmt.Sprint(nodes[2].id))
	if !strings.Contains(out, "holds no replicas") {
		t.Fatalf("decommission did not finish")
	}
	if replicas, _ = layout(); replicas[nodes[2].id] != 0 {
		t.Fatalf("node %d still holds replicas after decommission: %v", nodes[2].id, replicas)
	}
	// A live node, or one holding replicas, is not removed; a stopped,
	// empty one is.
	cliFails := func(want string, args ...string) {
		t.Helper()
		out, err := exec.Command(strataBinary(t), append(args, "--bootstrap", nodes[1].kafka)...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Fatalf("strata %v: err %v, want an error naming %q:\n%s", args, err, want, out)
		}
	}
	cliFails("is live", "cluster", "remove", fmt.Sprint(nodes[2].id))
	nodes[2].signal(t, syscall.SIGTERM)
	nodes[2].waitExit(t, 60*time.Second)
	cli("cluster", "remove", fmt.Sprint(nodes[2].id))
	if out := cli("cluster", "nodes"); strings.Contains(out, fmt.Sprintf("\n%d ", nodes[2].id)) {
		t.Fatalf("node %d still listed after remove", nodes[2].id)
	}
	cliFails("BROKER_ID_NOT_REGISTERED", "cluster", "remove", fmt.Sprint(nodes[2].id))
	time.Sleep(time.Second)
	prod.Stop()
	read := checkAcked(t, nodes[0].kafka, topic, acked)
	t.Logf("%d records acknowledged (%d produce failures), %d read back", acked.count(), acked.fails, read)
}

// TestDecommissionThrottled moves a partition holding 4 MiB (none of it
// in the store yet) off its node with `strata cluster decommission
// --throttle 1048576`: the new replica's copy waits on
// follower.replication.throttled.rate (its throttle counter moves), every
// record arrives, and the throttle is lifted when the move is done.
func TestDecommissionThrottled(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestCluster(t, 3)
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	const topic = "slowmove"
	createAssigned(t, nodes[0].kafka, topic, 1, func(int32) []int32 { return []int32{nodes[0].id} })
	cl := newClient(t, nodes[0].kafka, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := context.Background()
	const n = 4096
	for i := range n {
		v := fmt.Sprintf("%06d", i) + strings.Repeat("z", 1018)
		cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	out, err := exec.Command(strataBinary(t), "cluster", "decommission", fmt.Sprint(nodes[0].id), "--throttle", "1048576",
		"--bootstrap", nodes[1].kafka).CombinedOutput()
	if err != nil {
		t.Fatalf("decommission: %v\n%s", err, out)
	}
	took := time.Since(began)
	waits := 0.0
	for _, c := range nodes[1:] {
		waits += max(0, metricValue(t, c.http, "strata_replication_throttled_total"))
	}
	t.Logf("4 MiB moved at 1 MiB/s in %v (%.0f throttled fetch rounds):\n%s", took.Round(time.Millisecond), waits, out)
	if waits == 0 {
		t.Fatal("the copy never waited for the throttle")
	}
	cfgs, err := newAdmin(t, nodes[1].kafka).DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range cfgs {
		for _, c := range rc.Configs {
			if c.Key == "follower.replication.throttled.rate" && c.MaybeValue() != "9223372036854775807" {
				t.Fatalf("throttle left at %s after the move", c.MaybeValue())
			}
		}
	}
	rd := newClient(t, nodes[1].kafka, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}}))
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for next := 0; next < n; {
		fs := rd.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read %d of %d after the move", next, n)
		}
		for _, r := range fs.Records() {
			if string(r.Value[:6]) != fmt.Sprintf("%06d", next) {
				t.Fatalf("record %d is %q", next, r.Value[:6])
			}
			next++
		}
	}
}
