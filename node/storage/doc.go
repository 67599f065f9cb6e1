// Package storage keeps one partition's log on local disk: segment files of
// verbatim Kafka v2 record batches named by base offset as Kafka names them
// (00000000000000000000.log), a sparse offset index (.index: relative offset
// uint32 -> file position uint32) and a time index (.timeindex: timestamp
// int64 -> relative offset uint32) per segment, plus checkpoint files for the
// log start offset, the leader-epoch cache and the recovery point.
//
// It owns: assigning offsets to appended batches and rewriting the fields a
// broker owns in them; rolling, sealing, retention and deletion of segments;
// serving reads as byte ranges of segment files (for sendfile) that stay
// valid until released even if the segment is deleted meanwhile; fsync, and
// the group commit (Syncer) that lets many partitions share fsync work;
// recovery after a crash (torn or corrupt tails are truncated, indexes
// rebuilt) and fast reopening after a clean shutdown.
//
// It must never: validate client input (node/record does that before Append);
// speak the Kafka protocol or know about topics, replicas or high watermarks
// (the caller passes the high watermark to Read); talk to object storage
// (the tiering layer uploads sealed segments, which this package never
// modifies once sealed); or fsync on the append path (durability is the
// caller's choice through Sync or the Syncer).
//
// Concurrency: one appender at a time per Log (Append, Roll, MaybeRoll,
// ApplyRetention, DeleteRecordsBefore serialise on appendMu); Read, Sync,
// OffsetForTimestamp and the accessors run concurrently with it. Lock order:
// appendMu, then syncMu, then mu. Readers snapshot segment state under mu.RLock
// and do their I/O unlocked, holding a reference on each segment they touch.
package storage
