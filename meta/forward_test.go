package meta

import (
	"context"
	"testing"
	"time"
)

func followerOf(t testing.TB, stores []*Store, leader *Store) *Store {
	t.Helper()
	for _, st := range stores {
		if st != leader && !st.closed.Load() {
			poll(t, "the follower to know the leader", func() bool { id, _ := st.Leader(); return id == leader.cfg.NodeID })
			return st
		}
	}
	t.Fatal("no follower")
	return nil
}

func TestForwardEveryWriteFromFollower(t *testing.T) {
	stores := openCluster(t, 3, 100*time.Millisecond)
	leader := leaderOf(t, stores)
	f := followerOf(t, stores, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for id := int32(1); id <= 3; id++ {
		if err := f.RegisterBroker(ctx, Broker{ID: id, Host: "h", Port: 9092 + id}); err != nil {
			t.Fatalf("RegisterBroker(%d): %v", id, err)
		}
		if b, ok := f.Broker(id); !ok || b.Port != 9092+id {
			t.Fatalf("broker %d not visible on the follower on return: %+v", id, b)
		}
	}
	if err := f.SetBrokerFenced(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.Broker(2); !b.Fenced {
		t.Fatal("fence not visible on return")
	}
	tp, err := f.CreateTopic(ctx, TopicSpec{Name: "orders", NumPartitions: 2, ReplicationFactor: 2, Configs: map[string]string{"retention.ms": "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := f.Topic("orders")
	if !ok || got.ID != tp.ID || len(got.Partitions) != 2 || got.Configs["retention.ms"] != "1000" {
		t.Fatalf("created topic %+v, visible %+v %v", tp, got, ok)
	}
	if lt, _ := leader.Topic("orders"); lt.ID != tp.ID {
		t.Fatalf("leader has topic id %x, follower was told %x", lt.ID, tp.ID)
	}
	if err := f.CreatePartitions(ctx, "orders", 4, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Topic("orders"); len(got.Partitions) != 4 {
		t.Fatalf("partitions %d after CreatePartitions", len(got.Partitions))
	}
	if err := f.SetTopicConfigs(ctx, "orders", map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Topic("orders"); got.Configs["cleanup.policy"] != "compact" || len(got.Configs) != 1 {
		t.Fatalf("topic configs %v", got.Configs)
	}
	if err := f.SetClusterConfigs(ctx, map[string]string{"log.retention.ms": "5"}); err != nil {
		t.Fatal(err)
	}
	if f.ClusterConfigs()["log.retention.ms"] != "5" {
		t.Fatalf("cluster configs %v", f.ClusterConfigs())
	}
	p := got.Partitions[0]
	newLeader := p.Replicas[len(p.Replicas)-1]
	if err := f.UpdatePartition(ctx, PartitionUpdate{Topic: "orders", Partition: 0, ExpectedLeaderEpoch: p.LeaderEpoch, Leader: newLeader, ISR: []int32{newLeader}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Topic("orders"); got.Partitions[0].Leader != newLeader || got.Partitions[0].LeaderEpoch != p.LeaderEpoch+1 {
		t.Fatalf("partition after update %+v", got.Partitions[0])
	}
	blk, err := f.AllocateProducerIDs(ctx, 3, 100)
	if err != nil {
		t.Fatal(err)
	}
	blk2, err := f.AllocateProducerIDs(ctx, 3, 10)
	if err != nil || blk.Count != 100 || blk2.First != blk.First+100 || f.NextProducerID() != blk2.First+10 {
		t.Fatalf("producer id blocks %+v %+v next %d: %v", blk, blk2, f.NextProducerID(), err)
	}
	if err := f.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Topic("orders"); ok {
		t.Fatal("deleted topic still visible on return")
	}
	if err := f.UnregisterBroker(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if hasBroker(f, 3) {
		t.Fatal("unregistered broker still visible on return")
	}
}
