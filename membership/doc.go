// Package membership is a node's seat in the cluster's gossip layer: a
// hashicorp/serf LAN member that advertises typed tags (node ID, Kafka and
// raft addresses, rack, region, role, build version, cluster ID, bootstrap
// expect), joins seed addresses with retry and backoff, leaves gracefully
// on Close, optionally encrypts gossip with a shared key, and reports
// typed member events (join, update, leave, failed, reap).
//
// # Using it
//
//	cfg := membership.DefaultConfig()
//	cfg.Tags = membership.Tags{NodeID: 1, KafkaAddr: "10.0.0.1:9092", RaftAddr: "10.0.0.1:7947", Role: membership.RoleVoter, BootstrapExpect: 3}
//	m, err := membership.Create(cfg)
//	err = m.Join(ctx, []string{"10.0.0.1:7946", "10.0.0.2:7946"}) // own address tolerated; absent seeds retried
//	for ev := range m.Events() { ... }                              // until Close
//	d, err := membership.DecideBootstrap(3, m.Self(), m.Members())  // pure: wait, bootstrap these, or an error
//	err = m.Close()                                                 // graceful leave, then shutdown
//
// The serf node name is derived from the node ID ("node-<id>"), so two
// processes started with the same ID collide by name. A merge delegate
// refuses, on both sides of a join, a member whose name is already alive
// at another address (ErrDuplicateNodeID) and a member whose cluster ID
// differs from ours once both are known (ErrClusterIDMismatch). Join turns
// these refusals into errors naming the reason instead of retrying them.
// A member with another cluster's gossip key (or none, when the cluster
// uses one) cannot exchange state at all: its join fails at once with
// ErrGossipKeyMismatch, and the receiving side logs the decryption
// failure.
//
// DecideBootstrap is the Consul/Nomad bootstrap-expect rule as a pure
// function of what serf shows: wait until N voter candidates with the same
// expect value see each other, then bootstrap raft with the N lowest node
// IDs; never bootstrap when a candidate already has a cluster ID; report
// mismatched expect values and conflicting cluster IDs as errors.
//
// # What membership must never do
//
// membership never touches raft, metadata, partitions or the Kafka
// protocol, and never decides anything beyond bootstrap: it reports who is
// there. The controller (package controller) and the node act on it.
package membership
