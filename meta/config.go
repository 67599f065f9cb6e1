package meta

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a metadata Store.
type Config struct {
	// NodeID is this node's broker ID; it doubles as the raft server ID.
	NodeID int32
	// Dir holds the raft log and stable store (raft.db) and the snapshots
	// (snapshots/). It is created when missing.
	Dir string
	// BindAddr is the raft TCP transport address, for example
	// "127.0.0.1:9093". An empty BindAddr selects an in-memory transport,
	// usable only by a single-node cluster.
	BindAddr string
	// AdvertiseAddr is the raft address other voters dial. Empty means the
	// bound address, which must then not be unspecified (0.0.0.0).
	AdvertiseAddr string
	// Bootstrap makes a node with no raft state bootstrap a cluster whose
	// only voter is itself. DefaultConfig sets it.
	Bootstrap bool
	// InitialScram are credentials stored by the entry that gives the
	// cluster its ID (--bootstrap-scram-user), and by nothing later.
	InitialScram []ScramUpsert
	// ApplyTimeout bounds how long a write waits to be enqueued into raft
	// and committed when the caller's context has no earlier deadline.
	ApplyTimeout time.Duration

	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout are raft's
	// timing knobs; LeaderLeaseTimeout must not exceed HeartbeatTimeout.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is how long the raft leader goes without sending its
	// followers the commit index when no new entries flow (raft's own
	// default is 50 ms, randomised up to twice that): a change committed
	// on the leader is applied on the other nodes within about this long.
	// Brokers act on partition leadership only once they apply it, so
	// this bounds how long a moved leadership stays unknown to the old
	// and new leaders.
	CommitTimeout time.Duration

	// SnapshotThreshold is how many log entries past the last snapshot
	// trigger a new snapshot; SnapshotInterval is how often raft checks.
	// TrailingLogs entries are kept in the log after a snapshot so a
	// slightly lagging follower can catch up without a snapshot install.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// SnapshotRetain is how many snapshots are kept on disk (at least 1).
	SnapshotRetain int

	// ServerTLS and ClientTLS, when set (both or neither), make every
	// connection to and from the raft address mutual TLS: raft streams,
	// forwarded writes, heartbeats and the peer probe (ProbePeer). A peer
	// that cannot complete the handshake is neither heard nor dialled.
	ServerTLS, ClientTLS *tls.Config

	// Logger receives the store's own logs and raft's logs at warn and
	// above. Nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a Config for node 0 with a data directory still to
// be filled in.
func DefaultConfig() Config {
	return Config{
		NodeID:             0,
		Bootstrap:          true,
		ApplyTimeout:       10 * time.Second,
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 250 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		TrailingLogs:       10240,
		SnapshotRetain:     2,
		Logger:             slog.Default(),
	}
}

// Validate reports every problem with c, joined into one error.
func (c Config) Validate() error {
	var errs []error
	if (c.ServerTLS == nil) != (c.ClientTLS == nil) {
		errs = append(errs, errors.New("tls: ServerTLS and ClientTLS go together"))
	}
	if c.ServerTLS != nil && c.BindAddr == "" {
		errs = append(errs, errors.New("tls: needs a TCP BindAddr"))
	}
	if c.NodeID < 0 {
		errs = append(errs, fmt.Errorf("node id %d: must be >= 0", c.NodeID))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	if c.ApplyTimeout <= 0 {
		errs = append(errs, errors.New("apply timeout: must be > 0"))
	}
	if c.HeartbeatTimeout < 5*time.Millisecond {
		errs = append(errs, errors.New("heartbeat timeout: must be >= 5ms"))
	}
	if c.ElectionTimeout < 5*time.Millisecond {
		errs = append(errs, errors.New("election timeout: must be >= 5ms"))
	}
	if c.LeaderLeaseTimeout < 5*time.Millisecond {
		errs = append(errs, errors.New("leader lease timeout: must be >= 5ms"))
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		errs = append(errs, errors.New("leader lease timeout: must not exceed heartbeat timeout"))
	}
	if c.SnapshotThreshold == 0 {
		errs = append(errs, errors.New("snapshot threshold: must be > 0"))
	}
	if c.SnapshotInterval < 5*time.Millisecond {
		errs = append(errs, errors.New("snapshot interval: must be >= 5ms"))
	}
	if c.SnapshotRetain < 1 {
		errs = append(errs, errors.New("snapshot retain: must be >= 1"))
	}
	if c.BindAddr == "" && c.AdvertiseAddr != "" {
		errs = append(errs, errors.New("advertise addr: needs a bind addr"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("meta config: %w", err)
	}
	return nil
}
