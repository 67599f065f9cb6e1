package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/controller"
	"github.com/stratalog/strata/membership"
	"github.com/stratalog/strata/meta"
)

// controllerState is the controller's state for one term of raft
// leadership: the lease table, the applied versions brokers reported and
// the brokers shutting down. Heartbeats (from forwarding goroutines) and
// runController share it under mu; metadata writes happen outside mu.
type controllerState struct {
	r                *Runtime
	uncleanElections atomic.Int64
	mu               struct {
		sync.Mutex
		leading  bool
		leases   *controller.LeaseTable
		applied  map[int32]uint64
		shutting map[int32]bool
	}
}

func newControllerState(r *Runtime) *controllerState { return &controllerState{r: r} }

// runController follows raft leadership: while this node leads (and has
// established its term) it answers heartbeats and runs a reconcile step
// every ControllerTick and whenever a heartbeat or member event asks.
func (r *Runtime) runController() {
	defer r.wg.Done()
	sub, unsub := r.store.Subscribe()
	defer unsub()
	tick := time.NewTicker(r.cfg.ControllerTick)
	defer tick.Stop()
	defer r.ctrl.resign()
	for {
		select {
		case <-r.stop:
			return
		case <-sub:
		case <-tick.C:
		case <-r.kickCtrl:
		}
		if !r.store.LeaderReady() {
			r.ctrl.resign()
			continue
		}
		r.ctrl.lead()
		r.ctrl.step()
	}
}

// lead starts a term: every registered broker gets a fresh lease (those
// fenced in the metadata stay fenced until they heartbeat), so nobody is
// fenced before a whole session has passed under this controller.
func (c *controllerState) lead() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.leading {
		return
	}
	leases, _ := controller.NewLeaseTable(c.r.cfg.SessionTimeout)
	var ids []int32
	brokers := c.r.store.Brokers()
	for _, b := range brokers {
		ids = append(ids, b.ID)
	}
	leases.Seed(ids, time.Now())
	for _, b := range brokers {
		if b.Fenced {
			leases.Fence(b.ID)
		}
	}
	// The raft leader whose loss made this node leader stopped answering
	// when raft last heard from it, a heartbeat timeout and an election
	// ago: its lease runs from then (a live one heartbeats again at once).
	// Only a recent loss counts: this is the election it caused.
	if id, at, ok := c.r.store.LostLeader(); ok && id != c.r.cfg.NodeID && slices.Contains(ids, id) &&
		time.Since(at) < 5*c.r.cfg.SessionTimeout {
		leases.Backdate(id, at)
		c.r.log.Info("lease of the lost raft leader runs from its last raft contact", "broker", id, "last_contact", time.Since(at).Round(time.Millisecond))
	}
	// A broker gossip already reports failed or gone (typically the raft
	// leader whose death made this node leader: its failure event came
	// while this node could not act on it) is fenced now, not a whole
	// session later.
	for _, m := range c.r.member.Members() {
		id := m.Tags.NodeID
		if id == c.r.cfg.NodeID || !slices.Contains(ids, id) || (m.Status != membership.StatusFailed && m.Status != membership.StatusLeft) {
			continue
		}
		if !leases.Fenced(id, time.Now()) {
			leases.Fence(id)
			c.r.log.Info("fencing broker gossip reports down, on taking over as controller", "broker", id, "status", m.Status)
		}
	}
	c.mu.leading = true
	c.mu.leases = leases
	c.mu.applied = map[int32]uint64{}
	c.mu.shutting = map[int32]bool{}
	c.r.store.SetHeartbeatHandler(c.heartbeat)
	c.r.log.Info("controller active", "brokers", ids)
}

func (c *controllerState) resign() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.mu.leading {
		return
	}
	c.r.store.SetHeartbeatHandler(nil)
	c.mu.leading = false
	c.mu.leases = nil
	c.r.log.Info("controller inactive")
}

// memberDown fences a broker gossip reports failed or left, without
// waiting for its lease to run out.
func (c *controllerState) memberDown(id int32, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.mu.leading || c.mu.leases.Fenced(id, time.Now()) {
		return
	}
	c.mu.leases.Fence(id)
	c.r.log.Info("fencing broker reported down by gossip", "broker", id, "event", why)
	kick(c.r.kickCtrl)
}

