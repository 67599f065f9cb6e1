package meta

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Forwarding timings.
const (
	forwardDialTimeout  = 2 * time.Second
	forwardIdleTimeout  = 60 * time.Second // server side: idle conn closed
	forwardPoolIdle     = 30 * time.Second // client side: pooled conn dropped
	forwardMaxIdle      = 4                // pooled conns per leader address
	forwardWriteTimeout = 10 * time.Second
	forwardBackoffMin   = 10 * time.Millisecond
	forwardBackoffMax   = 200 * time.Millisecond
)

// forwardState is the Store's forwarding side: the server connections
// being served (closed on shutdown) and the client's idle connections by
// leader address.
type forwardState struct {
	mu struct {
		sync.Mutex
		closed  bool
		serving map[net.Conn]struct{}
		idle    map[string][]idleConn
	}
	dials     atomic.Int64 // forward connections dialed, for tests and stats
	heartbeat struct {
		sync.RWMutex
		h func(context.Context, HeartbeatRequest) (HeartbeatResponse, error)
	}
}

type idleConn struct {
	c     net.Conn
	r     *bufio.Reader
	since time.Time
}

// closeAll closes every served and idle connection and refuses new ones.
func (f *forwardState) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.closed = true
	for c := range f.mu.serving {
		_ = c.Close()
	}
	for _, conns := range f.mu.idle {
		for _, ic := range conns {
			_ = ic.c.Close()
		}
	}
	f.mu.idle = nil
}

func (f *forwardState) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.closed {
		return false
	}
	if f.mu.serving == nil {
		f.mu.serving = map[net.Conn]struct{}{}
	}
	f.mu.serving[c] = struct{}{}
	return true
}

func (f *forwardState) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.mu.serving, c)
	f.mu.Unlock()
}

// getConn returns a pooled connection to addr, or nil.
func (f *forwardState) getConn(addr string) *idleConn {
	f.mu.Lock()
	defer f.mu.Unlock()
	conns := f.mu.idle[addr]
	for len(conns) > 0 {
		ic := conns[len(conns)-1]
		conns = conns[:len(conns)-1]
		if time.Since(ic.since) < forwardPoolIdle {
			f.mu.idle[addr] = conns
			return &ic
		}
		_ = ic.c.Close()
	}
	delete(f.mu.idle, addr)
	return nil
}

// putConn pools a connection whose last exchange completed.
func (f *forwardState) putConn(addr string, ic *idleConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.closed || len(f.mu.idle[addr]) >= forwardMaxIdle {
		_ = ic.c.Close()
		return
	}
	if f.mu.idle == nil {
		f.mu.idle = map[string][]idleConn{}
	}
	ic.since = time.Now()
	f.mu.idle[addr] = append(f.mu.idle[addr], *ic)
}

// serveForward answers forward requests on one connection until it fails,
// idles out, or the store closes. It runs on routeConn's goroutine, which
// tracked c for closeAll.
func (s *Store) serveForward(c net.Conn) {
	defer c.Close()
	defer s.fwd.untrack(c)
	br := bufio.NewReader(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(forwardIdleTimeout))
		payload, err := readFrame(br)
		if err != nil {
			if errors.Is(err, ErrBadFrame) {
				s.log.Debug("meta: refusing forward frame", "remote", c.RemoteAddr(), "err", err)
			}
			return
		}
		var resp forwardResponse
		if req, err := decodeRequest(payload); err != nil {
			resp = errorResponse(err)
		} else {
			resp = s.handleForward(req)
		}
		out, err := json.Marshal(resp)
		if err != nil {
			out, _ = json.Marshal(errorResponse(fmt.Errorf("meta: encoding forward response: %w", err)))
		}
		_ = c.SetWriteDeadline(time.Now().Add(forwardWriteTimeout))
		if err := writeFrame(c, out); err != nil {
			return
		}
	}
}

func errorResponse(err error) forwardResponse {
	return forwardResponse{Code: errorCode(err), Error: err.Error()}
}

