package meta

import (
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// reachability is the set of raft peers the leader's heartbeats currently
// fail to reach, from raft's FailedHeartbeat and ResumedHeartbeat
// observations; a leader change clears it (only a leader heartbeats).
type reachability struct {
	mu   sync.Mutex
	down map[int32]bool
	// leader is the last raft leader seen; lost and lostContact the one
	// this node last saw go away (the observation with no leader) and
	// when this node last heard from it.
	leader      raft.ServerID
	lost        int32
	lostContact time.Time
}

// noteLeader records a leader observation: with no leader, the previous
// one is lost as of lastContact.
func (r *reachability) noteLeader(id raft.ServerID, lastContact time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id != "" {
		r.leader = id
		return
	}
	if n, err := strconv.ParseInt(string(r.leader), 10, 32); err == nil && !lastContact.IsZero() {
		r.lost, r.lostContact = int32(n), lastContact
	}
}

// LostLeader names the raft leader this node last saw go away and when it
// last heard from it (ok false if none went away). A new controller
// backdates that broker's lease to then: it need not wait a whole session
// to fence a leader that stopped answering raft well before.
func (s *Store) LostLeader() (id int32, lastContact time.Time, ok bool) {
	s.peers.mu.Lock()
	defer s.peers.mu.Unlock()
	return s.peers.lost, s.peers.lostContact, !s.peers.lostContact.IsZero()
}

func (r *reachability) set(id raft.ServerID, down bool) {
	n, err := strconv.ParseInt(string(id), 10, 32)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down == nil {
		r.down = map[int32]bool{}
	}
	if down {
		r.down[int32(n)] = true
	} else {
		delete(r.down, int32(n))
	}
}

func (r *reachability) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = nil
}

// UnreachablePeers lists the nodes this node, while raft leader, cannot
// reach with raft heartbeats right now (connection refused or timed out);
// empty on a follower. The controller shortens their leases
// (controller.LeaseTable.SetUnreachable).
func (s *Store) UnreachablePeers() map[int32]bool {
	s.peers.mu.Lock()
	defer s.peers.mu.Unlock()
	out := make(map[int32]bool, len(s.peers.down))
	for id := range s.peers.down {
		out[id] = true
	}
	return out
}
