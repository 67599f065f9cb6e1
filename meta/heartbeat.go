package meta

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
)

// ErrNoHeartbeatHandler: a heartbeat reached a leader that has no handler
// set yet (its controller is starting). Retriable.
var ErrNoHeartbeatHandler = errors.New("meta: no heartbeat handler on the metadata leader")

// HeartbeatRequest is a broker's periodic lease renewal, sent to the
// controller on the raft leader.
type HeartbeatRequest struct {
	BrokerID       int32
	BrokerEpoch    int64
	Broker         Broker
	AppliedVersion uint64
	WantShutdown   bool
}

// HeartbeatResponse is the controller's answer to a heartbeat.
type HeartbeatResponse struct {
	BrokerEpoch       int64
	Fenced            bool
	ShouldShutdown    bool
	MinAppliedVersion uint64
}

// SetHeartbeatHandler sets the function that answers heartbeats while
// this node leads, locally and from other nodes; nil removes it.
func (s *Store) SetHeartbeatHandler(h func(ctx context.Context, req HeartbeatRequest) (HeartbeatResponse, error)) {
	s.fwd.heartbeat.Lock()
	s.fwd.heartbeat.h = h
	s.fwd.heartbeat.Unlock()
}

// Heartbeat delivers req to the heartbeat handler of the raft leader: a
// local call when this node leads, a forwarded call otherwise. A leader
// without a handler answers ErrNoHeartbeatHandler; like not knowing a
// leader, it is Retriable.
func (s *Store) Heartbeat(ctx context.Context, req HeartbeatRequest) (HeartbeatResponse, error) {
	return viaLeader(s, ctx, mHeartbeat, req, func(ctx context.Context) (HeartbeatResponse, error) {
		return s.heartbeatLocal(ctx, req)
	})
}

func (s *Store) heartbeatLocal(ctx context.Context, req HeartbeatRequest) (HeartbeatResponse, error) {
	if s.closed.Load() {
		return HeartbeatResponse{}, ErrClosed
	}
	if s.raft.State() != raft.Leader {
		return HeartbeatResponse{}, s.notLeader(mHeartbeat, nil)
	}
	s.fwd.heartbeat.RLock()
	h := s.fwd.heartbeat.h
	s.fwd.heartbeat.RUnlock()
	if h == nil {
		return HeartbeatResponse{}, fmt.Errorf("%w: node %d", ErrNoHeartbeatHandler, s.cfg.NodeID)
	}
	return h(ctx, req)
}