// handleForward runs one forwarded call on this node, which must lead.
func (s *Store) handleForward(req forwardRequest) forwardResponse {
	m, ok := forwardMethods[req.Method]
	if !ok {
		return errorResponse(fmt.Errorf("%w: unknown forward method %q", ErrBadFrame, req.Method))
	}
	if s.raft.State() != raft.Leader {
		return errorResponse(s.notLeader(req.Method, nil))
	}
	timeout := s.cfg.ApplyTimeout
	if req.TimeoutMS > 0 {
		timeout = min(timeout, time.Duration(req.TimeoutMS)*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(s.runCtx, timeout)
	defer cancel()
	result, err := m(s, ctx, req.Args)
	if err != nil {
		return errorResponse(err)
	}
	var resp forwardResponse
	if req.Method != mHeartbeat {
		resp.Index = s.Version()
	}
	if result != nil {
		if resp.Result, err = json.Marshal(result); err != nil {
			return errorResponse(fmt.Errorf("meta: encoding %s result: %w", req.Method, err))
		}
	}
	return resp
}

// forwardMethod runs one method locally from its JSON arguments.
type forwardMethod func(s *Store, ctx context.Context, args json.RawMessage) (any, error)

// method adapts a typed local call to a forwardMethod.
func method[A any](call func(s *Store, ctx context.Context, a A) (any, error)) forwardMethod {
	return func(s *Store, ctx context.Context, raw json.RawMessage) (any, error) {
		var a A
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("%w: arguments: %w", ErrBadFrame, err)
		}
		return call(s, ctx, a)
	}
}

// Arguments of the forwarded methods whose Store signatures take more
// than one value.
type (
	fencedArgs struct {
		ID     int32
		Fenced bool
	}
	createPartitionsArgs struct {
		Name        string
		Total       int32
		Assignments [][]int32
	}
	topicConfigsArgs struct {
		Name    string
		Configs map[string]string
	}
	producerIDsArgs struct {
		Broker int32
		Count  int64
	}
)

// Forwarded method names.
const (
	mRegisterBroker      = "RegisterBroker"
	mUnregisterBroker    = "UnregisterBroker"
	mSetBrokerFenced     = "SetBrokerFenced"
	mCreateTopic         = "CreateTopic"
	mDeleteTopic         = "DeleteTopic"
	mCreatePartitions    = "CreatePartitions"
	mSetTopicConfigs     = "SetTopicConfigs"
	mSetClusterConfigs   = "SetClusterConfigs"
	mUpdatePartition     = "UpdatePartition"
	mAllocateProducerIDs = "AllocateProducerIDs"
	mHeartbeat           = "Heartbeat"
	mReassignPartition   = "ReassignPartition"
)

// forwardMethods is what a leader runs for a forwarded call: the local
// form of each public write.
var forwardMethods = map[string]forwardMethod{
	mRegisterBroker: method(func(s *Store, ctx context.Context, b Broker) (any, error) {
		return nil, s.registerBroker(ctx, b)
	}),
	mUnregisterBroker: method(func(s *Store, ctx context.Context, id int32) (any, error) {
		return nil, s.unregisterBroker(ctx, id)
	}),
	mSetBrokerFenced: method(func(s *Store, ctx context.Context, a fencedArgs) (any, error) {
		return nil, s.setBrokerFenced(ctx, a.ID, a.Fenced)
	}),
	mCreateTopic: method(func(s *Store, ctx context.Context, spec TopicSpec) (any, error) {
		return s.createTopic(ctx, spec)
	}),
	mDeleteTopic: method(func(s *Store, ctx context.Context, name string) (any, error) {
		return nil, s.deleteTopic(ctx, name)
	}),
	mCreatePartitions: method(func(s *Store, ctx context.Context, a createPartitionsArgs) (any, error) {
		return nil, s.createPartitions(ctx, a.Name, a.Total, a.Assignments)
	}),
	mSetTopicConfigs: method(func(s *Store, ctx context.Context, a topicConfigsArgs) (any, error) {
		return nil, s.setTopicConfigs(ctx, a.Name, a.Configs)
	}),
	mSetClusterConfigs: method(func(s *Store, ctx context.Context, configs map[string]string) (any, error) {
		return nil, s.setClusterConfigs(ctx, configs)
	}),
	mUpdatePartition: method(func(s *Store, ctx context.Context, u PartitionUpdate) (any, error) {
		return nil, s.updatePartition(ctx, u)
	}),
	mAllocateProducerIDs: method(func(s *Store, ctx context.Context, a producerIDsArgs) (any, error) {
		return s.allocateProducerIDs(ctx, a.Broker, a.Count)
	}),
	mReassignPartition: method(func(s *Store, ctx context.Context, a reassignArgs) (any, error) {
		return nil, s.reassignPartition(ctx, a.Topic, a.Partition, a.Target)
	}),
	mHeartbeat: method(func(s *Store, ctx context.Context, req HeartbeatRequest) (any, error) {
		return s.heartbeatLocal(ctx, req)
	}),
}

// errOutcomeUnknown marks a forwarded call whose request was sent but
// whose answer was lost: it is not resent, as the leader may have applied
// it.
var errOutcomeUnknown = errors.New("outcome unknown")

// viaLeader runs a write locally when this node leads (or has no
// network transport), and otherwise forwards it to the leader and waits
// until the local state machine has applied the leader's answer. Not
// knowing a leader, a NotLeader answer and a failed dial are retried with
// backoff until ctx ends, or for ApplyTimeout when ctx has no deadline;
// the error then is retriable.
func viaLeader[R any](s *Store, ctx context.Context, name string, args any, local func(context.Context) (R, error)) (R, error) {
	var zero R
	if s.mux == nil {
		return local(ctx)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.ApplyTimeout)
		defer cancel()
	}
	backoff := forwardBackoffMin
	for {
		if s.closed.Load() {
			return zero, ErrClosed
		}
		var lastErr error
		if s.raft.State() == raft.Leader {
			r, err := local(ctx)
			if err == nil || !errors.Is(err, ErrNotLeader) {
				return r, err
			}
			lastErr = err
		} else if id, addr := s.Leader(); id == NoLeader || id == s.cfg.NodeID {
			lastErr = s.notLeader(name, nil)
		} else {
			var out R
			idx, err := s.call(ctx, addr, name, args, &out)
			if err == nil {
				if err := s.WaitApplied(ctx, idx); err != nil {
					return zero, fmt.Errorf("meta: %s committed by the leader at version %d, not yet applied here: %w", name, idx, err)
				}
				return out, nil
			}
			if !errors.Is(err, ErrNotLeader) || errors.Is(err, errOutcomeUnknown) {
				return zero, err
			}
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return zero, fmt.Errorf("%w (%w)", lastErr, ctx.Err())
		case <-s.shutdownCh:
			return zero, ErrClosed
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, forwardBackoffMax)
	}
}

