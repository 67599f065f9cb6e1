// Package controller holds the metadata controller's decisions as pure
// functions: the caller passes state, liveness and the time, and gets
// back what to do. It runs on the raft leader; a thin loop (not in this
// package) feeds it serf events and broker heartbeats, executes the
// returned actions through meta.Store, and re-plans after every change.
//
//   - LeaseTable: broker registration and fencing by heartbeat lease (the
//     idea of Kafka's broker.session.timeout.ms). A broker whose last
//     heartbeat is older than the session timeout at time t is fenced: it
//     leads nothing and is dropped from ISRs. A fenced broker comes back by
//     heartbeating with its current broker epoch; a re-registration gets a
//     new epoch, and heartbeats carrying an old one are refused.
//   - PlaceReplicas: replica placement for new topics and partitions,
//     rack-aware (a partition's replicas on distinct racks where the racks
//     allow it) and balanced by replica count and leader count across the
//     live, unfenced brokers; deterministic for a given input.
//   - ElectLeaders: leader election from the ISR when brokers are fenced
//     (meta.PlanLeaderChanges: never an out-of-sync replica unless the
//     topic allows unclean elections, leader epoch guard on every update).
//   - PreferredLeaders: move leadership back to each partition's first
//     replica when it is live and in the ISR, bounded per pass.
//   - PlanElection: one partition of a Kafka ElectLeaders request
//     (preferred, or unclean: a leaderless partition to a live replica,
//     out of sync if nothing else is live).
//   - CompleteReassignments: finish each partition reassignment whose
//     target replicas are all in the ISR (the replica set becomes the
//     target; a leaving leader hands over to a target replica).
//   - PlanRebalance: the reassignments that even out replicas and
//     preferred leaders over brokers, draining some (decommission),
//     moving as few replicas as it can; run by the CLI.
//   - Plan: one reconcile step combining them: fence expired leases, elect
//     leaders away from fenced brokers, complete reassignments, then
//     rebalance preferred leaders.
//
// Every partition change is a meta.PartitionUpdate carrying the leader
// epoch it was planned from, so a plan made from stale state fails with
// meta.ErrStaleEpoch when applied instead of overwriting newer decisions.
//
// # What controller must never do
//
// controller never performs I/O: no network, no disk, no raft, no clock
// (time is a parameter), no goroutines. It never invents randomness, so
// the same input always gives the same plan. It does not serve Kafka and
// does not decide ISR expansion, which is the partition leader's report.
package controller
