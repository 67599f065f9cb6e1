package controller

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/stratalog/strata/meta"
)

// Candidate is a node as gossip shows it, for PlanQuorum.
type Candidate struct {
	ID       int32
	RaftAddr string
	// Voter: the node asked to be a voter (--bootstrap-expect set).
	Voter bool
	// Alive: gossip sees it alive. Left: it left gracefully (or was
	// reaped). A member neither alive nor left has failed and may return.
	Alive bool
	Left  bool
	// Foreign: it advertises another cluster's ID. It is never added:
	// its raft log is not ours.
	Foreign bool
}

// QuorumChangeKind says what a QuorumChange does to the raft configuration.
type QuorumChangeKind string

// Quorum change kinds.
const (
	AddVoter    QuorumChangeKind = "add-voter"
	AddNonvoter QuorumChangeKind = "add-nonvoter"
	Remove      QuorumChangeKind = "remove"
)

// QuorumChange is one raft membership change, for meta.Store.AddVoter,
// AddNonvoter or RemoveServer.
type QuorumChange struct {
	Kind QuorumChangeKind
	ID   int32
	Addr string
}

func (c QuorumChange) String() string { return fmt.Sprintf("%s %d at %s", c.Kind, c.ID, c.Addr) }

// PlanQuorum compares the raft configuration with the members gossip
// shows and returns the changes the leader (self) makes, in order:
//
//   - a non-voter that left gracefully is removed; a voter that left
//     stays, as Consul keeps servers: a rolling restart must not shrink
//     the quorum (RemoveServer is the operator's decision);
//   - an alive member whose raft address changed is re-added under the
//     same suffrage (raft updates the address in place);
//   - an alive member that asked to vote becomes a voter while there are
//     fewer than maxVoters, lowest node ID first; every other alive member
//     not yet in the configuration becomes a non-voter, which still
//     applies the metadata log.
//
// Failed members stay: they may come back, and removing a voter on a
// suspicion would shrink the quorum under a partition.
func PlanQuorum(servers []meta.Server, members []Candidate, maxVoters int, self int32) []QuorumChange {
	byID := map[int32]meta.Server{}
	voters := 0
	for _, s := range servers {
		byID[s.ID] = s
		if s.Suffrage == meta.Voter {
			voters++
		}
	}
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b Candidate) int { return cmp.Compare(a.ID, b.ID) })
	var out []QuorumChange
	for _, m := range ms {
		if s, in := byID[m.ID]; in && m.Left && !m.Alive && m.ID != self && s.Suffrage == meta.Nonvoter {
			out = append(out, QuorumChange{Kind: Remove, ID: m.ID, Addr: s.Addr})
			delete(byID, m.ID)
		}
	}
	for _, m := range ms {
		if !m.Alive || m.RaftAddr == "" || m.Foreign {
			continue
		}
		s, in := byID[m.ID]
		switch {
		case !in && m.Voter && voters < maxVoters:
			out = append(out, QuorumChange{Kind: AddVoter, ID: m.ID, Addr: m.RaftAddr})
			voters++
		case !in:
			out = append(out, QuorumChange{Kind: AddNonvoter, ID: m.ID, Addr: m.RaftAddr})
		case s.Suffrage == meta.Nonvoter && m.Voter && voters < maxVoters:
			out = append(out, QuorumChange{Kind: AddVoter, ID: m.ID, Addr: m.RaftAddr})
			voters++
		case s.Addr != m.RaftAddr && s.Suffrage == meta.Voter:
			out = append(out, QuorumChange{Kind: AddVoter, ID: m.ID, Addr: m.RaftAddr})
		case s.Addr != m.RaftAddr:
			out = append(out, QuorumChange{Kind: AddNonvoter, ID: m.ID, Addr: m.RaftAddr})
		}
	}
	return out
}
