package controller

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/stratalog/strata/meta"
)

func part(idx, leader, epoch int32, replicas, isr []int32) meta.Partition {
	return meta.Partition{Index: idx, Leader: leader, LeaderEpoch: epoch, Replicas: replicas, ISR: isr}
}

func ids(v ...int32) []int32 { return v }

func TestPreferredLeaders(t *testing.T) {
	topics := []meta.Topic{
		{Name: "b", Partitions: []meta.Partition{
			part(1, 2, 4, ids(1, 2), ids(1, 2)), // 1 preferred, live, in ISR: move
			part(0, 2, 3, ids(1, 2), ids(2)),    // 1 not in ISR: stay
		}},
		{Name: "a", Partitions: []meta.Partition{
			part(0, 1, 0, ids(1, 2), ids(1, 2)), // already preferred
			part(1, 1, 2, ids(3, 1), ids(3, 1)), // 3 not live: stay
			part(2, 2, 7, ids(1, 2), ids(2, 1)), // move
			part(3, meta.NoLeader, 1, ids(1), ids(1)),
		}},
	}
	live := map[int32]bool{1: true, 2: true}
	want := []meta.PartitionUpdate{
		{Topic: "a", Partition: 2, ExpectedLeaderEpoch: 7, Leader: 1, ISR: ids(2, 1), ExpectedISR: ids(2, 1)},
		{Topic: "a", Partition: 3, ExpectedLeaderEpoch: 1, Leader: 1, ISR: ids(1), ExpectedISR: ids(1)},
		{Topic: "b", Partition: 1, ExpectedLeaderEpoch: 4, Leader: 1, ISR: ids(1, 2), ExpectedISR: ids(1, 2)},
	}
	if got := PreferredLeaders(topics, live, 10); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got := PreferredLeaders(topics, live, 2); !reflect.DeepEqual(got, want[:2]) {
		t.Fatalf("bounded: %+v", got)
	}
	if got := PreferredLeaders(topics, live, 0); got != nil {
		t.Fatalf("max 0: %+v", got)
	}
	if topics[0].Partitions[0].Index != 1 {
		t.Fatal("input reordered")
	}
}

func TestPlan(t *testing.T) {
	t0 := time.Unix(1000, 0)
	st := State{
		Brokers: []meta.Broker{{ID: 1}, {ID: 2}, {ID: 3}},
		Topics: []meta.Topic{{Name: "t", Partitions: []meta.Partition{
			part(0, 2, 5, ids(1, 2, 3), ids(1, 2, 3)), // leader 2 dies: elect 1 (first live ISR member)
			part(1, 3, 1, ids(2, 3), ids(3)),          // unaffected leader, preferred 2 dead
			part(2, 3, 2, ids(1, 3), ids(1, 3)),       // preferred 1 live: move
			part(3, 3, 0, ids(2, 1, 3), ids(2, 3)),    // 2 dead: drop from ISR only
			part(4, 2, 9, ids(2), ids(2)),             // only replica dead: leaderless
		}}},
	}
	lt, _ := NewLeaseTable(time.Second)
	for _, id := range []int32{1, 2, 3, 4} { // 4: leased but not registered
		_, _ = lt.Register(id, t0)
	}
	_, _ = lt.Heartbeat(1, lt.Epoch(1), t0.Add(800*time.Millisecond))
	_, _ = lt.Heartbeat(3, lt.Epoch(3), t0.Add(800*time.Millisecond))
	now := t0.Add(1500 * time.Millisecond) // 2 and 4 expired

	got := Plan(st, lt, now, DefaultOptions())
	want := []Action{
		{Kind: ActionFence, Broker: 2},
		{Kind: ActionElectLeader, Update: meta.PartitionUpdate{Topic: "t", Partition: 0, ExpectedLeaderEpoch: 5, Leader: 1, ISR: ids(1, 3), ExpectedISR: ids(1, 2, 3)}},
		{Kind: ActionElectLeader, Update: meta.PartitionUpdate{Topic: "t", Partition: 3, ExpectedLeaderEpoch: 0, Leader: 3, ISR: ids(3), ExpectedISR: ids(2, 3)}},
		{Kind: ActionElectLeader, Update: meta.PartitionUpdate{Topic: "t", Partition: 4, ExpectedLeaderEpoch: 9, Leader: meta.NoLeader, ISR: ids(2), ExpectedISR: ids(2)}},
		{Kind: ActionPreferredLeader, Update: meta.PartitionUpdate{Topic: "t", Partition: 2, ExpectedLeaderEpoch: 2, Leader: 1, ISR: ids(1, 3), ExpectedISR: ids(1, 3)}},
	}
	if !reflect.DeepEqual(got, want) {
		for _, a := range got {
			t.Log(a)
		}
		t.Fatalf("plan differs")
	}
	if p := Plan(st, lt, now, Options{}); len(p) != 4 {
		t.Fatalf("without preferred moves: %v", p)
	}
	// Nothing expired, everyone preferred: nothing to do.
	calm := State{Brokers: st.Brokers, Topics: []meta.Topic{{Name: "t", Partitions: []meta.Partition{part(0, 1, 0, ids(1, 3), ids(1, 3))}}}}
	if p := Plan(calm, lt, t0.Add(900*time.Millisecond), DefaultOptions()); len(p) != 0 {
		t.Fatalf("calm plan: %v", p)
	}
	if lb := LiveBrokers(st, lt, now); !reflect.DeepEqual(lb, []BrokerInfo{{ID: 1}, {ID: 3}}) {
		t.Fatalf("live brokers %v", lb)
	}
}

