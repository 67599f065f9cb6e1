package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/bucket"
	"github.com/stratalog/strata/cluster"
	"github.com/stratalog/strata/kconfig"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/quota"
	"github.com/stratalog/strata/security"
	"github.com/stratalog/strata/storage"
	"github.com/stratalog/strata/tiering"
)

// Config configures a broker. Field names match the command-line flags, the
// YAML config file keys and the STRATA_* environment variables.
type Config struct {
	NodeID              int32
	DataDir             string
	KafkaAddr           string // listen address of the Kafka protocol
	AdvertisedKafkaAddr string // address clients are told to use; defaults to the listen address
	HTTPAddr            string // health, readiness and metrics; "" disables
	// ObjectStore is the cold tier's URL (objectstore URL forms); empty
	// means a directory under DataDir (the embedded default).
	ObjectStore string
	// Settings are broker settings under Kafka's names (log.segment.bytes, ...).
	Settings map[string]string
	// ShutdownTimeout bounds how long Close waits for in-flight requests.
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	// WrapObjectStore, when set, wraps the cold tier's store after it is
	// opened (tests inject faults with objectstore/faultstore); nil in
	// production.
	WrapObjectStore func(objectstore.Store) objectstore.Store
	// ReadReplicaOf, when set, makes the node a read replica of the
	// cluster whose object store it names (--read-replica-of): it serves
	// that bucket's topics read-only and never writes to it.
	ReadReplicaOf string
	// ClaimBucket takes over an object store another cluster has claimed
	// (--claim-bucket); without it such a store is refused at start.
	ClaimBucket bool
	// Cluster holds the cluster flags; all empty means a single node.
	Cluster ClusterConfig
	// Security holds the listener, TLS, SASL and authorizer flags; the
	// zero value is one PLAINTEXT listener on KafkaAddr, open to all.
	Security SecurityConfig
	// AuditLogger receives one line per failed authentication and denied
	// operation; nil means Logger with log=audit.
	AuditLogger *slog.Logger
	// Fdatasync, when set, replaces the fdatasync system call of every
	// partition log (storage.Config.Fdatasync), for fault-injection tests.
	Fdatasync func(fd int) error
}

// DefaultConfig returns the configuration of `make run`: one node, data
// under ./data, Kafka on 127.0.0.1:9092, HTTP on 127.0.0.1:9644.
func DefaultConfig() Config {
	return Config{
		NodeID:          1,
		DataDir:         "./data",
		KafkaAddr:       "127.0.0.1:9092",
		HTTPAddr:        "127.0.0.1:9644",
		Settings:        map[string]string{},
		ShutdownTimeout: 10 * time.Second,
	}
}

// Validate reports the first invalid field, naming it.
func (c Config) Validate() error {
	if c.NodeID < 0 {
		return fmt.Errorf("node-id: must be >= 0, got %d", c.NodeID)
	}
	if c.DataDir == "" {
		return errors.New("data-dir: must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.KafkaAddr); err != nil {
		return fmt.Errorf("kafka-addr: %w", err)
	}
	if c.AdvertisedKafkaAddr != "" {
		if _, err := splitAdvertised(c.AdvertisedKafkaAddr); err != nil {
			return fmt.Errorf("advertised-kafka-addr: %w", err)
		}
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return fmt.Errorf("http-addr: %w", err)
		}
	}
	if _, err := kconfig.NewBroker(c.Settings); err != nil {
		return fmt.Errorf("set: %w", err)
	}
	p, err := c.Security.plan(c.KafkaAddr, c.AdvertisedKafkaAddr)
	if err != nil {
		return err
	}
	if p.clusterTLS.Configured() && !c.Cluster.Clustered() {
		return errors.New("cluster-tls-*: the raft address is a clustered node's (give --join, --bootstrap-expect or --raft-addr)")
	}
	return c.Cluster.validate()
}

type hostPort struct {
	host string
	port int32
}

func splitAdvertised(addr string) (hostPort, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return hostPort{}, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return hostPort{}, fmt.Errorf("bad port %q", p)
	}
	if h == "" || h == "0.0.0.0" || h == "::" {
		h = "127.0.0.1"
	}
	return hostPort{h, int32(port)}, nil
}

