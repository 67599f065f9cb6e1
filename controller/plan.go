package controller

import (
	"fmt"
	"time"

	"github.com/stratalog/strata/meta"
)

// ActionKind says what an Action does.
type ActionKind string

// Action kinds.
const (
	// ActionFence: mark Broker fenced in the lease table (its lease ran
	// out); the partition updates that follow already treat it as dead.
	ActionFence ActionKind = "fence"
	// ActionElectLeader: propose Update (a new leader and ISR because the
	// old leader or ISR members are fenced).
	ActionElectLeader ActionKind = "elect-leader"
	// ActionPreferredLeader: propose Update (leadership back to the first
	// replica).
	ActionPreferredLeader ActionKind = "preferred-leader"
	// ActionCompleteReassignment: propose Update (a reassignment's target
	// replicas are all in the ISR: the replica set becomes the target).
	ActionCompleteReassignment ActionKind = "complete-reassignment"
)

// Action is one step of a plan, executed in order.
type Action struct {
	Kind   ActionKind
	Broker int32                // ActionFence
	Update meta.PartitionUpdate // partition actions
}

func (a Action) String() string {
	if a.Kind == ActionFence {
		return fmt.Sprintf("fence broker %d", a.Broker)
	}
	u := a.Update
	return fmt.Sprintf("%s %s/%d: leader %d isr %v (from epoch %d)", a.Kind, u.Topic, u.Partition, u.Leader, u.ISR, u.ExpectedLeaderEpoch)
}

// State is the metadata a plan is computed from, as read from meta.Store.
type State struct {
	Brokers []meta.Broker
	Topics  []meta.Topic
	// Unclean names the topics with unclean.leader.election.enable: a
	// partition of theirs with no live ISR member may be given to a live
	// out-of-sync replica.
	Unclean map[string]bool
}

// Options bound a reconcile step.
type Options struct {
	// MaxPreferredMoves bounds preferred-leader moves per step (Kafka runs
	// its preferred-leader election periodically for the same reason:
	// moving many leaders at once stalls clients). 0 disables them.
	MaxPreferredMoves int
}

// DefaultOptions moves up to 10 preferred leaders per step.
func DefaultOptions() Options { return Options{MaxPreferredMoves: 10} }

// Plan is one reconcile step. A broker is live when it is registered in
// st and its lease in leases is unexpired at now. The plan fences
// registered brokers whose lease has just run out, elects leaders from
// the ISR for partitions led by (or listing in their ISR) a broker that
// is not live, completes reassignments whose target replicas are all in
// the ISR, and then moves preferred leaders back, at most
// MaxPreferredMoves and never on a partition an earlier step changes.
// Plan reads leases but does not change them; the caller applies
// ActionFence with leases.Fence and each partition update with
// meta.Store.UpdatePartition, whose epoch guard rejects a stale plan.
func Plan(st State, leases *LeaseTable, now time.Time, opts Options) []Action {
	registered := map[int32]bool{}
	for _, b := range st.Brokers {
		registered[b.ID] = true
	}
	var out []Action
	for _, id := range leases.Expiring(now) {
		if registered[id] {
			out = append(out, Action{Kind: ActionFence, Broker: id})
		}
	}
	live := map[int32]bool{}
	for id := range leases.Live(now) {
		if registered[id] {
			live[id] = true
		}
	}
	changed := map[string]map[int32]bool{}
	for _, u := range ElectLeaders(st.Topics, live, st.Unclean) {
		out = append(out, Action{Kind: ActionElectLeader, Update: u})
		if changed[u.Topic] == nil {
			changed[u.Topic] = map[int32]bool{}
		}
		changed[u.Topic][u.Partition] = true
	}
	for _, u := range CompleteReassignments(st.Topics, live) {
		if changed[u.Topic][u.Partition] {
			continue
		}
		out = append(out, Action{Kind: ActionCompleteReassignment, Update: u})
		if changed[u.Topic] == nil {
			changed[u.Topic] = map[int32]bool{}
		}
		changed[u.Topic][u.Partition] = true
	}
	if opts.MaxPreferredMoves > 0 {
		n := 0
		for _, u := range PreferredLeaders(st.Topics, live, opts.MaxPreferredMoves+len(out)) {
			if n >= opts.MaxPreferredMoves {
				break
			}
			if changed[u.Topic][u.Partition] {
				continue
			}
			out = append(out, Action{Kind: ActionPreferredLeader, Update: u})
			n++
		}
	}
	return out
}

// LiveBrokers is the placement input for the brokers live at now: those
// registered in st whose lease is unexpired, with their racks.
func LiveBrokers(st State, leases *LeaseTable, now time.Time) []BrokerInfo {
	live := leases.Live(now)
	var out []BrokerInfo
	for _, b := range st.Brokers {
		if live[b.ID] {
			out = append(out, BrokerInfo{ID: b.ID, Rack: b.Rack})
		}
	}
	return out
}
