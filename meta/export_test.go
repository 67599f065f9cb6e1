package meta

import (
	"context"
	"testing"
)

// A snapshot exported from one cluster, rewritten onto new brokers and
// seeded into an empty directory, opens as the same cluster: same ID,
// topic IDs, configs and producer-ID counter, partitions led by the new
// brokers under higher epochs.
func TestExportRestoreOntoSeed(t *testing.T) {
	ctx := context.Background()
	src := openReady(t, testConfig(t, t.TempDir()))
	registerBrokers(t, src, 1, 2, 3)
	orig, err := src.CreateTopic(ctx, TopicSpec{Name: "orders", NumPartitions: 3, ReplicationFactor: 3, Configs: map[string]string{"retention.ms": "-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.AllocateProducerIDs(ctx, 1, 1000); err != nil {
		t.Fatal(err)
	}
	version, data, err := src.ExportSnapshot()
	if err != nil || version == 0 {
		t.Fatalf("ExportSnapshot: %d, %v", version, err)
	}
	ex, err := DecodeExport(data)
	if err != nil {
		t.Fatal(err)
	}
	if ex.ClusterID() != src.ClusterID() || len(ex.Topics()) != 1 || ex.NextProducerID() != 1000 || len(ex.Brokers()) != 3 {
		t.Fatalf("decoded: cluster %q topics %d next pid %d brokers %d", ex.ClusterID(), len(ex.Topics()), ex.NextProducerID(), len(ex.Brokers()))
	}
	restored, err := ex.RestoreOnto([]Broker{{ID: 7, Host: "new", Port: 9092}}, func(topic string, p int32) int32 {
		if p == 2 {
			return 40 // the remote data of partition 2 carries epoch 40
		}
		return -1
	})
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	if err := SeedSnapshot(dir, 7, restored); err != nil {
		t.Fatal(err)
	}
	if err := SeedSnapshot(dir, 7, restored); err == nil {
		t.Fatal("seeding a directory that holds raft state succeeded")
	}
	cfg := testConfig(t, dir)
	cfg.NodeID = 7
	dst := openReady(t, cfg)
	if dst.ClusterID() != src.ClusterID() {
		t.Fatalf("cluster id %q, want %q", dst.ClusterID(), src.ClusterID())
	}
	got, ok := dst.Topic("orders")
	if !ok || got.ID != orig.ID || got.Configs["retention.ms"] != "-1" || len(got.Partitions) != 3 {
		t.Fatalf("restored topic %+v", got)
	}
	for _, p := range got.Partitions {
		want := orig.Partitions[p.Index].LeaderEpoch + 1
		if p.Index == 2 {
			want = 41
		}
		if p.Leader != 7 || len(p.Replicas) != 1 || p.LeaderEpoch != want {
			t.Errorf("partition %d: %+v, want leader 7 epoch %d", p.Index, p, want)
		}
	}
	// The store takes writes: the quorum is this node.
	if _, err := dst.CreateTopic(ctx, TopicSpec{Name: "more", NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatalf("CreateTopic on the restored store: %v", err)
	}
	blk, err := dst.AllocateProducerIDs(ctx, 7, 10)
	if err != nil || blk.First < 1000 {
		t.Fatalf("producer ids after restore: %+v, %v", blk, err)
	}
}
