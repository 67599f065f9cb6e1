package meta

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/boltdb/bolt"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb"
)

// Store is a node's handle on the replicated cluster metadata. Reads are
// served from the local state machine; writes go through the raft leader.
type Store struct {
	cfg  Config
	log  *slog.Logger
	fsm  *fsm
	subs *subscribers

	raft     *raft.Raft
	bolt     *raftboltdb.BoltStore
	trans    raft.Transport
	observer *raft.Observer
	// mux is the raft address's listener, shared by raft and forwarded
	// calls; nil with the in-memory transport.
	mux *muxLayer
	fwd forwardState
	// placer, when set, places new topics' replicas (placer.go).
	placer atomic.Pointer[Placer]

	// peers are the raft peers this node, as leader, fails to reach.
	peers reachability

	// savedClusterID is clusterIDFile's content at Open (clusterid.go).
	savedClusterID string

	// runCtx ends when Close starts; work done for other nodes uses it.
	runCtx    context.Context
	runCancel context.CancelFunc

	notifyCh   chan bool
	observeCh  chan raft.Observation
	shutdownCh chan struct{}
	wg         sync.WaitGroup
	closed     atomic.Bool
	lastTLSLog atomic.Int64 // unix nanos of the last refused-handshake warning (mux.go)
	closeOnce  sync.Once
	closeErr   error

	// leader tracks whether this node has finished establishing its
	// current term of leadership (barrier applied, cluster ID set).
	leader struct {
		sync.Mutex
		gen    uint64
		ready  bool
		cancel context.CancelFunc
	}
}

// Open starts raft on cfg.Dir and, when the directory holds no raft state
// and cfg.Bootstrap is set, bootstraps a cluster whose only voter is this
// node. It returns before leadership is established: call WaitReady.
func Open(cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("meta: creating %s: %w", cfg.Dir, err)
	}
	s := &Store{
		cfg:        cfg,
		log:        cfg.Logger,
		subs:       newSubscribers(),
		notifyCh:   make(chan bool, 16),
		observeCh:  make(chan raft.Observation, 16),
		shutdownCh: make(chan struct{}),
	}
	cid, err := readClusterIDFile(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s.savedClusterID = cid
	s.runCtx, s.runCancel = context.WithCancel(context.Background())
	s.fsm = newFSM(s.log, s.subs)
	if err := s.open(); err != nil {
		s.runCancel()
		s.closeResources()
		return nil, err
	}
	s.wg.Add(3)
	go s.runLeadership()
	go s.runObserve()
	go s.runClusterIDFile()
	if s.mux != nil {
		s.wg.Add(1)
		go s.runAccept(s.mux)
	}
	return s, nil
}

// open builds the raft stores, transport and node; on error the caller
// closes whatever was opened.
func (s *Store) open() error {
	rlog := newHCLogAdapter(s.cfg.Logger, "raft")
	var err error
	s.bolt, err = raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(s.cfg.Dir, "raft.db"),
		BoltOptions: &bolt.Options{Timeout: 2 * time.Second},
	})
	if err != nil {
		return fmt.Errorf("meta: opening raft log in %s: %w", s.cfg.Dir, err)
	}
	logs, err := raft.NewLogCache(512, s.bolt)
	if err != nil {
		return fmt.Errorf("meta: raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.cfg.Dir, s.cfg.SnapshotRetain, rlog)
	if err != nil {
		return fmt.Errorf("meta: snapshot store in %s: %w", s.cfg.Dir, err)
	}
	if err := s.openTransport(rlog); err != nil {
		return err
	}

	rc := raft.DefaultConfig()
	rc.LocalID = serverID(s.cfg.NodeID)
	rc.HeartbeatTimeout = s.cfg.HeartbeatTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = s.cfg.LeaderLeaseTimeout
	if s.cfg.CommitTimeout > 0 {
		rc.CommitTimeout = s.cfg.CommitTimeout
	}
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	rc.SnapshotInterval = s.cfg.SnapshotInterval
	rc.TrailingLogs = s.cfg.TrailingLogs
	rc.NotifyCh = s.notifyCh
	rc.Logger = rlog
	rc.NoLegacyTelemetry = true
	if err := raft.ValidateConfig(rc); err != nil {
		return fmt.Errorf("meta: raft config: %w", err)
	}

	hasState, err := raft.HasExistingState(logs, s.bolt, snaps)
	if err != nil {
		return fmt.Errorf("meta: reading raft state: %w", err)
	}
	s.raft, err = raft.NewRaft(rc, s.fsm, logs, s.bolt, snaps, s.trans)
	if err != nil {
		return fmt.Errorf("meta: starting raft: %w", err)
	}
	s.observer = raft.NewObserver(s.observeCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	s.raft.RegisterObserver(s.observer)

	if hasState {
		s.checkStoredMembership(rc.LocalID)
	}
	if !hasState && s.cfg.Bootstrap {
		conf := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter,
			ID:       rc.LocalID,
			Address:  s.trans.LocalAddr(),
		}}}
		if err := s.raft.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return fmt.Errorf("meta: bootstrapping: %w", err)
		}
		s.log.Info("bootstrapped single-voter metadata cluster", "addr", s.trans.LocalAddr())
	}
	return nil
}

