package meta

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Errors of the multi-voter store, beside those in types.go.
var (
	// ErrNoQuorum: no leader is known (an election is running, or this
	// voter is cut off from a majority). Writes fail with it, wrapped with
	// ErrNotLeader, instead of waiting; they may be retried.
	ErrNoQuorum = errors.New("meta: no metadata quorum")
	// ErrAlreadyBootstrapped: BootstrapCluster on a node with raft state.
	ErrAlreadyBootstrapped = errors.New("meta: raft state exists; not bootstrapping")
	// ErrInvalidServers: a bootstrap list or membership change that names
	// no servers, a server twice, or a server without an address.
	ErrInvalidServers = errors.New("meta: invalid raft server list")
)

// NotLeaderError is the error of a write, or of a membership change,
// proposed on a node that is not the raft leader. It carries the leader
// this node knows of, so the caller can forward the request there; with
// no leader known (LeaderID NoLeader) it also matches ErrNoQuorum.
type NotLeaderError struct {
	LeaderID   int32
	LeaderAddr string // raft address; empty when no leader is known
	Op         string
	Err        error // raft's error, if any
}

func (e *NotLeaderError) Error() string {
	leader := "no leader known"
	if e.LeaderID != NoLeader {
		leader = fmt.Sprintf("leader is node %d at %s", e.LeaderID, e.LeaderAddr)
	}
	if e.Err != nil {
		return fmt.Sprintf("%v: %s (%s): %v", ErrNotLeader, e.Op, leader, e.Err)
	}
	return fmt.Sprintf("%v: %s (%s)", ErrNotLeader, e.Op, leader)
}

// Is makes errors.Is(err, ErrNotLeader) hold, and ErrNoQuorum too when no
// leader is known.
func (e *NotLeaderError) Is(target error) bool {
	return target == ErrNotLeader || (target == ErrNoQuorum && e.LeaderID == NoLeader)
}

func (e *NotLeaderError) Unwrap() error { return e.Err }

// Retriable reports whether a failed write may succeed if retried, here
// or on the leader: not the leader, no quorum, no heartbeat handler on
// the leader yet, or a deadline that ran out while the outcome was
// unknown. Validation errors are not retriable.
func Retriable(err error) bool {
	return errors.Is(err, ErrNotLeader) || errors.Is(err, ErrNoQuorum) || errors.Is(err, ErrNoHeartbeatHandler) ||
		errors.Is(err, raft.ErrEnqueueTimeout) || errors.Is(err, context.DeadlineExceeded)
}

func (s *Store) notLeader(op string, err error) error {
	id, addr := s.Leader()
	if id == s.cfg.NodeID && s.raft.State() != raft.Leader {
		id, addr = NoLeader, "" // stale view of ourselves
	}
	return &NotLeaderError{LeaderID: id, LeaderAddr: addr, Op: op, Err: err}
}

// Suffrage is a raft server's vote.
type Suffrage string

// Suffrages.
const (
	Voter    Suffrage = "voter"
	Nonvoter Suffrage = "nonvoter"
)

// Server is one member of the raft configuration.
type Server struct {
	ID       int32
	Addr     string
	Suffrage Suffrage
}

// BootstrapCluster bootstraps raft with servers as the initial voters, on
// a store opened with Bootstrap false; every listed node must be given
// the same list (membership.DecideBootstrap computes it). A node that
// already has raft state returns ErrAlreadyBootstrapped and is unchanged.
func (s *Store) BootstrapCluster(servers []Server) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if len(servers) == 0 {
		return fmt.Errorf("%w: empty", ErrInvalidServers)
	}
	conf := raft.Configuration{}
	seen := map[int32]bool{}
	self := false
	for _, srv := range servers {
		if srv.ID < 0 || srv.Addr == "" || seen[srv.ID] {
			return fmt.Errorf("%w: %+v", ErrInvalidServers, srv)
		}
		seen[srv.ID] = true
		self = self || srv.ID == s.cfg.NodeID
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: serverID(srv.ID), Address: raft.ServerAddress(srv.Addr)})
	}
	if !self {
		return fmt.Errorf("%w: node %d is not in the list", ErrInvalidServers, s.cfg.NodeID)
	}
	if err := s.raft.BootstrapCluster(conf).Error(); err != nil {
		if errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("%w: %w", ErrAlreadyBootstrapped, err)
		}
		return fmt.Errorf("meta: bootstrapping: %w", err)
	}
	s.log.Info("bootstrapped metadata cluster", "servers", servers)
	return nil
}

// AddVoter adds a voter (or promotes a non-voter) on the leader. With
// mutual TLS the peer is probed first (ProbePeer): a node without a
// certificate from the cluster's CA is refused with ErrPeerTLS.
func (s *Store) AddVoter(ctx context.Context, id int32, addr string) error {
	if err := s.probeBeforeAdd(ctx, addr); err != nil {
		return err
	}
	return s.changeMembership(ctx, "add voter", func(timeout time.Duration) raft.IndexFuture {
		return s.raft.AddVoter(serverID(id), raft.ServerAddress(addr), 0, timeout)
	}, id, addr)
}

