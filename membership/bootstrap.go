package membership

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Action is what DecideBootstrap tells a voter candidate to do.
type Action string

// Bootstrap actions.
const (
	// ActionWait: not enough candidates yet (or we are not in the set that
	// bootstraps); decide again on the next member event.
	ActionWait Action = "wait"
	// ActionBootstrap: bootstrap raft with exactly Decision.Servers. Every
	// candidate that sees the same members computes the same list.
	ActionBootstrap Action = "bootstrap"
	// ActionJoinExisting: a cluster already exists (a member carries a
	// cluster ID); never bootstrap, wait for its leader to add us.
	ActionJoinExisting Action = "join-existing"
)

// Server is one voter of a bootstrap configuration.
type Server struct {
	NodeID   int32
	RaftAddr string
}

// Decision is DecideBootstrap's answer.
type Decision struct {
	Action    Action
	Servers   []Server // for ActionBootstrap, by node ID
	ClusterID string   // for ActionJoinExisting
	Reason    string   // human-readable, for logs and status
}

// DecideBootstrap is the bootstrap-expect rule as a pure function. self is
// this node, expect its --bootstrap-expect, members what serf shows (self
// may or may not be among them). Only alive members count.
//
//   - Any alive member with a cluster ID means a cluster exists: join it,
//     never bootstrap a second one; two different cluster IDs are an error.
//   - Voter candidates announcing a different bootstrap-expect are an error
//     naming them: bootstrapping with mismatched expectations could form
//     two clusters.
//   - Fewer than expect candidates: wait.
//   - Otherwise bootstrap with the expect candidates of lowest node ID; a
//     candidate outside that set waits to be added by the leader, so nodes
//     seeing more than expect candidates still agree on one configuration.
func DecideBootstrap(expect int, self MemberInfo, members []MemberInfo) (Decision, error) {
	if expect <= 0 || self.Tags.Role != RoleVoter {
		return Decision{}, fmt.Errorf("%w: expect %d, role %q", ErrNotCandidate, expect, self.Tags.Role)
	}
	self.Status = StatusAlive
	all := []MemberInfo{self}
	for _, m := range members {
		if m.Name != self.Name && m.Status == StatusAlive {
			all = append(all, m)
		}
	}

	ids := map[string][]string{}
	for _, m := range all {
		if c := m.Tags.ClusterID; c != "" {
			ids[c] = append(ids[c], m.Name)
		}
	}
	switch len(ids) {
	case 0:
	case 1:
		for id, who := range ids {
			return Decision{Action: ActionJoinExisting, ClusterID: id,
				Reason: fmt.Sprintf("cluster %s already exists (%s)", id, strings.Join(who, ", "))}, nil
		}
	default:
		var parts []string
		for _, id := range sortedKeys(ids) {
			parts = append(parts, fmt.Sprintf("%s: %s", id, strings.Join(ids[id], ", ")))
		}
		return Decision{}, fmt.Errorf("%w: members belong to different clusters (%s)", ErrClusterIDMismatch, strings.Join(parts, "; "))
	}

	var cands []MemberInfo
	var mismatched []string
	seen := map[int32]string{}
	for _, m := range all {
		if m.Tags.Role != RoleVoter || m.Tags.BootstrapExpect == 0 {
			continue
		}
		if other, dup := seen[m.Tags.NodeID]; dup {
			return Decision{}, fmt.Errorf("%w: %d announced by %s and %s", ErrDuplicateNodeID, m.Tags.NodeID, other, m.Name)
		}
		seen[m.Tags.NodeID] = m.Name
		if m.Tags.BootstrapExpect != expect {
			mismatched = append(mismatched, fmt.Sprintf("%s expects %d", m.Name, m.Tags.BootstrapExpect))
			continue
		}
		cands = append(cands, m)
	}
	if len(mismatched) > 0 {
		slices.Sort(mismatched)
		return Decision{}, fmt.Errorf("%w: we expect %d, %s", ErrExpectMismatch, expect, strings.Join(mismatched, ", "))
	}
	if len(cands) < expect {
		return Decision{Action: ActionWait, Reason: fmt.Sprintf("%d of %d voter candidates seen", len(cands), expect)}, nil
	}
	slices.SortFunc(cands, func(a, b MemberInfo) int { return cmp.Compare(a.Tags.NodeID, b.Tags.NodeID) })
	cands = cands[:expect]
	servers := make([]Server, 0, expect)
	in := false
	for _, c := range cands {
		if c.Tags.RaftAddr == "" {
			return Decision{}, fmt.Errorf("%w: candidate %s has no raft address", ErrBadTags, c.Name)
		}
		servers = append(servers, Server{NodeID: c.Tags.NodeID, RaftAddr: c.Tags.RaftAddr})
		in = in || c.Tags.NodeID == self.Tags.NodeID
	}
	if !in {
		return Decision{Action: ActionWait, Reason: fmt.Sprintf("the %d lowest node ids bootstrap without us; waiting to be added", expect)}, nil
	}
	return Decision{Action: ActionBootstrap, Servers: servers, Reason: fmt.Sprintf("%d voter candidates seen", expect)}, nil
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
