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
// rebuilt) and fast reopening after a clean shutdown; and keeping damage
// from being served.
//
// Integrity. What Open checks:
//   - after a clean stop: every index loads and agrees with its segment's
//     size; each sealed segment's batch headers from its last index entry
//     chain to the end of the file and to the next segment's base; the
//     active segment's tail from its last index entry is verified with
//     CRC-32C, and a torn, zeroed or corrupt tail is truncated (WARN).
//   - after an unclean stop: segments from the recovery point on (never
//     synced, so never acknowledged under flush.messages=1) are rescanned
//     with CRCs and a torn tail truncated, as is the active segment's;
//     sealed segments below it had their whole batch-header chain checked
//     (lengths, magic, contiguous offsets, the end exactly at the next
//     segment's base, the indexes) but not their CRCs: Unverified lists
//     them for the scrubber to check first.
//   - missing or damaged .index/.timeindex files are rebuilt from the
//     segment, never trusted empty.
//
// A sealed segment that fails any check is never truncated and never
// causes later segments to be dropped: it is marked damaged (Damaged,
// logged at ERROR once with the directory, segment, offsets and cause,
// counted by DamagedSegments/DamageMarked, and recorded in a
// <segment>.damaged file so a restart keeps refusing it). Read and
// OffsetForTimestamp never serve bytes past a damaged segment's valid end
// and never skip over the damage: they fail with ErrCorruptSegment naming
// the offset. Full CRC verification of sealed segments is VerifySegment's
// job, driven by the caller's scrubber; ReplaceSegment heals a damaged
// segment with a verified copy (the tiering layer fetches it from the
// bucket). Reads of the active segment are not CRC-checked: it is verified
// at open and written only by this process.
//
// Disk errors. ENOSPC, EDQUOT, EMFILE, ENFILE, EIO and EROFS, and every
// failed fsync, wrap ErrStorage (retriable for clients). A failed write
// that is undone (the segment cut back to its published size) leaves the
// log usable: the next append after space frees succeeds. A failed fsync
// fails the log (ErrLogFailed): the page cache may hold pages the disk
// lost, so no later fsync is trusted; Recover cuts the log back to its last
// synced offset and reopens it through the crash path. Tests inject fsync
// failures through Config.Fdatasync.
//
// It must never: validate client input (record does that before Append);
// speak the Kafka protocol or know about topics, replicas or high watermarks
// (the caller passes the high watermark to Read); talk to object storage
// (the tiering layer uploads sealed segments, which this package never
// modifies once sealed); or fsync on the append path (durability is the
// caller's choice through Sync or the Syncer).
//
// File descriptors. The active segment keeps its .log, .index and
// .timeindex open. A sealed segment's files are closed once they are
// durable (at the Sync that follows its roll, or at open; until then it
// keeps all three): its indexes
// are held in memory, and index files are opened by path for the rare
// rewrite and closed again. Its .log is opened lazily by the first read
// (Read, OffsetForTimestamp, MaxTimestamp, VerifySegment) and closed when
// the last reader releases it, except for the few most recently read
// (maxOpenSealed per log, least recently used first out). A log therefore
// holds at most 3+maxOpenSealed descriptors plus those of the segments
// readers hold at the moment (OpenFiles reports it), whatever its number
// of segments. A reader's reference keeps its descriptor valid until
// Release; a segment being deleted or replaced while readers hold it has
// its .log opened first if needed and is never reopened by path after
// (the name may belong to another file by then). A lazy open that fails
// (EMFILE wraps ErrStorage, ENOENT) fails the read.
//
// Concurrency: one appender at a time per Log (Append, Roll, MaybeRoll,
// ApplyRetention, DeleteRecordsBefore, ReplaceSegment, Recover serialise on
// appendMu); Read, Sync, OffsetForTimestamp and the accessors run
// concurrently with it. Lock order: appendMu, then syncMu, then mu, then the
// file cache's lock, then a segment's fmu (which guards its file pointers).
// Readers snapshot segment state under mu.RLock and do their I/O unlocked,
// holding a reference on each segment they touch.
package storage
