package meta

import "slices"

// PlanLeaderChanges is the controller's reconcile step as a pure function:
// given the topics and the set of live brokers, it returns the partition
// updates that move leadership off brokers that are gone and drop them
// from ISRs. The controller proposes each update with UpdatePartition; the
// ExpectedLeaderEpoch guard makes a plan computed from stale state fail
// with ErrStaleEpoch instead of overwriting newer decisions.
//
// For each partition:
//   - live leader: dead brokers leave the ISR (the leader stays in it);
//   - dead or no leader: the ISR shrinks to its live members and the first
//     replica, in replica order, that is still in it becomes leader;
//   - no live ISR member: the partition is left (or set) leaderless with
//     its ISR untouched, so a returning in-sync replica can take over and
//     no out-of-sync replica is ever elected — unless unclean names the
//     topic (unclean.leader.election.enable): then the first live replica
//     in replica order leads with an ISR of itself, and the update says
//     Unclean (records the old ISR had and it lacks are lost).
func PlanLeaderChanges(topics []Topic, live map[int32]bool, unclean map[string]bool) []PartitionUpdate {
	var out []PartitionUpdate
	for _, t := range topics {
		for _, p := range t.Partitions {
			if u, ok := planPartition(t.Name, p, live, unclean[t.Name]); ok {
				out = append(out, u)
			}
		}
	}
	return out
}

func planPartition(topic string, p Partition, live map[int32]bool, unclean bool) (PartitionUpdate, bool) {
	liveISR := make([]int32, 0, len(p.ISR))
	for _, r := range p.ISR {
		if live[r] {
			liveISR = append(liveISR, r)
		}
	}
	u := PartitionUpdate{Topic: topic, Partition: p.Index, ExpectedLeaderEpoch: p.LeaderEpoch, ExpectedISR: slices.Clone(p.ISR)}
	switch {
	case p.Leader != NoLeader && live[p.Leader]:
		if len(liveISR) == len(p.ISR) {
			return u, false
		}
		u.Leader, u.ISR = p.Leader, liveISR
	case len(liveISR) > 0:
		u.Leader = NoLeader
		for _, r := range p.Replicas {
			if slices.Contains(liveISR, r) {
				u.Leader = r
				break
			}
		}
		u.ISR = liveISR
	default:
		if unclean {
			for _, r := range p.Replicas {
				if live[r] {
					u.Leader, u.ISR, u.Unclean = r, []int32{r}, true
					return u, true
				}
			}
		}
		if p.Leader == NoLeader {
			return u, false
		}
		u.Leader, u.ISR = NoLeader, slices.Clone(p.ISR)
	}
	return u, true
}