// Node is a running broker.
type Node struct {
	parked  parkedFetches // follower fetches parked here, by follower
	cfg     Config
	log     *slog.Logger
	meta    Metadata
	cluster *cluster.Runtime // nil on a single node (clustered.go)
	parts   *partitionSet
	applied appliedVersion // metadata version parts reflects (metadata.go)
	syncer  *storage.Syncer
	metrics *metrics
	txns    *txnService // producer IDs and the transaction coordinator (txns.go)
	groups  *groupState // the group coordinator (groups.go)

	// tier moves sealed segments to the object store (tiering.go).
	tier      *tiering.Manager
	tierStore objectstore.Store
	metaUp    *bucket.Uploader // the metadata snapshots' uploader (runMetaUpload)
	// storeHealth is whether the object store answers (runStoreProbe).
	storeHealth storeHealth
	// fatal delivers an error that must stop the node (Fatal).
	fatal chan error
	// mirrorMeta is the metadata store itself (n.meta wraps it on a read
	// replica); mirrorVersion the primary's metadata version mirrored.
	mirrorMeta    Metadata
	mirrorVersion atomic.Uint64

	broker atomic.Pointer[kconfig.Broker]
	static kconfig.Broker

	sec       *secState  // listeners, TLS, SASL, authorizer (security.go)
	quotas    quotaState // client quotas (quotas.go)
	httpSrv   *http.Server
	httpCerts *security.Certs // --http-tls-cert-file, reloaded with the listeners'
	httpLn    net.Listener
	advertise hostPort
	ready     atomic.Bool

	drain      chan struct{} // closed when the node stops taking requests
	healKick   chan struct{} // wakes runHeal (scrub.go)
	scrub      *scrubMetrics
	cleaner    cleanerState // the log cleaner (cleaner.go)
	drainCtx   context.Context
	undrain    context.CancelFunc // ends drainCtx when drain closes
	listener   listenerState      // connection limits and accept health (listener.go)
	reqBudget  *memBudget         // queued.max.request.bytes
	stopped    chan struct{}      // closed when in-flight work is abandoned
	drainOnce  sync.Once
	conns      sync.WaitGroup
	loops      sync.WaitGroup
	fetchers   *fetcherSet    // follower fetch loops (replication_follower.go)
	isrChanges sync.WaitGroup // runAlterISR calls in flight
	mu         struct {
		sync.Mutex
		conns map[net.Conn]struct{}
	}
	closeOnce sync.Once
	closeErr  error
}