// AddNonvoter adds a server that receives and applies the log without
// voting, on the leader; probed first as AddVoter.
func (s *Store) AddNonvoter(ctx context.Context, id int32, addr string) error {
	if err := s.probeBeforeAdd(ctx, addr); err != nil {
		return err
	}
	return s.changeMembership(ctx, "add nonvoter", func(timeout time.Duration) raft.IndexFuture {
		return s.raft.AddNonvoter(serverID(id), raft.ServerAddress(addr), 0, timeout)
	}, id, addr)
}

// RemoveServer removes a server from the raft configuration, on the
// leader. Removing the leader itself makes it step down.
func (s *Store) RemoveServer(ctx context.Context, id int32) error {
	return s.changeMembership(ctx, "remove server", func(timeout time.Duration) raft.IndexFuture {
		return s.raft.RemoveServer(serverID(id), 0, timeout)
	}, id, "-")
}

func (s *Store) changeMembership(ctx context.Context, op string, do func(time.Duration) raft.IndexFuture, id int32, addr string) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if id < 0 || addr == "" {
		return fmt.Errorf("%w: %s node %d at %q", ErrInvalidServers, op, id, addr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.raft.State() != raft.Leader {
		return s.notLeader(op, nil)
	}
	timeout := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	f := do(timeout)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err == nil {
			return nil
		}
		if isLeadershipErr(err) {
			return s.notLeader(op, err)
		}
		if errors.Is(err, raft.ErrRaftShutdown) {
			return fmt.Errorf("%w: %s: %w", ErrClosed, op, err)
		}
		return fmt.Errorf("meta: %s node %d: %w", op, id, err)
	case <-ctx.Done():
		return fmt.Errorf("meta: %s node %d: outcome unknown: %w", op, id, ctx.Err())
	}
}

func isLeadershipErr(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, raft.ErrAbortedByRestore)
}

// Servers is the latest raft configuration, by ID.
func (s *Store) Servers() ([]Server, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("meta: reading raft configuration: %w", err)
	}
	var out []Server
	for _, srv := range f.Configuration().Servers {
		id, err := strconv.ParseInt(string(srv.ID), 10, 32)
		if err != nil {
			continue
		}
		sf := Voter
		if srv.Suffrage != raft.Voter {
			sf = Nonvoter
		}
		out = append(out, Server{ID: int32(id), Addr: string(srv.Address), Suffrage: sf})
	}
	slices.SortFunc(out, func(a, b Server) int { return int(a.ID) - int(b.ID) })
	return out, nil
}

// Leader is the raft leader's node ID and raft address as this node knows
// them, or NoLeader and "".
func (s *Store) Leader() (int32, string) {
	if s.closed.Load() {
		return NoLeader, ""
	}
	addr, id := s.raft.LeaderWithID()
	n, err := strconv.ParseInt(string(id), 10, 32)
	if id == "" || err != nil {
		return NoLeader, ""
	}
	return int32(n), string(addr)
}

// RaftStats is a snapshot of this node's raft state, for status output.
type RaftStats struct {
	State        string // Follower, Candidate, Leader or Shutdown
	Term         uint64
	LastLogIndex uint64
	CommitIndex  uint64
	AppliedIndex uint64
	// LastContact is when a follower last heard from the leader (zero if
	// never); the leader reports the current time.
	LastContact time.Time
	LeaderID    int32
	LeaderAddr  string
}

// Stats reports this node's raft term, indexes and leader contact.
func (s *Store) Stats() RaftStats {
	st := RaftStats{
		State:        s.raft.State().String(),
		Term:         s.raft.CurrentTerm(),
		LastLogIndex: s.raft.LastIndex(),
		CommitIndex:  s.raft.CommitIndex(),
		AppliedIndex: s.raft.AppliedIndex(),
		LastContact:  s.raft.LastContact(),
	}
	if s.raft.State() == raft.Leader {
		st.LastContact = time.Now()
	}
	st.LeaderID, st.LeaderAddr = s.Leader()
	return st
}

// TransferLeadership hands raft leadership to the most up-to-date voter
// and waits for it (a leader that shuts down gracefully calls it, so the
// quorum elects no faster than a transfer and writes pause only briefly).
// On a node that does not lead it returns nil at once.
func (s *Store) TransferLeadership(ctx context.Context) error {
	if s.closed.Load() || s.raft.State() != raft.Leader {
		return nil
	}
	f := s.raft.LeadershipTransfer()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("meta: transferring leadership: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("meta: transferring leadership: %w", ctx.Err())
	}
}

// probeBeforeAdd probes a server about to join the quorum when the raft
// address is mutual TLS; without TLS there is no credential to check.
func (s *Store) probeBeforeAdd(ctx context.Context, addr string) error {
	if s.cfg.ClientTLS == nil {
		return nil
	}
	if err := s.ProbePeer(ctx, addr); err != nil {
		return fmt.Errorf("meta: not adding %s to the quorum: %w", addr, err)
	}
	return nil
}
