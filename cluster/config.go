package cluster

import (
	"errors"
	"fmt"
	"github.com/stratalog/strata/kconfig"
	"log/slog"
	"net"
	"time"
)

// Defaults of the cluster flags.
const (
	DefaultGossipAddr = "127.0.0.1:7946"
	DefaultRaftAddr   = "127.0.0.1:7947"
	// MaxVoters caps the raft voters whatever --bootstrap-expect says.
	MaxVoters = 7
)

// Config configures a node's cluster runtime.
type Config struct {
	NodeID int32
	// GossipAddr is the serf bind address; RaftAddr the raft address other
	// nodes dial (the store's advertised address).
	GossipAddr string
	RaftAddr   string
	// KafkaAddr is the advertised Kafka address, carried in gossip tags.
	KafkaAddr string
	// Join are serf seeds, host:port; our own address may be among them.
	Join []string
	// BootstrapExpect, when > 0, makes this node a voter candidate that
	// bootstraps the raft cluster once that many candidates see each
	// other, and the count of voters the leader keeps.
	BootstrapExpect int
	Rack, Region    string
	// Broker is the node's static broker settings; with the cluster-wide
	// dynamic ones and topic overrides they decide per-topic controller
	// policy (unclean.leader.election.enable).
	Broker kconfig.Broker
	// GossipKey encrypts gossip (16, 24 or 32 bytes); nil means plain.
	GossipKey []byte
	Version   string

	// SessionTimeout is the broker lease; HeartbeatInterval how often a
	// broker renews it; ControllerTick how often the controller plans.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	ControllerTick    time.Duration
	// ShutdownTimeout bounds the controlled shutdown in Close.
	ShutdownTimeout time.Duration
	// Gossip tuning, zero for the membership defaults (tests on loopback
	// shorten them).
	ProbeInterval, ProbeTimeout, GossipInterval time.Duration

	Logger *slog.Logger
}

// DefaultConfig returns the timing defaults: an 800 ms broker session
// with a heartbeat every 200 ms, so a dead broker is fenced in under a
// second (Kafka's broker.session.timeout.ms is 9 s).
func DefaultConfig() Config {
	return Config{
		GossipAddr:        DefaultGossipAddr,
		RaftAddr:          DefaultRaftAddr,
		SessionTimeout:    800 * time.Millisecond,
		HeartbeatInterval: 200 * time.Millisecond,
		ControllerTick:    50 * time.Millisecond,
		ShutdownTimeout:   10 * time.Second,
		// Loopback and LAN gossip: suspicion after ~1.5 s instead of
		// memberlist's several seconds. The lease is the fast detector.
		ProbeInterval:  500 * time.Millisecond,
		ProbeTimeout:   250 * time.Millisecond,
		GossipInterval: 100 * time.Millisecond,
	}
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.NodeID < 0 {
		errs = append(errs, fmt.Errorf("node-id: %d must be >= 0", c.NodeID))
	}
	for name, a := range map[string]string{"gossip-addr": c.GossipAddr, "raft-addr": c.RaftAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			errs = append(errs, fmt.Errorf("join %q: %w", j, err))
		}
	}
	if c.BootstrapExpect < 0 || c.BootstrapExpect > MaxVoters {
		errs = append(errs, fmt.Errorf("bootstrap-expect: %d must be between 0 and %d", c.BootstrapExpect, MaxVoters))
	}
	if c.SessionTimeout <= 0 || c.HeartbeatInterval <= 0 || c.HeartbeatInterval >= c.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat interval %v must be > 0 and below the session timeout %v", c.HeartbeatInterval, c.SessionTimeout))
	}
	if c.ControllerTick <= 0 || c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("controller tick and shutdown timeout must be > 0"))
	}
	return errors.Join(errs...)
}
