package meta

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestWriteErrors drives every write through raft with inputs it must
// reject, and checks the sentinel and that the state did not move.
func TestWriteErrors(t *testing.T) {
	ctx := context.Background()
	st := openReady(t, testConfig(t, t.TempDir()))
	registerBrokers(t, st, 1, 2, 3)
	if _, err := st.CreateTopic(ctx, TopicSpec{Name: "existing", NumPartitions: 2, ReplicationFactor: 2}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"register negative id", func() error { return st.RegisterBroker(ctx, Broker{ID: -1, Host: "h", Port: 1}) }, ErrInvalidBroker},
		{"register no host", func() error { return st.RegisterBroker(ctx, Broker{ID: 4, Port: 1}) }, ErrInvalidBroker},
		{"register bad port", func() error { return st.RegisterBroker(ctx, Broker{ID: 4, Host: "h", Port: 70000}) }, ErrInvalidBroker},
		{"unregister unknown", func() error { return st.UnregisterBroker(ctx, 42) }, ErrUnknownBroker},

		{"create exists", func() error { return create(st, TopicSpec{Name: "existing", NumPartitions: 1, ReplicationFactor: 1}) }, ErrTopicExists},
		{"create empty name", func() error { return create(st, TopicSpec{NumPartitions: 1, ReplicationFactor: 1}) }, ErrInvalidTopic},
		{"create dot name", func() error { return create(st, TopicSpec{Name: "..", NumPartitions: 1, ReplicationFactor: 1}) }, ErrInvalidTopic},
		{"create bad char", func() error { return create(st, TopicSpec{Name: "a/b", NumPartitions: 1, ReplicationFactor: 1}) }, ErrInvalidTopic},
		{"create long name", func() error {
			return create(st, TopicSpec{Name: strings.Repeat("a", 250), NumPartitions: 1, ReplicationFactor: 1})
		}, ErrInvalidTopic},
		{"create zero partitions", func() error { return create(st, TopicSpec{Name: "n", NumPartitions: 0, ReplicationFactor: 1}) }, ErrInvalidPartitions},
		{"create zero rf", func() error { return create(st, TopicSpec{Name: "n", NumPartitions: 1, ReplicationFactor: 0}) }, ErrInvalidReplicationFactor},
		{"create rf above brokers", func() error { return create(st, TopicSpec{Name: "n", NumPartitions: 1, ReplicationFactor: 4}) }, ErrNotEnoughBrokers},
		{"create assignment gap", func() error {
			return create(st, TopicSpec{Name: "n", Assignments: map[int32][]int32{0: {1}, 2: {2}}})
		}, ErrInvalidReplicaAssignment},
		{"create assignment unknown broker", func() error {
			return create(st, TopicSpec{Name: "n", Assignments: map[int32][]int32{0: {1, 9}}})
		}, ErrInvalidReplicaAssignment},
		{"create assignment duplicate replica", func() error {
			return create(st, TopicSpec{Name: "n", Assignments: map[int32][]int32{0: {1, 1}}})
		}, ErrInvalidReplicaAssignment},
		{"create assignment empty", func() error {
			return create(st, TopicSpec{Name: "n", Assignments: map[int32][]int32{0: {}}})
		}, ErrInvalidReplicaAssignment},
		{"create assignment uneven", func() error {
			return create(st, TopicSpec{Name: "n", Assignments: map[int32][]int32{0: {1}, 1: {1, 2}}})
		}, ErrInvalidReplicaAssignment},
		{"create assignment count mismatch", func() error {
			return create(st, TopicSpec{Name: "n", NumPartitions: 3, Assignments: map[int32][]int32{0: {1}}})
		}, ErrInvalidPartitions},
		{"create assignment rf mismatch", func() error {
			return create(st, TopicSpec{Name: "n", ReplicationFactor: 2, Assignments: map[int32][]int32{0: {1}}})
		}, ErrInvalidReplicationFactor},

		{"delete unknown", func() error { return st.DeleteTopic(ctx, "nope") }, ErrUnknownTopic},

		{"partitions unknown topic", func() error { return st.CreatePartitions(ctx, "nope", 3, nil) }, ErrUnknownTopic},
		{"partitions same count", func() error { return st.CreatePartitions(ctx, "existing", 2, nil) }, ErrInvalidPartitions},
		{"partitions fewer", func() error { return st.CreatePartitions(ctx, "existing", 1, nil) }, ErrInvalidPartitions},
		{"partitions wrong assignment count", func() error {
			return st.CreatePartitions(ctx, "existing", 4, [][]int32{{1, 2}})
		}, ErrInvalidReplicaAssignment},
		{"partitions unknown broker", func() error {
			return st.CreatePartitions(ctx, "existing", 3, [][]int32{{1, 7}})
		}, ErrInvalidReplicaAssignment},

		{"partitions rf mismatch", func() error {
			return st.CreatePartitions(ctx, "existing", 3, [][]int32{{1}})
		}, ErrInvalidReplicaAssignment},

		{"topic configs unknown topic", func() error { return st.SetTopicConfigs(ctx, "nope", map[string]string{"a": "b"}) }, ErrUnknownTopic},
		{"topic configs empty key", func() error { return st.SetTopicConfigs(ctx, "existing", map[string]string{"": "b"}) }, ErrInvalidConfig},
		{"cluster configs empty key", func() error { return st.SetClusterConfigs(ctx, map[string]string{"": "b"}) }, ErrInvalidConfig},

		{"update unknown topic", func() error { return st.UpdatePartition(ctx, PartitionUpdate{Topic: "nope"}) }, ErrUnknownTopic},
		{"update unknown partition", func() error {
			return st.UpdatePartition(ctx, PartitionUpdate{Topic: "existing", Partition: 5})
		}, ErrUnknownPartition},
		{"update negative partition", func() error {
			return st.UpdatePartition(ctx, PartitionUpdate{Topic: "existing", Partition: -1})
		}, ErrUnknownPartition},
		{"update stale epoch", func() error {
			return st.UpdatePartition(ctx, PartitionUpdate{Topic: "existing", ExpectedLeaderEpoch: 3, Leader: NoLeader})
		}, ErrStaleEpoch},
		{"update leader not replica", func() error {
			return st.UpdatePartition(ctx, PartitionUpdate{Topic: "existing", Leader: 9, ISR: []int32{9}})
		}, ErrInvalidReplicaAssignment},
		{"update leader not in isr", func() error {
			p := partitionOf(st, "existing", 0)
			return st.UpdatePartition(ctx, PartitionUpdate{Topic: "existing", Leader: p.Replicas[1], ISR: p.Replicas[:1]})
		}, ErrInvalidReplicaAssignment},
		{"update empty replicas", func() error {
			return st.UpdatePartition(ctx, PartitionUpdate{Topic: "existing", Leader: NoLeader, Replicas: []int32{}})
		}, ErrInvalidReplicaAssignment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, version := st.Topics(), st.Version()
			err := tc.do()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if st.Version() != version || !reflect.DeepEqual(st.Topics(), before) {
				t.Fatal("rejected write changed the state")
			}
		})
	}
}