// call sends one request to the leader at addr and decodes its result
// into out, returning the version to wait for. Failing to reach the
// leader, and its NotLeader or closing answers, match ErrNotLeader.
func (s *Store) call(ctx context.Context, addr, name string, args any, out any) (uint64, error) {
	a, err := json.Marshal(args)
	if err != nil {
		return 0, fmt.Errorf("meta: encoding %s arguments: %w", name, err)
	}
	req := forwardRequest{Method: name, Args: a}
	deadline, _ := ctx.Deadline()
	if !deadline.IsZero() {
		req.TimeoutMS = max(time.Until(deadline).Milliseconds(), 1)
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("meta: encoding %s request: %w", name, err)
	}
	ic := s.fwd.getConn(addr)
	if ic == nil {
		c, err := s.mux.dial(addr, forwardDialTimeout, connForward)
		s.fwd.dials.Add(1)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: dialing leader at %s: %w", ErrNotLeader, name, addr, err)
		}
		ic = &idleConn{c: c, r: bufio.NewReader(c)}
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(s.cfg.ApplyTimeout)
	}
	// The connection's deadline follows ctx: cancelling ctx unblocks the
	// read.
	_ = ic.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = ic.c.SetDeadline(time.Now()) })
	defer stop()
	if err := writeFrame(ic.c, payload); err != nil {
		_ = ic.c.Close()
		return 0, fmt.Errorf("%w: %s: sending to leader at %s: %w", ErrNotLeader, name, addr, err)
	}
	body, err := readFrame(ic.r)
	if err != nil {
		_ = ic.c.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return 0, fmt.Errorf("meta: %s forwarded to %s: %w: %w: %w", name, addr, errOutcomeUnknown, ErrNotLeader, err)
	}
	if !stop() {
		_ = ic.c.Close()
	} else {
		_ = ic.c.SetDeadline(time.Time{})
		s.fwd.putConn(addr, ic)
	}
	resp, err := decodeResponse(body)
	if err != nil {
		return 0, err
	}
	if resp.Code != "" || resp.Error != "" {
		rerr := decodeError(resp)
		if errors.Is(rerr, ErrClosed) {
			return 0, fmt.Errorf("%w: %s: leader at %s is closing: %w", ErrNotLeader, name, addr, rerr)
		}
		return 0, rerr
	}
	if out != nil && len(resp.Result) > 0 {
		if err := json.Unmarshal(resp.Result, out); err != nil {
			return 0, fmt.Errorf("%w: %s result: %w", ErrBadFrame, name, err)
		}
	}
	return resp.Index, nil
}

// WaitApplied blocks until this node's state machine has applied version
// index (a Version value, as a forwarded write's leader reports it), so
// what was committed there is visible in local reads.
func (s *Store) WaitApplied(ctx context.Context, index uint64) error {
	if s.Version() >= index {
		return nil
	}
	ch, cancel := s.subs.subscribe()
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closed.Load() {
			return ErrClosed
		}
		if s.Version() >= index {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("meta: waiting to apply version %d (at %d): %w", index, s.Version(), ctx.Err())
		case <-ch:
		case <-tick.C:
		}
	}
}
