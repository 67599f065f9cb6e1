package meta

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

func TestPlanLeaderChanges(t *testing.T) {
	part := func(idx, leader, epoch int32, replicas, isr []int32) Partition {
		return Partition{Index: idx, Leader: leader, LeaderEpoch: epoch, Replicas: replicas, ISR: isr}
	}
	topics := []Topic{{Name: "a", Partitions: []Partition{
		part(0, 1, 0, []int32{1, 3}, []int32{1, 3}),           // all live: nothing
		part(1, 2, 4, []int32{2, 3, 1}, []int32{2, 3, 1}),     // leader 2 dead: 3 leads
		part(2, 1, 0, []int32{1, 2}, []int32{1, 2}),           // follower 2 dead: isr shrinks
		part(3, 2, 1, []int32{2, 4}, []int32{2, 4}),           // nobody in isr live: leaderless
		part(4, NoLeader, 2, []int32{2, 4}, []int32{2, 4}),    // already leaderless: nothing
		part(5, NoLeader, 3, []int32{4, 3, 1}, []int32{4, 1}), // 1 back in isr: elected
		part(6, 2, 0, []int32{2, 3}, []int32{2}),              // 3 live but out of sync: not elected
		part(7, 1, 0, []int32{1, 2, 3}, []int32{1, 3, 2}),     // live leader, dead follower mid-list
	}}}
	live := map[int32]bool{1: true, 3: true}
	got := PlanLeaderChanges(topics, live, nil)
	want := []PartitionUpdate{
		{Topic: "a", Partition: 1, ExpectedLeaderEpoch: 4, Leader: 3, ISR: []int32{3, 1}, ExpectedISR: []int32{2, 3, 1}},
		{Topic: "a", Partition: 2, ExpectedLeaderEpoch: 0, Leader: 1, ISR: []int32{1}, ExpectedISR: []int32{1, 2}},
		{Topic: "a", Partition: 3, ExpectedLeaderEpoch: 1, Leader: NoLeader, ISR: []int32{2, 4}, ExpectedISR: []int32{2, 4}},
		{Topic: "a", Partition: 5, ExpectedLeaderEpoch: 3, Leader: 1, ISR: []int32{1}, ExpectedISR: []int32{4, 1}},
		{Topic: "a", Partition: 6, ExpectedLeaderEpoch: 0, Leader: NoLeader, ISR: []int32{2}, ExpectedISR: []int32{2}},
		{Topic: "a", Partition: 7, ExpectedLeaderEpoch: 0, Leader: 1, ISR: []int32{1, 3}, ExpectedISR: []int32{1, 3, 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan:\n got %+v\nwant %+v", got, want)
	}
}

func TestPlanLeaderChangesUnclean(t *testing.T) {
	topics := []Topic{{Name: "u", Partitions: []Partition{
		{Index: 0, Leader: 2, LeaderEpoch: 5, Replicas: []int32{2, 4, 3}, ISR: []int32{2}}, // only 3 live, out of sync: elected
		{Index: 1, Leader: 2, LeaderEpoch: 1, Replicas: []int32{2, 4}, ISR: []int32{2}},    // no live replica: leaderless
		{Index: 2, Leader: 2, LeaderEpoch: 0, Replicas: []int32{2, 3}, ISR: []int32{2, 3}}, // live ISR member: clean election
	}}, {Name: "clean", Partitions: []Partition{
		{Index: 0, Leader: 2, LeaderEpoch: 0, Replicas: []int32{2, 3}, ISR: []int32{2}}, // topic not unclean: leaderless
	}}}
	live := map[int32]bool{1: true, 3: true}
	got := PlanLeaderChanges(topics, live, map[string]bool{"u": true})
	want := []PartitionUpdate{
		{Topic: "u", Partition: 0, ExpectedLeaderEpoch: 5, Leader: 3, ISR: []int32{3}, ExpectedISR: []int32{2}, Unclean: true},
		{Topic: "u", Partition: 1, ExpectedLeaderEpoch: 1, Leader: NoLeader, ISR: []int32{2}, ExpectedISR: []int32{2}},
		{Topic: "u", Partition: 2, ExpectedLeaderEpoch: 0, Leader: 3, ISR: []int32{3}, ExpectedISR: []int32{2, 3}},
		{Topic: "clean", Partition: 0, ExpectedLeaderEpoch: 0, Leader: NoLeader, ISR: []int32{2}, ExpectedISR: []int32{2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plan:\n got %+v\nwant %+v", got, want)
	}
}

// TestPlanAppliesThroughRaft runs a plan against a real store: every update
// is accepted, epochs move only with the leader, and re-planning on the
// result is empty.
func TestPlanAppliesThroughRaft(t *testing.T) {
	ctx := context.Background()
	st := openReady(t, testConfig(t, t.TempDir()))
	registerBrokers(t, st, 1, 2, 3)
	if _, err := st.CreateTopic(ctx, TopicSpec{Name: "p", NumPartitions: 6, ReplicationFactor: 2}); err != nil {
		t.Fatal(err)
	}
	live := map[int32]bool{1: true, 3: true}
	before, _ := st.Topic("p")
	plan := PlanLeaderChanges(st.Topics(), live, nil)
	if len(plan) == 0 {
		t.Fatal("losing broker 2 planned nothing")
	}
	for _, u := range plan {
		if err := st.UpdatePartition(ctx, u); err != nil {
			t.Fatalf("%+v: %v", u, err)
		}
	}
	after, _ := st.Topic("p")
	for i, p := range after.Partitions {
		if p.Leader == 2 || containsInt32(p.ISR, 2) {
			t.Fatalf("partition %d still uses broker 2: %+v", i, p)
		}
		moved := before.Partitions[i].Leader != p.Leader
		if moved != (p.LeaderEpoch == before.Partitions[i].LeaderEpoch+1) {
			t.Fatalf("partition %d epoch %d -> %d with leader %d -> %d", i, before.Partitions[i].LeaderEpoch, p.LeaderEpoch, before.Partitions[i].Leader, p.Leader)
		}
	}
	if again := PlanLeaderChanges(st.Topics(), live, nil); len(again) != 0 {
		t.Fatalf("plan not settled: %+v", again)
	}
	// Replaying the first plan is refused by the epoch guard where the
	// leader moved.
	var stale int
	for _, u := range plan {
		if err := st.UpdatePartition(ctx, u); err != nil {
			stale++
		}
	}
	if stale == 0 {
		t.Fatal("stale plan fully re-applied")
	}
}

func containsInt32(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestUpdatePartitionExpectedISR: an update decided from an ISR that has
// since changed is refused, one decided from the current ISR applies, and
// neither moves the leader epoch while the leader stays.
func TestUpdatePartitionExpectedISR(t *testing.T) {
	ctx := context.Background()
	st := openReady(t, testConfig(t, t.TempDir()))
	registerBrokers(t, st, 1, 2, 3)
	if _, err := st.CreateTopic(ctx, TopicSpec{Name: "c", Assignments: map[int32][]int32{0: {1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	shrink := PartitionUpdate{Topic: "c", Partition: 0, ExpectedLeaderEpoch: 0, Leader: 1,
		ISR: []int32{1, 2}, ExpectedISR: []int32{3, 2, 1}}
	if err := st.UpdatePartition(ctx, shrink); err != nil {
		t.Fatal(err)
	}
	// A second writer still deciding from {1,2,3}.
	stale := PartitionUpdate{Topic: "c", Partition: 0, ExpectedLeaderEpoch: 0, Leader: 3,
		ISR: []int32{3}, ExpectedISR: []int32{1, 2, 3}}
	if err := st.UpdatePartition(ctx, stale); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("stale isr: %v", err)
	}
	grow := PartitionUpdate{Topic: "c", Partition: 0, ExpectedLeaderEpoch: 0, Leader: 1,
		ISR: []int32{1, 2, 3}, ExpectedISR: []int32{2, 1}}
	if err := st.UpdatePartition(ctx, grow); err != nil {
		t.Fatal(err)
	}
	tp, _ := st.Topic("c")
	if p := tp.Partitions[0]; p.Leader != 1 || p.LeaderEpoch != 0 || !reflect.DeepEqual(p.ISR, []int32{1, 2, 3}) {
		t.Fatalf("partition %+v", p)
	}
}

// TestISRRefusesFencedBrokers: a broker joins an ISR only while registered
// and unfenced; one already in the ISR may stay while fenced (the
// controller, not this guard, removes it).
func TestISRRefusesFencedBrokers(t *testing.T) {
	ctx := context.Background()
	st := openReady(t, testConfig(t, t.TempDir()))
	registerBrokers(t, st, 1, 2, 3)
	if _, err := st.CreateTopic(ctx, TopicSpec{Name: "f", NumPartitions: 1, ReplicationFactor: 3}); err != nil {
		t.Fatal(err)
	}
	p := func() Partition { tp, _ := st.Topic("f"); return tp.Partitions[0] }
	cur := p()
	var out, in int32 = -1, -1
	for _, r := range cur.Replicas {
		if r != cur.Leader && out < 0 {
			out = r
		} else if r != cur.Leader {
			in = r
		}
	}
	shrink := PartitionUpdate{Topic: "f", ExpectedLeaderEpoch: cur.LeaderEpoch, Leader: cur.Leader, ISR: []int32{cur.Leader, in}, ExpectedISR: cur.ISR}
	if err := st.UpdatePartition(ctx, shrink); err != nil {
		t.Fatal(err)
	}
	if err := st.SetBrokerFenced(ctx, out, true); err != nil {
		t.Fatal(err)
	}
	if err := st.SetBrokerFenced(ctx, in, true); err != nil {
		t.Fatal(err)
	}
	grow := PartitionUpdate{Topic: "f", ExpectedLeaderEpoch: cur.LeaderEpoch, Leader: cur.Leader, ISR: cur.Replicas, ExpectedISR: []int32{cur.Leader, in}}
	if err := st.UpdatePartition(ctx, grow); !errors.Is(err, ErrIneligibleReplica) {
		t.Fatalf("fenced broker %d joined the ISR: %v (%+v)", out, err, p())
	}
	if err := st.SetBrokerFenced(ctx, out, false); err != nil {
		t.Fatal(err)
	}
	// in is still fenced but already a member: the update may keep it.
	if err := st.UpdatePartition(ctx, grow); err != nil {
		t.Fatalf("unfenced broker %d refused: %v", out, err)
	}
	if got := p().ISR; len(got) != 3 {
		t.Fatalf("ISR %v, want all three", got)
	}
}