// Start opens the metadata store and the logs, then listens. It returns once
// the node serves Kafka requests.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.Cluster.Rack != "" {
		cfg.Settings = maps.Clone(cfg.Settings)
		if cfg.Settings == nil {
			cfg.Settings = map[string]string{}
		}
		cfg.Settings["broker.rack"] = cfg.Cluster.Rack
	}
	static, _ := kconfig.NewBroker(cfg.Settings)
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.NodeID),
		static:   static,
		drain:    make(chan struct{}),
		fatal:    make(chan error, 1),
		healKick: make(chan struct{}, 1),
		stopped:  make(chan struct{}),
	}
	n.mu.conns = map[net.Conn]struct{}{}
	n.drainCtx, n.undrain = context.WithCancel(context.Background())
	n.reqBudget = newMemBudget(static.Int64("queued.max.request.bytes"), false)
	n.listener.init()
	n.applied.init()
	n.broker.Store(&static)
	n.metrics = newMetrics(n)
	n.scrub = newScrubMetrics(n.metrics.reg)
	n.cleaner = cleanerState{metrics: newCleanerMetrics(n.metrics.reg), kick: make(chan struct{}, 1),
		busy: map[*partition]bool{}, maps: map[int]int64{}}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "kafka"), 0o755); err != nil {
		return nil, fmt.Errorf("data-dir: %w", err)
	}

	// HTTP first, so /healthz answers while the rest starts.
	if cfg.HTTPAddr != "" {
		if err := n.startHTTP(); err != nil {
			return nil, err
		}
	}
	plan, err := cfg.Security.plan(cfg.KafkaAddr, cfg.AdvertisedKafkaAddr)
	if err == nil {
		err = n.bindListeners(plan)
	}
	if err != nil {
		n.stopHTTP()
		return nil, err
	}
	adv := n.sec.inter.adv.Addr()
	n.advertise, _ = splitAdvertised(adv)
	ln := n.sec.inter.ln

	phase := time.Now()
	var phases []any // start-up time per phase, logged at the end
	took := func(name string) {
		phases = append(phases, name, time.Since(phase))
		phase = time.Now()
	}
	var ms *meta.Store
	if cfg.ReadReplicaOf != "" && (cfg.Cluster.Clustered() || cfg.ObjectStore != "") {
		n.sec.closeListeners()
		n.stopHTTP()
		return nil, fmt.Errorf("read-replica-of: a read replica runs as one node whose store is the bucket it follows (no cluster flags, no --object-store)")
	}
	if cfg.Cluster.Clustered() {
		if cfg.ObjectStore == "" {
			n.log.Warn("clustered node tiering to a directory of its own: cold data is not shared, so a new leader cannot serve what another node uploaded; give every node the same --object-store")
		}
		ms, err = openClusterMeta(cfg, plan, n.sec.clusterCerts, n.log)
		if err == nil {
			if err = n.startCluster(ctx, ms); err != nil {
				ms.Close()
			}
		}
	} else {
		if err = checkFreshBucket(ctx, cfg); err == nil {
			ms, err = openMeta(ctx, cfg, plan, n.log)
		}
	}
	if err != nil {
		n.sec.closeListeners()
		n.stopHTTP()
		return nil, err
	}
	n.meta, n.mirrorMeta = ms, ms
	if n.readReplica() {
		n.meta = readReplicaMeta{Metadata: ms, n: n}
	}
	// A clustered broker registers fenced: the controller unfences it on
	// its first heartbeat, so clients never see a broker without a lease.
	self := meta.Broker{ID: cfg.NodeID, Host: n.advertise.host, Port: n.advertise.port, Rack: static.Get("broker.rack"), Fenced: n.cluster != nil,
		Endpoints: n.sec.endpoints()}
	if err := n.meta.RegisterBroker(ctx, self); err != nil {
		n.closeEarly()
		return nil, fmt.Errorf("registering broker: %w", err)
	}
	n.refreshBrokerConfig()
	n.refreshAuthorizer()
	n.quotas.mgr = quota.NewManager(quota.DefaultWindow)
	n.refreshQuotas()
	took("metadata")

	n.syncer = storage.NewSyncer(n.log)
	n.parts = newPartitionSet(n)
	n.fetchers = newFetcherSet(n)
	if err := n.startTiering(ctx); err != nil {
		n.closeEarly()
		return nil, err
	}
	took("tiering")
	// Subscribe before the first apply, so a change committed between it
	// and runMetaWatch's first wait still wakes the watcher.
	metaCh, metaCancel := n.meta.Subscribe()
	if err := n.applyMetadata(); err != nil {
		if down, _, _ := n.storeHealth.state(); !down || !onlyStoreDown(err) {
			metaCancel()
			n.closeEarly()
			return nil, err
		}
		n.log.Warn("partitions wait for the object store", "err", err)
	}
	took("partitions") // logs, tiering attach and producer state: "opened partitions" breaks it down
	if err := n.startGroups(); err != nil {
		metaCancel()
		n.closeEarly()
		return nil, err
	}
	took("groups")
	if err := n.startTxns(ctx); err != nil {
		metaCancel()
		n.closeEarly()
		return nil, err
	}
	took("transactions")
	n.log.Info("start-up phases", phases...)
	n.loops.Add(6 + len(n.sec.listeners))
	if n.sec.certs != nil || n.httpCerts != nil || n.sec.clusterCerts != nil || n.sec.jwks != nil {
		n.loops.Add(1)
		go n.runCertWatch()
	}
	if n.cluster != nil {
		n.loops.Add(1)
		go n.runForwardFatal()
	}
	if n.readReplica() {
		n.loops.Add(1)
		go n.runMirror()
	}
	go n.runStoreProbe()
	go n.runMetaUpload()
	go n.runMetaWatch(metaCh, metaCancel)
	go n.runHousekeeping()
	for _, l := range n.sec.listeners {
		go n.runAccept(l)
	}
	go n.runScrub()
	go n.runHeal()
	n.startCleaner()
	n.ready.Store(true)
	var lns []string
	for _, l := range n.sec.listeners {
		lns = append(lns, l.spec.Name+"://"+l.ln.Addr().String())
	}
	n.log.Info("node ready", "kafka", ln.Addr().String(), "listeners", strings.Join(lns, ","), "advertised", adv, "http", cfg.HTTPAddr, "data_dir", cfg.DataDir)
	return n, nil
}

