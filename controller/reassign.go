package controller

import (
	"cmp"
	"slices"

	"github.com/stratalog/strata/meta"
)

// CompleteReassignments returns the updates that finish reassignments
// whose target replicas have all joined the ISR (Kafka's KIP-455): the
// replica set becomes the target, the ISR keeps its target members, and
// the leader stays if it is a live target replica, else moves to the
// first live target replica in the ISR (none: the partition waits). Each
// update is guarded by the partition's leader epoch, ISR and replicas, so
// a reassignment retargeted or cancelled meanwhile is not completed from
// the stale view.
func CompleteReassignments(topics []meta.Topic, live map[int32]bool) []meta.PartitionUpdate {
	var out []meta.PartitionUpdate
	for _, t := range sortedTopics(topics) {
		for _, p := range t.Partitions {
			if u, ok := completeReassignment(t.Name, p, live); ok {
				out = append(out, u)
			}
		}
	}
	return out
}

func completeReassignment(topic string, p meta.Partition, live map[int32]bool) (meta.PartitionUpdate, bool) {
	if !p.Reassigning() {
		return meta.PartitionUpdate{}, false
	}
	target := p.Target()
	for _, r := range target {
		if !slices.Contains(p.ISR, r) {
			return meta.PartitionUpdate{}, false
		}
	}
	leader := p.Leader
	if !slices.Contains(target, leader) || !live[leader] {
		leader = meta.NoLeader
		for _, r := range target {
			if live[r] {
				leader = r
				break
			}
		}
		if leader == meta.NoLeader {
			return meta.PartitionUpdate{}, false
		}
	}
	var isr []int32
	for _, r := range p.ISR {
		if slices.Contains(target, r) {
			isr = append(isr, r)
		}
	}
	return meta.PartitionUpdate{
		Topic: topic, Partition: p.Index, ExpectedLeaderEpoch: p.LeaderEpoch,
		Leader: leader, ISR: isr, Replicas: target,
		ExpectedISR: slices.Clone(p.ISR), ExpectedReplicas: slices.Clone(p.Replicas),
	}, true
}

// Assignment is one partition's replica list, first replica the
// preferred leader.
type Assignment struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
}

// PlanRebalance returns the reassignments that spread replicas and
// preferred leaders evenly over brokers, taking every replica off the
// brokers in drain (a decommission). Replicas on brokers neither listed
// nor drained (down, say) stay where they are and count for no one. It moves
// as little as it can: a replica that moves keeps its position in the
// list, so a partition's preferred leader changes only when its own
// broker leaves or when leaders are evened out by reordering a replica
// list, which copies nothing. A replacement goes to the broker holding
// the fewest replicas among those on a rack the partition does not use
// yet, if any. Ties go to the lower broker ID, so the plan is
// deterministic. Only changed assignments are returned, in topic and
// partition order; nil when nothing would change or no broker is
// eligible.
func PlanRebalance(brokers []BrokerInfo, current []Assignment, drain []int32) []Assignment {
	rack := map[int32]string{}
	var eligible []int32
	for _, b := range brokers {
		rack[b.ID] = b.Rack
		if !slices.Contains(drain, b.ID) {
			eligible = append(eligible, b.ID)
		}
	}
	slices.Sort(eligible)
	if len(eligible) == 0 {
		return nil
	}
	plan := make([]Assignment, len(current))
	for i, a := range current {
		plan[i] = Assignment{Topic: a.Topic, Partition: a.Partition, Replicas: slices.Clone(a.Replicas)}
	}
	slices.SortFunc(plan, func(a, b Assignment) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	count := map[int32]int{}
	for _, id := range eligible {
		count[id] = 0
	}
	for _, a := range plan {
		for _, r := range a.Replicas {
			if _, ok := count[r]; ok {
				count[r]++
			}
		}
	}
	// pick is the eligible broker a replica of a should move to, or -1.
	pick := func(a Assignment, from int32) int32 {
		used := map[string]bool{}
		for _, r := range a.Replicas {
			if r != from && rack[r] != "" {
				used[rack[r]] = true
			}
		}
		best, bestFresh := int32(-1), false
		for _, id := range eligible {
			if slices.Contains(a.Replicas, id) {
				continue
			}
			fresh := rack[id] == "" || !used[rack[id]]
			switch {
			case best < 0, fresh && !bestFresh, fresh == bestFresh && count[id] < count[best]:
				best, bestFresh = id, fresh
			}
		}
		return best
	}
	// 1. Replicas on drained brokers move.
	for i := range plan {
		for j, r := range plan[i].Replicas {
			if !slices.Contains(drain, r) {
				continue
			}
			if to := pick(plan[i], r); to >= 0 {
				plan[i].Replicas[j] = to
				count[to]++
			}
		}
	}
	// 2. Even out replica counts: move one replica at a time from the
	// fullest broker to the emptiest, while that narrows the spread and a
	// partition allows it without doubling up on a rack.
	for range len(plan) * len(eligible) {
		most, least := extremes(eligible, count)
		if count[most]-count[least] <= 1 {
			break
		}
		moved := false
		for i := range plan {
			j := slices.Index(plan[i].Replicas, most)
			if j < 0 || slices.Contains(plan[i].Replicas, least) || rackClash(plan[i], most, least, rack) {
				continue
			}
			plan[i].Replicas[j] = least
			count[most]--
			count[least]++
			moved = true
			break
		}
		if !moved {
			break
		}
	}
	// 3. Even out preferred leaders by reordering replica lists.
	leaders := map[int32]int{}
	for _, id := range eligible {
		leaders[id] = 0
	}
	for _, a := range plan {
		if len(a.Replicas) > 0 {
			leaders[a.Replicas[0]]++
		}
	}
	for range len(plan) {
		most, least := extremes(eligible, leaders)
		if leaders[most]-leaders[least] <= 1 {
			break
		}
		moved := false
		for i := range plan {
			rs := plan[i].Replicas
			if len(rs) == 0 || rs[0] != most {
				continue
			}
			if k := slices.Index(rs, least); k > 0 {
				rs[0], rs[k] = rs[k], rs[0]
				leaders[most]--
				leaders[least]++
				moved = true
				break
			}
		}
		if !moved {
			break
		}
	}
	var out []Assignment
	for _, a := range plan {
		i := slices.IndexFunc(current, func(c Assignment) bool { return c.Topic == a.Topic && c.Partition == a.Partition })
		if !slices.Equal(current[i].Replicas, a.Replicas) {
			out = append(out, a)
		}
	}
	return out
}

// rackClash reports whether replacing from by to in a puts two of its
// replicas on one rack.
func rackClash(a Assignment, from, to int32, rack map[int32]string) bool {
	if rack[to] == "" {
		return false
	}
	for _, r := range a.Replicas {
		if r != from && rack[r] == rack[to] {
			return true
		}
	}
	return false
}

// extremes returns the brokers with the most and the fewest of n (ties:
// the lower ID for the fewest, the higher for the most).
func extremes(ids []int32, n map[int32]int) (most, least int32) {
	most, least = ids[0], ids[0]
	for _, id := range ids {
		if n[id] >= n[most] {
			most = id
		}
		if n[id] < n[least] {
			least = id
		}
	}
	return most, least
}
