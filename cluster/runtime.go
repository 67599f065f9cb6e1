package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/controller"
	"github.com/stratalog/strata/membership"
	"github.com/stratalog/strata/meta"
)

// Runtime is a node's running cluster membership, controller and
// heartbeat. Start it after opening the metadata store (with Bootstrap
// false and the raft address as its bind address), close it before
// closing the store.
type Runtime struct {
	cfg     Config
	log     *slog.Logger
	store   *meta.Store
	member  *membership.Member
	applied func() uint64

	ctrl *controllerState
	hb   heartbeatState

	fatal     chan error // one fatal error (join refused), then closed never
	fatalOnce sync.Once
	kickCtrl  chan struct{}
	kickHB    chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool
	closeErr  error
}

// Start creates the serf member, sets the store's placer and starts the
// runtime's goroutines. applied reports the metadata version this node
// has applied to its partitions; call Kick when it advances.
func Start(cfg Config, store *meta.Store, applied func() uint64) (*Runtime, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runtime{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "cluster"),
		store:    store,
		applied:  applied,
		fatal:    make(chan error, 1),
		kickCtrl: make(chan struct{}, 1),
		kickHB:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	r.ctrl = newControllerState(r)
	r.hb.init()

	mc := membership.DefaultConfig()
	mc.BindAddr = cfg.GossipAddr
	mc.GossipKey = cfg.GossipKey
	mc.Logger = cfg.Logger
	if cfg.ProbeInterval > 0 {
		mc.ProbeInterval = cfg.ProbeInterval
	}
	if cfg.ProbeTimeout > 0 {
		mc.ProbeTimeout = cfg.ProbeTimeout
	}
	if cfg.GossipInterval > 0 {
		mc.GossipInterval = cfg.GossipInterval
	}
	role := membership.RoleBroker
	if cfg.BootstrapExpect > 0 {
		role = membership.RoleVoter
	}
	mc.Tags = membership.Tags{
		NodeID: cfg.NodeID, KafkaAddr: cfg.KafkaAddr, RaftAddr: cfg.RaftAddr,
		Rack: cfg.Rack, Region: cfg.Region, Role: role, Version: cfg.Version,
		ClusterID: store.KnownClusterID(), BootstrapExpect: cfg.BootstrapExpect,
	}
	m, err := membership.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip-addr: %w", err)
	}
	r.member = m
	store.SetPlacer(place)

	r.wg.Add(4)
	go r.runJoin()
	go r.runMembership()
	go r.runController()
	go r.runHeartbeat()
	r.log.Info("cluster runtime started", "gossip", m.Addr(), "raft", cfg.RaftAddr, "join", cfg.Join,
		"bootstrap_expect", cfg.BootstrapExpect, "role", role)
	return r, nil
}

// place is the store's Placer: the controller's rack-aware, balanced
// placement over the unfenced brokers.
func place(live []meta.Broker, existing []meta.Topic, count int32, rf int16) ([][]int32, error) {
	infos := make([]controller.BrokerInfo, len(live))
	for i, b := range live {
		infos[i] = controller.BrokerInfo{ID: b.ID, Rack: b.Rack}
	}
	return controller.PlaceReplicas(infos, existing, int(count), int(rf))
}

// Fatal delivers an error that should stop the node: the cluster refused
// this node (duplicate node id, another cluster's id or gossip key).
func (r *Runtime) Fatal() <-chan error { return r.fatal }

func (r *Runtime) fail(err error) {
	r.fatalOnce.Do(func() { r.fatal <- err })
}

// Members lists the gossip members, this node included.
func (r *Runtime) Members() []membership.MemberInfo { return r.member.Members() }

// GossipAddr is the gossip address serf bound.
func (r *Runtime) GossipAddr() string { return r.member.Addr() }

// UncleanElections counts the out-of-sync replicas this node's controller
// made leaders (unclean.leader.election.enable).
func (r *Runtime) UncleanElections() int64 { return r.ctrl.uncleanElections.Load() }

// Close asks the controller to move this node's leaderships away (up to
// the shutdown timeout or ctx), hands raft leadership over if this node
// holds it, leaves gossip and stops the runtime's goroutines. The store
// stays open; the caller closes it afterwards.
func (r *Runtime) Close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		var errs []error
		sctx, cancel := context.WithTimeout(ctx, r.cfg.ShutdownTimeout)
		if err := r.controlledShutdown(sctx); err != nil {
			r.log.Warn("controlled shutdown incomplete", "err", err)
		}
		cancel()
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := r.store.TransferLeadership(tctx); err != nil {
			r.log.Warn("handing over metadata leadership", "err", err)
		}
		cancel()
		r.closed.Store(true)
		close(r.stop)
		r.store.SetHeartbeatHandler(nil)
		if err := r.member.Close(); err != nil && !errors.Is(err, membership.ErrClosed) {
			errs = append(errs, err)
		}
		r.wg.Wait()
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

