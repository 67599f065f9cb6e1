// Package replica holds the decisions of Kafka-style partition replication
// as pure functions and plain state: the caller passes offsets, the ISR and
// the time, and gets back what to do. The node's I/O loops (the leader's
// handling of follower fetches, the follower's fetcher, the produce path)
// feed it and act on its answers; nothing here does I/O or takes a lock.
//
//   - Tracker: a leader's view of its followers — each one's log end offset
//     as its fetch offset reports it, and the last time it was caught up,
//     by Kafka's rule (a fetch at the leader's log end offset, or at the
//     log end offset of the previous fetch, proves the follower was caught
//     up then).
//   - HighWatermark: the lowest log end offset in the ISR, the leader's own
//     counted as the offset it has made durable; it does not advance while
//     the ISR is below min.insync.replicas (KIP-966).
//   - Tracker.ISRChange: the ISR the leader should ask the controller for:
//     followers not caught up for replica.lag.time.max.ms leave it, and a
//     follower whose log reaches the high watermark and the start of the
//     current leader epoch joins it.
//   - Truncation: the follower's step of KIP-101/279 — from the leader's
//     OffsetForLeaderEpoch answer for the follower's latest epoch, the
//     offset to truncate to, never the high watermark.
//
// # What replica must never do
//
//   - Count a follower's offset it has not reported: a follower whose
//     offset is unknown since this leader took over holds the high
//     watermark where it is.
//   - Let the high watermark go backwards, or advance it while the ISR is
//     smaller than min.insync.replicas.
//   - Remove the leader from the ISR, or add a follower that has not
//     reached the high watermark.
package replica