// heartbeat answers a broker's lease renewal. A broker whose epoch this
// controller does not know (it restarted, or the controller changed) gets
// a new epoch. Asking to shut down fences it, so the next step moves its
// leaderships away; it may stop once it leads nothing.
func (c *controllerState) heartbeat(_ context.Context, req meta.HeartbeatRequest) (meta.HeartbeatResponse, error) {
	now := time.Now()
	c.mu.Lock()
	if !c.mu.leading {
		c.mu.Unlock()
		return meta.HeartbeatResponse{}, meta.ErrNoHeartbeatHandler
	}
	l := c.mu.leases
	epoch := req.BrokerEpoch
	if epoch == 0 || epoch != l.Epoch(req.BrokerID) {
		var err error
		if epoch, err = l.Register(req.BrokerID, now); err != nil {
			c.mu.Unlock()
			return meta.HeartbeatResponse{}, err
		}
	}
	unfenced, err := l.Heartbeat(req.BrokerID, epoch, now)
	if err != nil {
		c.mu.Unlock()
		return meta.HeartbeatResponse{}, err
	}
	wasShutting := c.mu.shutting[req.BrokerID]
	if req.WantShutdown {
		c.mu.shutting[req.BrokerID] = true
		l.Fence(req.BrokerID)
	} else {
		delete(c.mu.shutting, req.BrokerID)
	}
	c.mu.applied[req.BrokerID] = req.AppliedVersion
	fenced := l.Fenced(req.BrokerID, now)
	minApplied := c.minAppliedLocked(now)
	c.mu.Unlock()
	if unfenced || (req.WantShutdown && !wasShutting) {
		kick(c.r.kickCtrl)
	}
	resp := meta.HeartbeatResponse{BrokerEpoch: epoch, Fenced: fenced, MinAppliedVersion: minApplied}
	if b, ok := c.r.store.Broker(req.BrokerID); !ok || b.Fenced {
		// Not live for clients until the metadata says so.
		resp.Fenced = true
		if ok && !fenced {
			kick(c.r.kickCtrl)
		}
	}
	if req.WantShutdown {
		resp.ShouldShutdown = leadsNothing(c.r.store.Topics(), req.BrokerID)
	}
	return resp, nil
}

// minAppliedLocked is the lowest metadata version applied by any live
// broker, as last reported: CreateTopics waits for it so every node lists
// a topic once the request returns.
func (c *controllerState) minAppliedLocked(now time.Time) uint64 {
	var out uint64
	first := true
	for id := range c.mu.leases.Live(now) {
		v := c.mu.applied[id]
		if first || v < out {
			out, first = v, false
		}
	}
	return out
}

func leadsNothing(topics []meta.Topic, id int32) bool {
	for _, t := range topics {
		for _, p := range t.Partitions {
			if p.Leader == id {
				return false
			}
		}
	}
	return true
}

// step is one reconcile pass: controller.Plan over the current metadata,
// then the writes it asks for. Fencing in the metadata follows the lease
// table; partition updates carry their epoch guard, so a write planned
// from a stale view fails with ErrStaleEpoch and the next step replans.
func (c *controllerState) step() {
	brokers := c.r.store.Brokers()
	st := controller.State{Brokers: brokers, Topics: c.r.store.Topics(), Unclean: map[string]bool{}}
	bc := c.r.cfg.Broker.WithDynamic(c.r.store.ClusterConfigs())
	for _, t := range st.Topics {
		if bc.Topic(t.Configs).Get("unclean.leader.election.enable") == "true" {
			st.Unclean[t.Name] = true
		}
	}
	now := time.Now()
	c.mu.Lock()
	if !c.mu.leading {
		c.mu.Unlock()
		return
	}
	unreachable := c.r.store.UnreachablePeers()
	c.mu.leases.SetUnreachable(unreachable)
	opts := controller.DefaultOptions()
	if !bc.Bool("auto.leader.rebalance.enable") {
		opts.MaxPreferredMoves = 0
	}
	actions := controller.Plan(st, c.mu.leases, now, opts)
	for _, a := range actions {
		if a.Kind == controller.ActionFence {
			c.mu.leases.Fence(a.Broker)
			c.r.log.Warn("broker lease expired; fencing", "broker", a.Broker, "session_timeout", c.mu.leases.SessionTimeout(),
				"raft_unreachable", unreachable[a.Broker])
		}
	}
	want := map[int32]bool{}
	for _, b := range brokers {
		want[b.ID] = c.mu.leases.Fenced(b.ID, now)
	}
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, b := range brokers {
		if b.Fenced == want[b.ID] {
			continue
		}
		if err := c.r.store.SetBrokerFenced(ctx, b.ID, want[b.ID]); err != nil {
			c.r.log.Warn("recording broker fencing", "broker", b.ID, "fenced", want[b.ID], "err", err)
			return
		}
		c.r.log.Info("broker fencing recorded", "broker", b.ID, "fenced", want[b.ID])
	}
	var updates []meta.PartitionUpdate
	for _, a := range actions {
		if a.Kind != controller.ActionFence {
			updates = append(updates, a.Update)
		}
	}
	c.applyUpdates(ctx, updates)
}

// applyUpdates proposes partition updates concurrently (raft batches
// concurrent proposals into one log append), at most 32 at a time.
func (c *controllerState) applyUpdates(ctx context.Context, updates []meta.PartitionUpdate) {
	if len(updates) == 0 {
		return
	}
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, u := range updates {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := c.r.store.UpdatePartition(ctx, u)
			switch {
			case err == nil && u.Unclean:
				c.uncleanElections.Add(1)
				c.r.log.Warn("unclean leader election: no in-sync replica is live, so an out-of-sync one leads and records only the old ISR had are lost",
					"topic", u.Topic, "partition", u.Partition, "leader", u.Leader, "old_isr", u.ExpectedISR)
			case err == nil:
				c.r.log.Info("partition leadership changed", "topic", u.Topic, "partition", u.Partition, "leader", u.Leader, "isr", u.ISR)
			case errors.Is(err, meta.ErrStaleEpoch):
			default:
				c.r.log.Warn("changing partition leadership", "topic", u.Topic, "partition", u.Partition, "err", err)
			}
		}()
	}
	wg.Wait()
}