// TestPlanAppliedToStore runs plans against a real single-node metadata
// store: executing a plan reaches a fixpoint, and a plan made from state
// that has moved on is rejected by the epoch guard.
func TestPlanAppliedToStore(t *testing.T) {
	cfg := meta.DefaultConfig()
	cfg.NodeID, cfg.Dir = 1, t.TempDir()
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := meta.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := store.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	lt, _ := NewLeaseTable(time.Second)
	var infos []BrokerInfo
	for id := int32(1); id <= 3; id++ {
		rack := map[int32]string{1: "a", 2: "b", 3: "a"}[id]
		if err := store.RegisterBroker(ctx, meta.Broker{ID: id, Host: "h", Port: 9092, Rack: rack}); err != nil {
			t.Fatal(err)
		}
		_, _ = lt.Register(id, now)
		infos = append(infos, BrokerInfo{ID: id, Rack: rack})
	}
	assign, err := PlaceReplicas(infos, nil, 6, 2)
	if err != nil {
		t.Fatal(err)
	}
	spec := meta.TopicSpec{Name: "orders", Assignments: map[int32][]int32{}}
	for p, rs := range assign {
		spec.Assignments[int32(p)] = rs
	}
	if _, err := store.CreateTopic(ctx, spec); err != nil {
		t.Fatal(err)
	}
	state := func() State { return State{Brokers: store.Brokers(), Topics: store.Topics()} }
	execute := func(plan []Action) error {
		for _, a := range plan {
			if a.Kind == ActionFence {
				lt.Fence(a.Broker)
				continue
			}
			if err := store.UpdatePartition(ctx, a.Update); err != nil {
				return err
			}
		}
		return nil
	}

	// Broker 2 stops heartbeating.
	for _, id := range []int32{1, 3} {
		_, _ = lt.Heartbeat(id, lt.Epoch(id), now.Add(900*time.Millisecond))
	}
	now = now.Add(1500 * time.Millisecond)
	plan := Plan(state(), lt, now, DefaultOptions())
	if len(plan) == 0 || plan[0].Kind != ActionFence || plan[0].Broker != 2 {
		t.Fatalf("plan %v", plan)
	}
	if err := execute(plan); err != nil {
		t.Fatal(err)
	}
	for _, p := range store.Topics()[0].Partitions {
		if p.Leader == 2 || p.Leader == meta.NoLeader || containsID(p.ISR, 2) {
			t.Fatalf("after fencing 2: %+v", p)
		}
	}
	if p := Plan(state(), lt, now, DefaultOptions()); len(p) != 0 {
		t.Fatalf("not a fixpoint: %v", p)
	}

	// 2 comes back; the partition leader would re-add it to ISRs (not the
	// controller's job): simulate that, then preferred leaders move back.
	if _, err := lt.Heartbeat(2, lt.Epoch(2), now); err != nil {
		t.Fatal(err)
	}
	for _, p := range store.Topics()[0].Partitions {
		if err := store.UpdatePartition(ctx, meta.PartitionUpdate{Topic: "orders", Partition: p.Index,
			ExpectedLeaderEpoch: p.LeaderEpoch, Leader: p.Leader, ISR: p.Replicas}); err != nil {
			t.Fatal(err)
		}
	}
	stale := Plan(state(), lt, now, DefaultOptions())
	if len(stale) == 0 {
		t.Fatal("no preferred-leader moves")
	}
	if err := execute(stale); err != nil {
		t.Fatal(err)
	}
	for _, p := range store.Topics()[0].Partitions {
		if p.Leader != p.Replicas[0] {
			t.Fatalf("preferred leader not restored: %+v", p)
		}
	}
	// Replaying the old plan now fails on the epoch guard.
	if err := execute(stale); !errors.Is(err, meta.ErrStaleEpoch) {
		t.Fatalf("stale plan: %v, want ErrStaleEpoch", err)
	}
}

func containsID(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
