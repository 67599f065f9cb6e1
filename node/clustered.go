package node

import (
	"context"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/stratalog/strata/cluster"
	"github.com/stratalog/strata/membership"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/security"
)

// Version is this build's version, gossiped to the other nodes; release
// builds set it with -ldflags "-X github.com/stratalog/strata/node.Version=...".
var Version = "dev"

// ClusterConfig holds the cluster flags. A node is clustered when any of
// Join, BootstrapExpect, GossipAddr or RaftAddr is set; otherwise it runs
// alone on an in-memory single-voter quorum and binds no cluster port.
type ClusterConfig struct {
	GossipAddr      string   // serf bind address; default 127.0.0.1:7946 when clustered
	RaftAddr        string   // raft address; default 127.0.0.1:7947 when clustered
	Join            []string // serf seeds
	BootstrapExpect int      // voter candidates that bootstrap the quorum together
	Rack            string   // also broker.rack
	Region          string
	GossipKeyFile   string // base64 key (16, 24 or 32 bytes) encrypting gossip

	// RaftTimeout, when set, is raft's heartbeat and election timeout
	// (default 500 ms); tests on loopback shorten it.
	RaftTimeout time.Duration
}

// Clustered reports whether the node joins (or forms) a cluster.
func (c ClusterConfig) Clustered() bool {
	return len(c.Join) > 0 || c.BootstrapExpect > 0 || c.GossipAddr != "" || c.RaftAddr != ""
}

func (c ClusterConfig) validate() error {
	if !c.Clustered() {
		return nil
	}
	for name, a := range map[string]string{"gossip-addr": c.GossipAddr, "raft-addr": c.RaftAddr} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			return fmt.Errorf("join: %q: %w", j, err)
		}
	}
	if c.BootstrapExpect < 0 || c.BootstrapExpect > cluster.MaxVoters {
		return fmt.Errorf("bootstrap-expect: %d must be between 0 and %d", c.BootstrapExpect, cluster.MaxVoters)
	}
	return nil
}

// openClusterMeta opens the metadata store of a clustered node on its raft
// address, without bootstrapping: the cluster runtime decides that.
func openClusterMeta(cfg Config, plan *securityPlan, peerCerts *security.Certs, log *slog.Logger) (*meta.Store, error) {
	mc := meta.DefaultConfig()
	if peerCerts != nil {
		mc.ServerTLS, mc.ClientTLS = peerCerts.PeerConfigs()
	}
	var err error
	if mc.InitialScram, err = plan.initialScram(); err != nil {
		return nil, err
	}
	mc.NodeID = cfg.NodeID
	mc.Dir = filepath.Join(cfg.DataDir, "meta")
	mc.Logger = log.With("component", "meta")
	mc.Bootstrap = false
	mc.BindAddr = cfg.Cluster.RaftAddr
	if mc.BindAddr == "" {
		mc.BindAddr = cluster.DefaultRaftAddr
	}
	if t := cfg.Cluster.RaftTimeout; t > 0 {
		mc.HeartbeatTimeout, mc.ElectionTimeout, mc.LeaderLeaseTimeout = t, t, t/2
	}
	s, err := meta.Open(mc)
	if err != nil {
		return nil, fmt.Errorf("raft-addr: opening metadata store: %w", err)
	}
	return s, nil
}

// startCluster starts the cluster runtime and waits until the metadata
// quorum is reachable (bootstrapped, or this node added by its leader).
func (n *Node) startCluster(ctx context.Context, ms *meta.Store) error {
	cc := cluster.DefaultConfig()
	cc.NodeID = n.cfg.NodeID
	if a := n.cfg.Cluster.GossipAddr; a != "" {
		cc.GossipAddr = a
	}
	cc.RaftAddr = ms.Addr()
	cc.KafkaAddr = net.JoinHostPort(n.advertise.host, fmt.Sprint(n.advertise.port))
	cc.Join = n.cfg.Cluster.Join
	cc.BootstrapExpect = n.cfg.Cluster.BootstrapExpect
	if cc.BootstrapExpect == 0 && len(cc.Join) == 0 {
		cc.BootstrapExpect = 1 // cluster flags without peers: a cluster of one
	}
	cc.Rack = n.static.Get("broker.rack")
	cc.Broker = n.static
	cc.Region = n.cfg.Cluster.Region
	cc.Version = Version
	cc.Logger = n.log
	cc.SessionTimeout = time.Duration(n.static.Int64("broker.session.timeout.ms")) * time.Millisecond
	cc.HeartbeatInterval = time.Duration(n.static.Int64("broker.heartbeat.interval.ms")) * time.Millisecond
	if f := n.cfg.Cluster.GossipKeyFile; f != "" {
		k, err := membership.LoadGossipKey(f)
		if err != nil {
			return fmt.Errorf("gossip-key-file: %w", err)
		}
		cc.GossipKey = k
	}
	rt, err := cluster.Start(cc, ms, func() uint64 { v, _ := n.applied.load(); return v })
	if err != nil {
		return err
	}
	n.cluster = rt
	n.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "strata_cluster_peer_tls_failures_total",
		Help: "Connections to or from the raft address whose mutual TLS handshake failed (--cluster-tls-*).",
	}, func() float64 { return float64(ms.PeerTLSFailures()) }))
	n.metrics.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "strata_cluster_unclean_elections_total",
		Help: "Partitions this node, as controller, gave to an out-of-sync replica (unclean.leader.election.enable).",
	}, func() float64 { return float64(rt.UncleanElections()) }))
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fatal := make(chan error, 1)
	go func() {
		select {
		case err := <-rt.Fatal():
			fatal <- err
			cancel()
		case <-wctx.Done():
		}
	}()
	n.log.Info("waiting for the metadata quorum", "gossip", rt.GossipAddr(), "raft", ms.Addr(), "join", cc.Join, "bootstrap_expect", cc.BootstrapExpect)
	if err := ms.WaitReady(wctx); err != nil {
		select {
		case ferr := <-fatal:
			err = ferr
		default:
		}
		_ = rt.Close(context.Background())
		n.cluster = nil
		return err
	}
	return nil
}

// awaitClusterWrite extends awaitOwnWrite to the whole cluster: it waits
// (bounded by ctx and a few seconds) until every live broker has applied
// the metadata version this node holds, so a topic CreateTopics made is
// listed with all its partitions by every node once the request returns.
func (n *Node) awaitClusterWrite(ctx context.Context, version uint64) error {
	if n.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return n.cluster.WaitApplied(ctx, version)
}

// Fatal delivers an error that must stop the node: the cluster refused
// it, or the object store it came back to belongs to another cluster.
func (n *Node) Fatal() <-chan error { return n.fatal }

// runForwardFatal passes the cluster runtime's fatal error on to Fatal; it
// stops when the node drains.
func (n *Node) runForwardFatal() {
	defer n.loops.Done()
	select {
	case err := <-n.cluster.Fatal():
		n.fail(err)
	case <-n.drain:
	}
}
