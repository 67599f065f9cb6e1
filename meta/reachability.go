package meta

import (
	"strconv"
	"sync"

	"github.com/hashicorp/raft"
)

// reachability is the set of raft peers the leader's heartbeats currently
// fail to reach, from raft's FailedHeartbeat and ResumedHeartbeat
// observations; a leader change clears it (only a leader heartbeats).
type reachability struct {
	mu   sync.Mutex
	down map[int32]bool
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