func (r *Runtime) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// runJoin contacts the seeds until one answers; seeds that are not up yet
// are retried with backoff. A refusal is fatal.
func (r *Runtime) runJoin() {
	defer r.wg.Done()
	if len(r.cfg.Join) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := r.member.Join(ctx, r.cfg.Join)
	switch {
	case err == nil:
	case errors.Is(err, membership.ErrDuplicateNodeID), errors.Is(err, membership.ErrClusterIDMismatch),
		errors.Is(err, membership.ErrGossipKeyMismatch):
		r.log.Error("refused by the cluster", "err", err)
		r.fail(fmt.Errorf("joining the cluster: %w", err))
	case r.stopping():
	default:
		r.log.Warn("joining the cluster", "err", err)
	}
}

// runMembership reacts to gossip: bootstrap while the node has no raft
// state, quorum changes while it leads, fencing of members that fail or
// leave, and the cluster ID tag once the node belongs to a cluster.
func (r *Runtime) runMembership() {
	defer r.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastWarn time.Time
	warn := func(msg string, args ...any) {
		if time.Since(lastWarn) >= 5*time.Second {
			lastWarn = time.Now()
			r.log.Error(msg, args...)
		}
	}
	sub, unsub := r.store.Subscribe()
	defer unsub()
	for {
		select {
		case <-r.stop:
			return
		case ev, ok := <-r.member.Events():
			if !ok {
				return
			}
			if ev.Type == membership.EventFailed || ev.Type == membership.EventLeave || ev.Type == membership.EventReap {
				for _, m := range ev.Members {
					if m.Tags.NodeID != r.cfg.NodeID {
						r.ctrl.memberDown(m.Tags.NodeID, string(ev.Type))
					}
				}
			}
		case <-tick.C:
		case <-sub:
		}
		if err := r.reconcileMembership(); err != nil {
			warn("cluster membership", "err", err)
		}
	}
}

func (r *Runtime) reconcileMembership() error {
	if cid := r.store.ClusterID(); cid != "" && r.member.Self().Tags.ClusterID != cid {
		if err := r.member.SetClusterID(cid); err != nil {
			return fmt.Errorf("advertising cluster id: %w", err)
		}
	}
	if !r.store.Bootstrapped() {
		if r.cfg.BootstrapExpect == 0 {
			return nil // a broker waits for the leader to add it
		}
		d, err := membership.DecideBootstrap(r.cfg.BootstrapExpect, r.member.Self(), r.member.Members())
		if err != nil {
			return fmt.Errorf("not bootstrapping: %w", err)
		}
		if d.Action != membership.ActionBootstrap {
			r.log.Debug("bootstrap", "action", d.Action, "reason", d.Reason)
			return nil
		}
		servers := make([]meta.Server, len(d.Servers))
		for i, s := range d.Servers {
			servers[i] = meta.Server{ID: s.NodeID, Addr: s.RaftAddr, Suffrage: meta.Voter}
		}
		if err := r.store.BootstrapCluster(servers); err != nil && !errors.Is(err, meta.ErrAlreadyBootstrapped) {
			return err
		}
		r.log.Info("bootstrapping the metadata quorum", "servers", servers, "reason", d.Reason)
		return nil
	}
	if !r.store.LeaderReady() {
		return nil
	}
	servers, err := r.store.Servers()
	if err != nil {
		return err
	}
	var cands []controller.Candidate
	cid := r.store.ClusterID()
	for _, m := range r.member.Members() {
		cands = append(cands, controller.Candidate{
			ID: m.Tags.NodeID, RaftAddr: m.Tags.RaftAddr, Voter: m.Tags.Role == membership.RoleVoter,
			Alive: m.Status == membership.StatusAlive, Left: m.Status == membership.StatusLeft,
			Foreign: m.Tags.ClusterID != "" && cid != "" && m.Tags.ClusterID != cid,
		})
	}
	maxVoters := min(max(r.cfg.BootstrapExpect, 1), MaxVoters)
	for _, c := range controller.PlanQuorum(servers, cands, maxVoters, r.cfg.NodeID) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		switch c.Kind {
		case controller.AddVoter:
			err = r.store.AddVoter(ctx, c.ID, c.Addr)
		case controller.AddNonvoter:
			err = r.store.AddNonvoter(ctx, c.ID, c.Addr)
		case controller.Remove:
			err = r.store.RemoveServer(ctx, c.ID)
		}
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
		r.log.Info("metadata quorum changed", "change", c.String())
	}
	return nil
}
