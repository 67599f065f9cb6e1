package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReplicationRefusesBadFetches: a leader whose in-sync follower is
// frozen holds its high watermark at that follower's offset (the session
// timeout is raised so the controller does not fence the follower on its
// lease, replica.lag.time.max.ms keeps it in the ISR, and the checks take
// well under the seconds gossip needs to report it failed). Replica
// fetches claiming to come from a broker that is not a replica, or naming
// an older or newer leader epoch than the partition's, are refused
// (NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH) and
// move nothing: the acks=all write waiting on the follower stays
// unacknowledged and the high watermark stays. The same fetch with the
// follower's ID and the current epoch is what advances both — which is
// also why replica fetches will need inter-broker credentials once
// authentication exists (docs/replication.md).
func TestReplicationRefusesBadFetches(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestClusterWith(t, 3, map[string]string{"broker.session.timeout.ms": "120000", "min.insync.replicas": "2"})
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, follower, outsider := nodes[0], nodes[1], nodes[2]
	createAssigned(t, leader.kafka, "guarded", 1, func(int32) []int32 { return []int32{leader.id, follower.id} })
	prod := newClient(t, leader.kafka, kgo.DefaultProduceTopic("guarded"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(90*time.Second))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	awaitFullISR(t, leader.kafka, "guarded", 2, 30*time.Second)
	// A controlled restart of the leader hands the partition to the
	// follower and back (preferred leader), so there is an older epoch to
	// send (epoch -1 means "none given" in Fetch).
	leader.signal(t, syscall.SIGTERM)
	leader.waitExit(t, 30*time.Second)
	leader.start(t, strataBinary(t), 3, joinList(nodes))
	leader.waitReady(t, 60*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	for leaders(t, outsider.kafka, "guarded")[0] != leader.id || leaders(t, leader.kafka, "guarded")[0] != leader.id ||
		len(isrOf(t, outsider.kafka, "guarded")[0]) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("leadership did not return to broker %d: %v", leader.id, leaders(t, outsider.kafka, "guarded"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	md, err := newAdmin(t, outsider.kafka).Metadata(ctx, "guarded")
	if err != nil {
		t.Fatal(err)
	}
	tp := md.Topics["guarded"]
	if l := tp.Partitions[0].Leader; l != leader.id {
		t.Fatalf("partition led by %d, want %d", l, leader.id)
	}
	epoch := tp.Partitions[0].LeaderEpoch
	if epoch < 1 {
		t.Fatalf("leader epoch %d after a handoff and back", epoch)
	}

	// A producer that knows the new leadership writes once in sync, so
	// the write below goes straight to the leader.
	prod = newClient(t, leader.kafka, kgo.DefaultProduceTopic("guarded"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(90*time.Second))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	follower.signal(t, syscall.SIGSTOP)
	defer func() {
		if follower.alive() {
			_ = follower.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	acked := make(chan error, 1)
	prod.Produce(ctx, &kgo.Record{Value: []byte("second")}, func(_ *kgo.Record, err error) { acked <- err })
	deadline = time.Now().Add(10 * time.Second)
	for partMetric(t, leader, "strata_partition_end_offset", "guarded", 0) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the second write never reached the leader's log: its end offset is %v, the partition's leaders %v",
				partMetric(t, leader, "strata_partition_end_offset", "guarded", 0), leaders(t, outsider.kafka, "guarded"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	hw := func() float64 { return partMetric(t, leader, "strata_partition_high_watermark", "guarded", 0) }
	if got := hw(); got != 2 {
		t.Fatalf("high watermark %v with the follower frozen, want 2", got)
	}

	broker := newClient(t, leader.kafka).Broker(int(leader.id))
	fetch := func(id, leaderEpoch int32) int16 {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.ReplicaState.ID, req.ReplicaState.Epoch = id, id, -1
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "guarded", tp.ID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.CurrentLeaderEpoch = 0, 3, leaderEpoch
		rp.PartitionMaxBytes, rp.LogStartOffset, rp.LastFetchedEpoch = 1<<20, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := broker.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		fr := resp.(*kmsg.FetchResponse)
		if fr.ErrorCode != 0 {
			return fr.ErrorCode
		}
		return fr.Topics[0].Partitions[0].ErrorCode
	}
	for _, c := range []struct {
		what      string
		id, epoch int32
		want      int16
	}{
		{"a broker that is not a replica", outsider.id, epoch, kerr.NotLeaderForPartition.Code},
		{"a broker that does not exist", 77, epoch, kerr.NotLeaderForPartition.Code},
		{"the follower with an older epoch", follower.id, epoch - 1, kerr.FencedLeaderEpoch.Code},
		{"the follower with a newer epoch", follower.id, epoch + 1, kerr.UnknownLeaderEpoch.Code},
	} {
		if code := fetch(c.id, c.epoch); code != c.want {
			t.Fatalf("replica fetch from %s: %v, want %v", c.what, kerr.ErrorForCode(code), kerr.ErrorForCode(c.want))
		}
	}
	select {
	case err := <-acked:
		t.Fatalf("acks=all write answered (%v) after refused fetches, its only follower frozen", err)
	case <-time.After(300 * time.Millisecond):
	}
	if got := hw(); got != 2 {
		t.Fatalf("high watermark moved to %v by refused fetches, want 2", got)
	}
	// The control: the same fetch from the follower's ID at the current
	// epoch is taken as the follower's and commits the write.
	if code := fetch(follower.id, epoch); code != 0 {
		t.Fatalf("replica fetch as the follower: %v", kerr.ErrorForCode(code))
	}
	select {
	case err := <-acked:
		if err != nil {
			t.Fatalf("acks=all write after the follower's fetch: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("acks=all write not answered after the follower's fetch")
	}
	if got := hw(); got != 3 {
		t.Fatalf("high watermark %v after the follower's fetch, want 3", got)
	}
}