// checkStoredMembership warns when the stored raft configuration does not
// list this node as a voter, the usual sign of a data directory reused
// under another node ID: such a node never becomes ready.
func (s *Store) checkStoredMembership(id raft.ServerID) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		s.log.Warn("reading stored raft configuration", "err", err)
		return
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == id {
			return
		}
	}
	s.log.Warn("this node is not in its stored raft configuration; was the data directory written under another node id?",
		"dir", s.cfg.Dir, "servers", f.Configuration().Servers)
}

func (s *Store) openTransport(rlog *hclogAdapter) error {
	if s.cfg.BindAddr == "" {
		_, s.trans = raft.NewInmemTransport(raft.ServerAddress("strata-meta-" + strconv.Itoa(int(s.cfg.NodeID))))
		return nil
	}
	var advertise net.Addr
	if s.cfg.AdvertiseAddr != "" {
		a, err := net.ResolveTCPAddr("tcp", s.cfg.AdvertiseAddr)
		if err != nil {
			return fmt.Errorf("meta: advertise addr %q: %w", s.cfg.AdvertiseAddr, err)
		}
		advertise = a
	}
	m, err := newMuxLayer(s.cfg.BindAddr, advertise, s.cfg.ServerTLS, s.cfg.ClientTLS)
	if err != nil {
		return fmt.Errorf("meta: raft transport on %s: %w", s.cfg.BindAddr, err)
	}
	s.mux = m
	s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  m,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  rlog,
	})
	return nil
}

func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }

// Addr is the raft transport address of this node.
func (s *Store) Addr() string { return string(s.trans.LocalAddr()) }

// Close stops raft and closes the log store and transport. It is safe to
// call more than once; later calls return the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.shutdownCh)
		s.runCancel()
		s.closeErr = s.closeResources()
		s.fwd.closeAll()
		s.wg.Wait()
	})
	return s.closeErr
}

func (s *Store) closeResources() error {
	var errs []error
	if s.raft != nil {
		s.raft.DeregisterObserver(s.observer)
		if err := s.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("meta: raft shutdown: %w", err))
		}
	}
	if c, ok := s.trans.(io.Closer); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, fmt.Errorf("meta: closing transport: %w", err))
		}
	}
	if s.bolt != nil {
		if err := s.bolt.Close(); err != nil {
			errs = append(errs, fmt.Errorf("meta: closing raft log: %w", err))
		}
	}
	return errors.Join(errs...)
}

// runLeadership follows raft's leadership notifications. On gaining
// leadership it starts establishLeadership for that term; on losing it, it
// cancels that work and marks the store not ready.
func (s *Store) runLeadership() {
	defer s.wg.Done()
	defer s.stepDown()
	for {
		select {
		case <-s.shutdownCh:
			return
		case isLeader := <-s.notifyCh:
			s.stepDown()
			if isLeader {
				s.startLeadership()
			}
			s.subs.notify()
		}
	}
}

func (s *Store) stepDown() {
	s.leader.Lock()
	defer s.leader.Unlock()
	s.leader.gen++
	s.leader.ready = false
	if s.leader.cancel != nil {
		s.leader.cancel()
		s.leader.cancel = nil
	}
}

func (s *Store) startLeadership() {
	ctx, cancel := context.WithCancel(context.Background())
	s.leader.Lock()
	gen := s.leader.gen
	s.leader.cancel = cancel
	s.leader.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runEstablishLeadership(ctx, gen)
	}()
}

// runEstablishLeadership makes a new leader's state machine current with a
// barrier, gives the cluster its ID if it has none, and marks the store
// ready. It retries until it succeeds or leadership ends.
func (s *Store) runEstablishLeadership(ctx context.Context, gen uint64) {
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err := s.raft.Barrier(s.cfg.ApplyTimeout).Error(); err != nil {
			s.log.Warn("leader barrier failed", "err", err)
			continue
		}
		if s.ClusterID() == "" {
			init := &initCluster{ClusterID: newClusterID()}
			for _, u := range s.cfg.InitialScram {
				init.Scram = append(init.Scram, scramToJSON(u))
			}
			if err := s.apply(ctx, cmdInitCluster, init); err != nil {
				s.log.Warn("setting cluster id failed", "err", err)
				continue
			}
			s.log.Info("cluster id set", "cluster_id", s.ClusterID())
		}
		s.leader.Lock()
		if s.leader.gen == gen {
			s.leader.ready = true
		}
		s.leader.Unlock()
		s.subs.notify()
		return
	}
}

// runObserve turns raft leader changes into subscriber signals, so callers
// watching ControllerID hear about a new controller.
func (s *Store) runObserve() {
	defer s.wg.Done()
	for {
		select {
		case <-s.shutdownCh:
			return
		case o := <-s.observeCh:
			switch d := o.Data.(type) {
			case raft.LeaderObservation:
				s.log.Debug("metadata leader changed", "leader", d.LeaderID)
				s.peers.noteLeader(d.LeaderID, s.raft.LastContact())
				s.peers.reset()
				s.subs.notify()
			case raft.FailedHeartbeatObservation:
				s.peers.set(d.PeerID, true)
			case raft.ResumedHeartbeatObservation:
				s.peers.set(d.PeerID, false)
			}
		}
	}
}

