package controller

import (
	"slices"
	"testing"
	"time"

	"github.com/stratalog/strata/meta"
)

func TestCompleteReassignments(t *testing.T) {
	live := map[int32]bool{1: true, 2: true, 3: true, 4: true}
	moving := meta.Partition{Index: 0, Leader: 1, LeaderEpoch: 3, Replicas: []int32{4, 2, 3, 1}, ISR: []int32{1, 2, 3}, Adding: []int32{4}, Removing: []int32{1}}
	topics := []meta.Topic{{Name: "a", Partitions: []meta.Partition{moving}}}
	if us := CompleteReassignments(topics, live); len(us) != 0 {
		t.Fatalf("completed before the new replica joined the ISR: %+v", us)
	}
	moving.ISR = []int32{1, 2, 3, 4}
	topics[0].Partitions[0] = moving
	us := CompleteReassignments(topics, live)
	if len(us) != 1 {
		t.Fatalf("updates: %+v", us)
	}
	u := us[0]
	// The leader leaves: the first live target replica takes over.
	if u.Leader != 4 || !slices.Equal(u.Replicas, []int32{4, 2, 3}) || !slices.Equal(u.ISR, []int32{2, 3, 4}) ||
		u.ExpectedLeaderEpoch != 3 || !slices.Equal(u.ExpectedReplicas, moving.Replicas) || !slices.Equal(u.ExpectedISR, moving.ISR) {
		t.Fatalf("update: %+v", u)
	}
	// A leader that stays keeps leading; a dead target leader is skipped.
	moving.Leader = 2
	topics[0].Partitions[0] = moving
	if u := CompleteReassignments(topics, live)[0]; u.Leader != 2 {
		t.Fatalf("leader moved needlessly: %+v", u)
	}
	moving.Leader = 1
	topics[0].Partitions[0] = moving
	if u := CompleteReassignments(topics, map[int32]bool{1: true, 2: true, 3: true}); u[0].Leader != 2 {
		t.Fatalf("dead target replica chosen: %+v", u)
	}
	if us := CompleteReassignments(topics, map[int32]bool{1: true}); len(us) != 0 {
		t.Fatalf("completed with no live target replica: %+v", us)
	}
}

func TestPlanCompletesReassignment(t *testing.T) {
	t0 := time.Unix(1000, 0)
	leases, _ := NewLeaseTable(time.Second)
	var brokers []meta.Broker
	for id := int32(1); id <= 4; id++ {
		_, _ = leases.Register(id, t0)
		brokers = append(brokers, meta.Broker{ID: id})
	}
	p := meta.Partition{Index: 0, Leader: 1, Replicas: []int32{4, 2, 3, 1}, ISR: []int32{1, 2, 3, 4}, Adding: []int32{4}, Removing: []int32{1}}
	st := State{Brokers: brokers, Topics: []meta.Topic{{Name: "a", Partitions: []meta.Partition{p}}}}
	acts := Plan(st, leases, t0, DefaultOptions())
	if len(acts) != 1 || acts[0].Kind != ActionCompleteReassignment || acts[0].Update.Leader != 4 {
		t.Fatalf("plan: %v", acts)
	}
}

func planCounts(plan []Assignment) (replicas, leaders map[int32]int) {
	replicas, leaders = map[int32]int{}, map[int32]int{}
	for _, a := range plan {
		for _, r := range a.Replicas {
			replicas[r]++
		}
		leaders[a.Replicas[0]]++
	}
	return replicas, leaders
}

// apply lays changes over current.
func apply(current, changes []Assignment) []Assignment {
	out := slices.Clone(current)
	for _, c := range changes {
		for i := range out {
			if out[i].Topic == c.Topic && out[i].Partition == c.Partition {
				out[i] = c
			}
		}
	}
	return out
}

func TestPlanRebalanceSpreadsOntoNewBroker(t *testing.T) {
	var cur []Assignment
	for p := range int32(6) {
		cur = append(cur, Assignment{Topic: "t", Partition: p, Replicas: []int32{1 + p%3, 1 + (p+1)%3, 1 + (p+2)%3}})
	}
	brokers := []BrokerInfo{{ID: 1}, {ID: 2}, {ID: 3}, {ID: 4}}
	changes := PlanRebalance(brokers, cur, nil)
	after := apply(cur, changes)
	reps, leaders := planCounts(after)
	// 18 replicas over 4 brokers: 4 or 5 each; 6 leaders: 1 or 2 each.
	for _, b := range brokers {
		if reps[b.ID] < 4 || reps[b.ID] > 5 || leaders[b.ID] < 1 || leaders[b.ID] > 2 {
			t.Fatalf("uneven: replicas %v leaders %v after %v", reps, leaders, changes)
		}
	}
	moved := 0
	for _, c := range changes {
		i := slices.IndexFunc(cur, func(a Assignment) bool { return a.Partition == c.Partition })
		for _, r := range c.Replicas {
			if !slices.Contains(cur[i].Replicas, r) {
				moved++
			}
		}
		if len(c.Replicas) != 3 || len(slices.Compact(slices.Sorted(slices.Values(c.Replicas)))) != 3 {
			t.Fatalf("bad replica list %v", c.Replicas)
		}
	}
	if moved != 4 {
		t.Fatalf("%d replicas moved, want 4 (the new broker's share): %v", moved, changes)
	}
	if again := PlanRebalance(brokers, after, nil); len(again) != 0 {
		t.Fatalf("a balanced layout is planned again: %v", again)
	}
}

func TestPlanRebalanceDrains(t *testing.T) {
	cur := []Assignment{
		{Topic: "t", Partition: 0, Replicas: []int32{1, 2}},
		{Topic: "t", Partition: 1, Replicas: []int32{2, 3}},
		{Topic: "t", Partition: 2, Replicas: []int32{3, 1}},
		{Topic: "u", Partition: 0, Replicas: []int32{9, 1}}, // 9 is gone
		{Topic: "v", Partition: 0, Replicas: []int32{8, 2}}, // 8 is down: stays
	}
	brokers := []BrokerInfo{{ID: 1, Rack: "a"}, {ID: 2, Rack: "b"}, {ID: 3, Rack: "a"}, {ID: 4, Rack: "b"}}
	after := apply(cur, PlanRebalance(brokers, cur, []int32{3, 9}))
	if !slices.Equal(after[4].Replicas, []int32{8, 2}) {
		t.Fatalf("a replica on an unlisted broker moved: %v", after[4])
	}
	for _, a := range after[:4] {
		if slices.Contains(a.Replicas, 3) || slices.Contains(a.Replicas, 9) {
			t.Fatalf("drained broker kept: %v", after)
		}
		if len(a.Replicas) != 2 || a.Replicas[0] == a.Replicas[1] {
			t.Fatalf("bad list: %v", after)
		}
	}
	// t/1 was {2 (b), 3 (a)}: 3's replacement must be on rack a: broker 1.
	if got := after[1].Replicas; !slices.Contains(got, 1) {
		t.Fatalf("rack-aware replacement: t/1 = %v", got)
	}
	if PlanRebalance([]BrokerInfo{{ID: 1}}, cur, []int32{1}) != nil {
		t.Fatal("a plan with no eligible broker")
	}
}
