package controller

import (
	"cmp"
	"slices"

	"github.com/stratalog/strata/meta"
)

// ElectLeaders returns the updates that move leadership off brokers that
// are not live, electing the first live ISR member in replica order and
// dropping dead brokers from ISRs; a partition with no live ISR member is
// left leaderless rather than electing an out-of-sync replica. It is
// meta.PlanLeaderChanges: each update carries the leader epoch it was
// planned from.
func ElectLeaders(topics []meta.Topic, live map[int32]bool, unclean map[string]bool) []meta.PartitionUpdate {
	return meta.PlanLeaderChanges(sortedTopics(topics), live, unclean)
}

// PreferredLeaders returns at most max updates (max <= 0: none) that move
// leadership back to a partition's first replica where that replica is
// live and in the ISR and the current leader is another broker. Partitions
// are visited in topic name and partition order, so a bounded pass always
// makes progress through the same list. The ISR is unchanged; the guards
// are the partition's current leader epoch and ISR.
func PreferredLeaders(topics []meta.Topic, live map[int32]bool, max int) []meta.PartitionUpdate {
	var out []meta.PartitionUpdate
	for _, t := range sortedTopics(topics) {
		for _, p := range t.Partitions {
			if len(out) >= max {
				return out
			}
			if len(p.Replicas) == 0 {
				continue
			}
			pref := p.Replicas[0]
			if p.Leader == pref || !live[pref] || !slices.Contains(p.ISR, pref) {
				continue
			}
			out = append(out, meta.PartitionUpdate{
				Topic: t.Name, Partition: p.Index, ExpectedLeaderEpoch: p.LeaderEpoch,
				Leader: pref, ISR: slices.Clone(p.ISR), ExpectedISR: slices.Clone(p.ISR),
			})
		}
	}
	return out
}

// sortedTopics orders topics by name and each topic's partitions by
// index, on copies, so plans do not depend on the caller's order.
func sortedTopics(topics []meta.Topic) []meta.Topic {
	out := make([]meta.Topic, len(topics))
	for i, t := range topics {
		t.Partitions = slices.Clone(t.Partitions)
		slices.SortFunc(t.Partitions, func(a, b meta.Partition) int { return cmp.Compare(a.Index, b.Index) })
		out[i] = t
	}
	slices.SortFunc(out, func(a, b meta.Topic) int { return cmp.Compare(a.Name, b.Name) })
	return out
}