func (n *Node) closeEarly() {
	n.sec.closeListeners()
	if n.cluster != nil {
		_ = n.cluster.Close(context.Background())
	}
	if n.meta != nil {
		_ = n.meta.Close()
	}
	n.stopHTTP()
}

// KafkaAddr is the address the inter-broker listener (the only one, with
// --kafka-addr) is bound to.
func (n *Node) KafkaAddr() string { return n.sec.inter.ln.Addr().String() }

// HTTPAddr is the address the HTTP listener is bound to ("" if disabled).
func (n *Node) HTTPAddr() string {
	if n.httpLn == nil {
		return ""
	}
	return n.httpLn.Addr().String()
}

func (n *Node) brokerCfg() kconfig.Broker { return *n.broker.Load() }

func (n *Node) refreshBrokerConfig() {
	b := n.static.WithDynamic(n.meta.ClusterConfigs())
	n.broker.Store(&b)
}

func (n *Node) draining() bool {
	select {
	case <-n.drain:
		return true
	default:
		return false
	}
}

// runMetaWatch applies metadata changes to the local partitions (ch is
// subscribed by Start before its first apply; runStoreProbe also applies
// once the object store is back). Handlers that write metadata wait for it
// with waitVisible.
func (n *Node) runMetaWatch(ch <-chan struct{}, cancel func()) {
	defer n.loops.Done()
	defer cancel()
	for {
		select {
		case <-n.drain:
			return
		case <-ch:
			n.refreshBrokerConfig()
			n.refreshAuthorizer()
			n.refreshQuotas()
			if err := n.applyMetadata(); err != nil {
				n.log.Error("applying metadata change", "err", err)
			}
			if n.cluster != nil {
				n.cluster.Kick()
			}
		}
	}
}

// runHousekeeping rolls segments by age, flushes by flush.ms and applies
// retention every log.retention.check.interval.ms.
func (n *Node) runHousekeeping() {
	defer n.loops.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	lastRetention, lastFDCheck := time.Now(), time.Time{}
	for {
		select {
		case <-n.drain:
			return
		case now := <-tick.C:
			retention := now.Sub(lastRetention) >= time.Duration(n.brokerCfg().Int64("log.retention.check.interval.ms"))*time.Millisecond
			if retention {
				lastRetention = now
			}
			for _, p := range n.parts.all() {
				p.housekeep(now, retention)
			}
			if now.Sub(lastFDCheck) >= fdCheckEvery {
				lastFDCheck = now
				n.checkFDs(now)
			}
		}
	}
}

// Close shuts the node down cleanly: it stops accepting connections and
// requests, lets in-flight requests finish (up to ShutdownTimeout), then
// flushes and closes every log and the metadata store.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.ready.Store(false)
		var errs []error
		if n.cluster != nil {
			// Controlled shutdown first, while this node still serves:
			// the controller moves its leaderships away.
			errs = append(errs, n.cluster.Close(context.Background()))
		}
		n.drainOnce.Do(func() { close(n.drain); n.undrain() })
		n.drainGroups()
		n.sec.closeListeners()
		// Wake every connection blocked in a read so it notices the drain.
		n.mu.Lock()
		for c := range n.mu.conns {
			_ = c.SetReadDeadline(time.Now())
		}
		n.mu.Unlock()
		done := make(chan struct{})
		go func() { n.conns.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(n.cfg.ShutdownTimeout):
			n.log.Warn("shutdown timeout: abandoning in-flight requests")
			close(n.stopped)
			n.mu.Lock()
			for c := range n.mu.conns {
				c.Close()
			}
			n.mu.Unlock()
			<-done
		}
		n.loops.Wait()
		n.fetchers.close()
		n.isrChanges.Wait()
		if n.txns != nil {
			n.txns.closePeers()
		}
		n.stopGroups()
		n.syncer.Close()
		errs = append(errs, n.stopTiering())
		errs = append(errs, n.parts.closeAll())
		errs = append(errs, n.meta.Close())
		n.stopHTTP()
		n.closeErr = errors.Join(errs...)
		n.log.Info("node stopped", "err", n.closeErr)
	})
	return n.closeErr
}
