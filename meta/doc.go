// Package meta owns Strata's cluster metadata: the cluster ID, the
// registered brokers, the topics with their 16-byte topic IDs, every
// partition's replicas, leader, leader epoch and ISR, per-topic configs and
// the dynamic cluster-wide configs. The metadata is a replicated state
// machine on hashicorp/raft, with raft-boltdb as log and stable store
// (Dir/raft.db) and a file snapshot store (Dir/snapshots).
//
// # Using it
//
//	cfg := meta.DefaultConfig()
//	cfg.NodeID, cfg.Dir = 1, "/var/lib/strata/meta"
//	st, err := meta.Open(cfg)     // starts raft, bootstraps a lone voter if new
//	err = st.WaitReady(ctx)       // leader established, state machine current
//	err = st.RegisterBroker(ctx, meta.Broker{ID: 1, Host: "10.0.0.1", Port: 9092})
//	t, err := st.CreateTopic(ctx, meta.TopicSpec{Name: "orders", NumPartitions: 6, ReplicationFactor: 1})
//	ch, cancel := st.Subscribe()  // coalesced "something changed" signal
//
// Reads (ClusterID, ControllerID, Brokers, Topics, Topic, TopicByID,
// ClusterConfigs, Version) come from the local state machine under a read
// lock and return copies the caller may keep. Writes go through raft.Apply
// on the leader and return once the command is committed and applied
// locally; on a follower they fail with ErrNotLeader. Every rejection wraps
// one of the package's sentinel errors.
//
// # Commands
//
// Each raft log entry is a command: byte 0 is the envelope version (1),
// byte 1 the command type, and the rest a JSON body.
//
//	1 InitCluster       set the cluster ID once (the first leader does this)
//	2 RegisterBroker    insert or replace a broker registration
//	3 UnregisterBroker  remove a broker registration
//	4 CreateTopic       add a topic with every partition spelled out
//	5 DeleteTopic       remove a topic by name
//	6 CreatePartitions  grow a topic; replicas of each new partition given
//	7 SetTopicConfigs   replace a topic's config map
//	8 SetClusterConfigs replace the cluster-wide config map
//	9 UpdatePartition   change leader/ISR/replicas, guarded by leader epoch
//
// Everything random or dependent on the proposer's view (topic IDs, cluster
// ID, replica placement) is decided before proposing and carried in the
// command, so applying a command is a deterministic function of the state
// and the command. Applying validates the whole command: a malformed,
// unknown or conflicting command yields an error result and leaves the
// state untouched; it never panics. Type numbers are never reused; a new
// meaning gets a new type.
//
// Snapshots hold the whole state as JSON (format 1). raft takes them every
// SnapshotThreshold entries and truncates the log behind them, keeping
// TrailingLogs entries.
//
// # Several voters
//
// A cluster node opens its store with Bootstrap false and a TCP BindAddr,
// then either calls BootstrapCluster with the initial voters (every
// candidate with the same list, as membership.DecideBootstrap gives it) or
// waits for the leader to add it with AddVoter or AddNonvoter; a
// non-voter receives and applies the log but never votes. RemoveServer
// takes a server out. Leader, Servers and Stats (term, indexes, last
// contact) report the quorum. A membership change on a follower, and
// raft's refusal of a write there, is a *NotLeaderError that matches
// ErrNotLeader and carries the leader's ID and raft address; with no
// leader known (election running, or a voter cut off from its majority)
// it also matches ErrNoQuorum. A public write on a voter without quorum
// keeps looking for a leader and fails with these errors at the caller's
// deadline (ApplyTimeout without one).
// Retriable tells these apart from validation errors. The single-node
// path (Bootstrap true: bootstrap alone) is unchanged.
//
// # Forwarding
//
// With a TCP BindAddr the raft address is shared (mux.go): a connection's
// first byte picks raft's stream layer or the forward server. The public
// writes and Heartbeat on a follower are sent to the leader as a method
// name and JSON arguments in a bounded length-prefixed frame (frame.go,
// forward.go); the leader runs the same local method and answers its
// Version, which the caller waits for (WaitApplied) so the write is
// visible locally on return. Sentinel errors cross as codes (errcodes.go).
// Not knowing the leader, a NotLeader answer and a failed dial are retried
// until the caller's context ends; a sent request whose answer was lost is
// never resent. runAccept, one routeConn per connection and the forward
// connections are stopped by Close.
//
// Decisions are pure functions, separate from raft: replica placement
// (assign.go) maps a broker list to assignments, and PlanLeaderChanges
// (reconcile.go) maps topics plus the live broker set to the
// UpdatePartition commands that move leadership off departed brokers. A
// controller only has to run the plan on the raft leader and propose it;
// each update's leader-epoch guard rejects plans made from stale state.
//
// # What meta must never do
//
// meta never serves the Kafka protocol, never opens, reads or writes
// partition segment data or object storage, and never validates config
// keys or values against Kafka's definitions: the broker (package node)
// does all of that and calls meta through small interfaces of its own.
// meta knows nothing of offsets, records or consumer groups.
package meta
