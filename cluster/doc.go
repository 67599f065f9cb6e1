// Package cluster runs a node's part of a Strata cluster: its serf member,
// the raft bootstrap and quorum membership, the controller on the raft
// leader, and the broker heartbeat every node sends to it.
//
// It is the thin I/O layer over three packages of decisions and state:
// membership (gossip and the bootstrap rule), meta (the replicated
// metadata log and forwarded writes) and controller (leases, placement,
// elections, quorum changes, all pure). Each long-lived goroutine is a
// runX method owned by Runtime and stopped by Close:
//
//   - runJoin contacts the --join seeds until one answers (seeds that are
//     not up yet are retried); a refusal (duplicate node id, another
//     cluster, another gossip key) is fatal and reported on Fatal.
//   - runMembership reads serf events. Before the node has raft state it
//     applies membership.DecideBootstrap; on the raft leader it applies
//     controller.PlanQuorum (voters up to the expected count, non-voters
//     after); members that fail or leave are fenced at once.
//   - runController runs only while this node leads the raft quorum: it
//     answers heartbeats (meta.Store.SetHeartbeatHandler), keeps the
//     lease table, and every tick applies controller.Plan: fencing in the
//     metadata, leader elections from the ISR, preferred-leader moves.
//   - runHeartbeat renews this broker's lease every heartbeat interval (at
//     once when its applied metadata version advances), learns whether it
//     is fenced and the lowest metadata version applied on every live
//     broker (WaitApplied), and asks for a controlled shutdown on Close.
//
// A single node started without cluster flags does not use this package:
// it keeps its in-memory single-voter quorum and never fences itself.
package cluster
