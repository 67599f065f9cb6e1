// Package compact holds the decisions of log compaction
// (cleanup.policy=compact), with no I/O: the bounded key map a cleaning
// pass builds from the dirty part of a log, which part of a log may be
// cleaned and whether it is due (min.cleanable.dirty.ratio,
// min.compaction.lag.ms, max.compaction.lag.ms, the last stable offset),
// and what each record batch keeps: the latest record per key, tombstones
// and transaction markers until their delete horizon (KIP-534) has
// passed, nothing of an aborted transaction, and an empty batch where a
// producer's last sequence must survive. The storage layer applies the
// result to segment files; the tiering layer to objects.
package compact