func create(st *Store, spec TopicSpec) error {
	_, err := st.CreateTopic(context.Background(), spec)
	return err
}

func partitionOf(st *Store, topic string, p int32) Partition {
	tp, _ := st.Topic(topic)
	return tp.Partitions[p]
}

func TestWritesSucceed(t *testing.T) {
	ctx := context.Background()
	st := openReady(t, testConfig(t, t.TempDir()))
	registerBrokers(t, st, 1, 2, 3)

	// Round-robin placement: leaders rotate, every partition has RF
	// distinct replicas, ISR = replicas, epoch 0.
	tp, err := st.CreateTopic(ctx, TopicSpec{Name: "rr", NumPartitions: 6, ReplicationFactor: 2})
	if err != nil {
		t.Fatal(err)
	}
	leaders := map[int32]int{}
	for i, p := range tp.Partitions {
		if p.Index != int32(i) || len(p.Replicas) != 2 || p.Leader != p.Replicas[0] || p.LeaderEpoch != 0 || !reflect.DeepEqual(p.ISR, p.Replicas) {
			t.Fatalf("partition %d: %+v", i, p)
		}
		leaders[p.Leader]++
	}
	if len(leaders) != 3 || leaders[1] != 2 || leaders[2] != 2 || leaders[3] != 2 {
		t.Fatalf("leaders not spread: %v", leaders)
	}
	if tp.ID == ([16]byte{}) || tp.ID[6]>>4 != 4 {
		t.Fatalf("topic id %x is not a v4 uuid", tp.ID)
	}

	// Explicit assignments.
	tp2, err := st.CreateTopic(ctx, TopicSpec{Name: "manual", NumPartitions: -1, ReplicationFactor: -1, Assignments: map[int32][]int32{0: {3, 1}, 1: {2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if tp2.Partitions[0].Leader != 3 || !reflect.DeepEqual(tp2.Partitions[1].Replicas, []int32{2, 3}) {
		t.Fatalf("manual assignment not kept: %+v", tp2.Partitions)
	}

	// Grow with and without explicit assignments.
	if err := st.CreatePartitions(ctx, "rr", 8, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePartitions(ctx, "manual", 3, [][]int32{{1, 2}}); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Topic("rr")
	if len(got.Partitions) != 8 || got.Partitions[7].Index != 7 || len(got.Partitions[7].Replicas) != 2 {
		t.Fatalf("rr after growth: %+v", got.Partitions)
	}
	if p := partitionOf(st, "manual", 2); !reflect.DeepEqual(p.Replicas, []int32{1, 2}) || p.Leader != 1 {
		t.Fatalf("manual partition 2: %+v", p)
	}

	// Configs are replaced whole.
	if err := st.SetTopicConfigs(ctx, "rr", map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTopicConfigs(ctx, "rr", map[string]string{"b": "3"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Topic("rr"); !reflect.DeepEqual(got.Configs, map[string]string{"b": "3"}) {
		t.Fatalf("topic configs = %v", got.Configs)
	}
	if err := st.SetClusterConfigs(ctx, map[string]string{"x": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetClusterConfigs(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := st.ClusterConfigs(); got == nil || len(got) != 0 {
		t.Fatalf("cluster configs after clearing = %v", got)
	}

	// Leadership changes bump the epoch; ISR-only changes do not.
	p := partitionOf(st, "rr", 0)
	follower := p.Replicas[1]
	if err := st.UpdatePartition(ctx, PartitionUpdate{Topic: "rr", Partition: 0, ExpectedLeaderEpoch: 0, Leader: p.Leader, ISR: []int32{p.Leader}}); err != nil {
		t.Fatal(err)
	}
	if q := partitionOf(st, "rr", 0); q.LeaderEpoch != 0 || !reflect.DeepEqual(q.ISR, []int32{p.Leader}) {
		t.Fatalf("after ISR shrink: %+v", q)
	}
	if err := st.UpdatePartition(ctx, PartitionUpdate{Topic: "rr", Partition: 0, ExpectedLeaderEpoch: 0, Leader: follower, ISR: []int32{follower}}); err != nil {
		t.Fatal(err)
	}
	if q := partitionOf(st, "rr", 0); q.LeaderEpoch != 1 || q.Leader != follower {
		t.Fatalf("after leader change: %+v", q)
	}
	if err := st.UpdatePartition(ctx, PartitionUpdate{Topic: "rr", Partition: 0, ExpectedLeaderEpoch: 0, Leader: NoLeader}); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("update with old epoch: %v", err)
	}

	// Delete frees the name and the ID.
	if err := st.DeleteTopic(ctx, "rr"); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.TopicByID(tp.ID); ok {
		t.Fatal("deleted topic still found by id")
	}
	if _, err := st.CreateTopic(ctx, TopicSpec{Name: "rr", NumPartitions: 1, ReplicationFactor: 1}); err != nil {
		t.Fatalf("recreating deleted topic: %v", err)
	}

	// Unregistering a broker removes it.
	if err := st.UnregisterBroker(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Broker(3); ok {
		t.Fatal("broker 3 still registered")
	}
	if _, err := st.CreateTopic(ctx, TopicSpec{Name: "three", NumPartitions: 1, ReplicationFactor: 3}); !errors.Is(err, ErrNotEnoughBrokers) {
		t.Fatalf("rf 3 with two brokers: %v", err)
	}
}
