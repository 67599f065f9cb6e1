// Package group is Strata's group coordinator: Kafka's classic consumer
// group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and committed
// offsets (OffsetCommit, OffsetFetch, TxnOffsetCommit), for the groups whose
// __consumer_offsets partition this node leads.
//
// The package is in two layers:
//
//   - Group (state.go) is the rebalance protocol as a pure state machine.
//     Events (a join, a sync, a heartbeat, a leave, the passing of time) go
//     in as method calls with the current time; what must happen comes out as
//     actions: answer a parked JoinGroup or SyncGroup, persist the group's
//     metadata. It does no I/O and reads no clock, so its tests are tables of
//     events and expected actions.
//   - Coordinator (coordinator.go) owns every Group and the committed
//     offsets on one goroutine, runLoop. Handlers hand it work with a
//     callback and return at once; runLoop executes the actions, fires
//     session and rebalance deadlines, applies offset retention and follows
//     metadata changes.
//
// Durability is Kafka's: group metadata and offsets are records in the
// internal topic __consumer_offsets, in Kafka's own schemas
// (GroupMetadataKey/Value, OffsetCommitKey/Value), written through the
// broker's normal append path and read back from the start of each led
// partition when the coordinator starts or gains the partition. A group
// lives on partition abs(javaStringHashCode(groupID)) % numPartitions, and
// its coordinator is that partition's leader, so replication of the
// partition is all coordinator failover needs.
//
// The package never touches the network, raft or segment files directly: the
// broker gives it a Backend (which partitions it leads, an OffsetsLog per
// partition, whether a topic partition exists).
package group