// ready reports whether reads reflect the committed state: as leader, once
// leadership is established; as follower, once a leader is known and the
// cluster ID has arrived.
func (s *Store) ready() bool {
	s.leader.Lock()
	ready := s.leader.ready
	s.leader.Unlock()
	if ready {
		return true
	}
	if s.raft.State() == raft.Leader {
		return false
	}
	_, id := s.raft.LeaderWithID()
	return id != "" && s.ClusterID() != ""
}

// WaitReady blocks until the store is ready to serve: on the node that
// leads (every single-node cluster), until its state machine has applied
// everything committed before its term and the cluster ID exists.
func (s *Store) WaitReady(ctx context.Context) error {
	ch, cancel := s.subs.subscribe()
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closed.Load() {
			return ErrClosed
		}
		if s.ready() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("meta: waiting for metadata leadership: %w", ctx.Err())
		case <-ch:
		case <-tick.C:
		}
	}
}

// LeaderReady reports whether this node leads and has established its
// term (its state machine holds everything committed before it): the
// point from which a controller on this node may act on the state.
func (s *Store) LeaderReady() bool {
	s.leader.Lock()
	defer s.leader.Unlock()
	return s.leader.ready && !s.closed.Load()
}

// Bootstrapped reports whether this node has a raft configuration: it
// bootstrapped a cluster, restarted with raft state, or was added by a
// leader. A cluster node that has none decides whether to bootstrap.
func (s *Store) Bootstrapped() bool {
	if s.closed.Load() {
		return false
	}
	f := s.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) > 0
}

// IsLeader reports whether this node is the raft leader.
func (s *Store) IsLeader() bool {
	return !s.closed.Load() && s.raft.State() == raft.Leader
}

// ControllerID is the node ID of the raft leader, or NoLeader.
func (s *Store) ControllerID() int32 {
	if s.closed.Load() {
		return NoLeader
	}
	_, id := s.raft.LeaderWithID()
	n, err := strconv.ParseInt(string(id), 10, 32)
	if id == "" || err != nil {
		return NoLeader
	}
	return int32(n)
}

// Snapshot asks raft for a snapshot now and waits for it, truncating the
// log past TrailingLogs.
func (s *Store) Snapshot() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.raft.Snapshot().Error(); err != nil {
		return fmt.Errorf("meta: snapshot: %w", err)
	}
	return nil
}

// ClusterID is the cluster's ID, empty until the first leader sets it.
func (s *Store) ClusterID() (id string) {
	s.fsm.read(func(st *state) { id = st.clusterID })
	return id
}

// Version is the raft index of the last applied change; it increases with
// every change and never goes back.
func (s *Store) Version() (v uint64) {
	s.fsm.read(func(st *state) { v = st.version })
	return v
}

// Brokers lists registered brokers by ID.
func (s *Store) Brokers() []Broker {
	var out []Broker
	s.fsm.read(func(st *state) {
		out = make([]Broker, 0, len(st.brokers))
		for _, id := range slices.Sorted(maps.Keys(st.brokers)) {
			out = append(out, st.brokers[id])
		}
	})
	return out
}

// Broker returns one registered broker.
func (s *Store) Broker(id int32) (b Broker, ok bool) {
	s.fsm.read(func(st *state) { b, ok = st.brokers[id] })
	return b, ok
}

// Topics lists every topic, sorted by name, as copies.
func (s *Store) Topics() []Topic {
	var out []Topic
	s.fsm.read(func(st *state) { out = topicList(st) })
	return out
}

// Topic returns a copy of one topic.
func (s *Store) Topic(name string) (t Topic, ok bool) {
	s.fsm.read(func(st *state) {
		var p *Topic
		if p, ok = st.topics[name]; ok {
			t = p.clone()
		}
	})
	return t, ok
}

// TopicByID returns a copy of the topic with the given ID.
func (s *Store) TopicByID(id [16]byte) (t Topic, ok bool) {
	s.fsm.read(func(st *state) {
		var name string
		if name, ok = st.topicIDs[id]; ok {
			t = st.topics[name].clone()
		}
	})
	return t, ok
}

// ClusterConfigs returns a copy of the dynamic cluster-wide configs.
func (s *Store) ClusterConfigs() (m map[string]string) {
	s.fsm.read(func(st *state) { m = cloneConfigs(st.clusterConfigs) })
	return m
}

// Subscribe returns a channel that receives a signal after changes to the
// metadata or its leader. Signals coalesce (the channel holds one), so a
// receiver re-reads whatever it cares about. cancel stops delivery; the
// channel is never closed.
func (s *Store) Subscribe() (<-chan struct{}, func()) {
	return s.subs.subscribe()
}

// newClusterID returns a random 16-byte ID in unpadded base64url, the form
// Kafka uses: 22 characters.
func newClusterID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newTopicID returns a random version-4 UUID.
func newTopicID() [16]byte {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}
