package controller

import (
	"cmp"
	"errors"
	"fmt"
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

// ElectionType is what an ElectLeaders request asks for.
type ElectionType int8

// Election types, numbered as in Kafka's ElectLeaders request.
const (
	// ElectPreferred moves leadership to the first replica when it is live
	// and in the ISR.
	ElectPreferred ElectionType = 0
	// ElectUnclean gives a leaderless partition a leader: the first live
	// ISR member in replica order or, when none is live, the first live
	// replica even though it is out of sync (it may lack acknowledged
	// records: an operator's explicit choice of availability).
	ElectUnclean ElectionType = 1
)

// Errors of PlanElection, mapped to Kafka's error codes by the handler.
var (
	// ErrElectionNotNeeded: the partition already has the leader asked for.
	ErrElectionNotNeeded = errors.New("election not needed")
	// ErrPreferredNotAvailable: the preferred replica is not live or not
	// in the ISR.
	ErrPreferredNotAvailable = errors.New("preferred leader not available")
	// ErrNoEligibleLeader: no replica the election may choose is live.
	ErrNoEligibleLeader = errors.New("no eligible leader")
)

// PlanElection decides the update an ElectLeaders request makes to one
// partition, from the committed metadata and the live brokers. The update
// is guarded by the partition's leader epoch and ISR, so a decision made
// from a view that has since changed is refused when it is applied.
func PlanElection(topic string, p meta.Partition, kind ElectionType, live map[int32]bool) (meta.PartitionUpdate, error) {
	u := meta.PartitionUpdate{
		Topic: topic, Partition: p.Index, ExpectedLeaderEpoch: p.LeaderEpoch,
		ISR: slices.Clone(p.ISR), ExpectedISR: slices.Clone(p.ISR),
	}
	if len(p.Replicas) == 0 {
		return u, ErrNoEligibleLeader
	}
	switch kind {
	case ElectPreferred:
		pref := p.Replicas[0]
		switch {
		case !live[pref]:
			// Even when the metadata still names it leader: a dead leader
			// serves nothing, whatever the controller has yet to commit.
			return u, ErrPreferredNotAvailable
		case p.Leader == pref:
			return u, ErrElectionNotNeeded
		case !slices.Contains(p.ISR, pref):
			return u, ErrPreferredNotAvailable
		}
		u.Leader = pref
		return u, nil
	case ElectUnclean:
		if p.Leader != meta.NoLeader && live[p.Leader] {
			return u, ErrElectionNotNeeded
		}
		for _, r := range p.Replicas {
			if live[r] && slices.Contains(p.ISR, r) {
				u.Leader = r
				u.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(b int32) bool { return !live[b] })
				return u, nil
			}
		}
		for _, r := range p.Replicas {
			if live[r] {
				u.Leader, u.ISR, u.Unclean = r, []int32{r}, true
				return u, nil
			}
		}
		return u, ErrNoEligibleLeader
	}
	return u, fmt.Errorf("unknown election type %d", kind)
}
