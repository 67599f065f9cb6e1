package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/stratalog/strata/record"
)

// What replication needs from a log: appending a leader's batches at the
// leader's offsets, cutting a divergent tail, starting over at an offset
// the leader chose, and a durable high watermark.

const hwCkptName = "replication-offset-checkpoint"

// ErrOffsetMismatch: replicated batches do not start at the log end offset.
var ErrOffsetMismatch = errors.New("replicated batches do not start at the log end offset")

// AppendReplica writes batches copied from the partition leader, whose
// headers hdrs come from record.Validate, keeping their bytes unchanged:
// base offsets, partition leader epochs, timestamps and CRCs are the
// leader's. The first batch must start at the log end offset (else
// ErrOffsetMismatch) and each batch must start where the one before it
// ends (else ErrBadAppend). The leader-epoch cache learns every epoch that
// starts in the batches. It does not fsync.
func (l *Log) AppendReplica(batches []byte, hdrs []record.Header) (AppendInfo, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return AppendInfo{}, err
	}
	total := 0
	for _, h := range hdrs {
		total += h.Size()
	}
	if len(hdrs) == 0 || total != len(batches) {
		return AppendInfo{}, fmt.Errorf("%w: %d headers cover %d of %d bytes", ErrBadAppend, len(hdrs), total, len(batches))
	}
	l.mu.RLock()
	end := l.end
	l.mu.RUnlock()
	// A compacted leader's log has gaps: batches then need only start at
	// or after the end and increase.
	gaps := l.gaps.Load()
	if !follows(gaps, hdrs[0].BaseOffset, end) {
		return AppendInfo{}, fmt.Errorf("%w: first batch at %d, log end %d", ErrOffsetMismatch, hdrs[0].BaseOffset, end)
	}
	off := end
	gapped := false
	for i, h := range hdrs {
		if !follows(gaps, h.BaseOffset, off) {
			return AppendInfo{}, fmt.Errorf("%w: batch %d starts at %d, want %d", ErrBadAppend, i, h.BaseOffset, off)
		}
		gapped = gapped || h.BaseOffset != off
		off = h.NextOffset()
	}
	if gapped {
		if err := l.markCompacted(); err != nil {
			return AppendInfo{}, err
		}
	}
	return l.writeLocked(batches, hdrs, end, off)
}

// TruncateTo removes every record at or after offset, together with the
// whole batch holding offset if one straddles it, and returns the new log
// end offset (offset, or the base of the straddling batch). It does nothing
// when offset is at or beyond the end. An offset below the log start
// starts the log over, empty, at offset (ResetTo). The cut is durable when
// TruncateTo returns: files are cut and synced, the leader-epoch cache
// forgets epochs that start at or after the new end, aborted-transaction
// entries and producer snapshots beyond it are removed, and the high
// watermark checkpoint is lowered to the new end if it was above it.
// Readers holding results of the old files keep reading them.
func (l *Log) TruncateTo(offset int64) (int64, error) {
	l.mu.RLock()
	start, end := l.start, l.end
	l.mu.RUnlock()
	if offset >= end {
		return end, nil
	}
	if offset < start {
		return offset, l.ResetTo(offset)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.usable(); err != nil {
		return end, err
	}
	l.mu.RLock()
	segs := append([]*segment(nil), l.segs...)
	cfg := l.cfg
	l.mu.RUnlock()
	newEnd, err := cutAt(segs, offset)
	if err != nil {
		return end, l.fail(classify("truncate", l.dir, err))
	}
	if err := trimTxnIndexes(segs, newEnd); err != nil {
		return end, l.fail(classify("truncate aborted-transaction index", l.dir, err))
	}
	if err := l.removeSnapshotsAfter(newEnd); err != nil {
		return end, l.fail(classify("truncate producer snapshots", l.dir, err))
	}
	if err := l.lowerHighWatermark(newEnd); err != nil {
		return end, l.fail(classify("truncate high watermark", l.dir, err))
	}
	fresh := &Log{dir: l.dir, logger: l.logger, cfg: cfg, fdatasync: l.fdatasync, files: l.files}
	fresh.gaps.Store(l.gaps.Load())
	if err := fresh.load(); err != nil {
		return end, l.fail(fmt.Errorf("reload after truncation: %w", err))
	}
	l.mu.Lock()
	old := l.segs
	l.segs, l.start, l.end, l.epochs = fresh.segs, fresh.start, fresh.end, fresh.epochs
	l.forgetTickLocked(fresh.end)
	l.unsynced = nil
	l.synced.Store(fresh.end)
	l.damageMarked.Add(fresh.damageMarked.Load())
	l.mu.Unlock()
	for _, s := range old {
		s.drop()
	}
	l.lowerCleanerCheckpoint(fresh.end)
	l.logger.Info("log truncated", "dir", l.dir, "requested", offset, "end", fresh.end, "was", end)
	return fresh.end, nil
}

// ResetTo removes every record and starts the log over, empty, with start
// and end at offset (a follower far behind its leader, or one whose leader
// no longer has the offsets it holds). The epoch cache, producer snapshots
// and aborted-transaction entries go with the records; the start offset is
// persisted and the high watermark checkpoint is lowered to offset if it
// was above it.
func (l *Log) ResetTo(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: reset to negative offset %d", ErrOffsetOutOfRange, offset)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	if err := l.removeSnapshotsAfter(-1); err != nil {
		return classify("reset producer snapshots", l.dir, err)
	}
	if err := l.lowerHighWatermark(offset); err != nil {
		return classify("reset high watermark", l.dir, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.resetTo(offset); err != nil {
		return l.failLocked(fmt.Errorf("reset log to %d: %w", offset, err))
	}
	l.tick.offset = -1
	l.unsynced = nil
	l.epochs = nil
	l.synced.Store(offset)
	if err := writeEpochCheckpoint(l.dir, nil); err != nil {
		return classify("reset leader-epoch checkpoint", l.dir, err)
	}
	if err := writeOffsetCheckpoint(l.dir, startOffsetName, offset); err != nil {
		return classify("persist log start offset", l.dir, err)
	}
	l.lowerCleanerCheckpoint(offset)
	return classify("sync dir", l.dir, syncDir(l.dir))
}

// failLocked is fail for a caller holding l.mu.
func (l *Log) failLocked(cause error) error {
	if l.failed == nil {
		l.failed = fmt.Errorf("%w: %w", ErrLogFailed, cause)
		l.logger.Error("log failed: appends are refused until it is recovered", "dir", l.dir, "err", l.failed)
	}
	l.storageErrors.Add(1)
	return l.failed
}

// CheckpointHighWatermark durably records hw as the partition's high
// watermark, so a restarted replica does not expose records its leader had
// not committed.
func (l *Log) CheckpointHighWatermark(hw int64) error {
	if hw < 0 {
		return fmt.Errorf("%w: high watermark %d", ErrOffsetOutOfRange, hw)
	}
	return classify("write high watermark", l.dir, writeOffsetCheckpoint(l.dir, hwCkptName, hw))
}

// HighWatermarkCheckpoint returns the last checkpointed high watermark,
// capped at the log end offset; ok is false when none was written.
func (l *Log) HighWatermarkCheckpoint() (hw int64, ok bool) {
	hw, err := readOffsetCheckpoint(l.dir, hwCkptName)
	if err != nil || hw < 0 {
		return 0, false
	}
	return min(hw, l.EndOffset()), true
}

func (l *Log) lowerHighWatermark(end int64) error {
	hw, err := readOffsetCheckpoint(l.dir, hwCkptName)
	if err != nil || hw <= end {
		return nil
	}
	return writeOffsetCheckpoint(l.dir, hwCkptName, end)
}

// removeSnapshotsAfter removes the producer snapshots taken at offsets
// above end.
func (l *Log) removeSnapshotsAfter(end int64) error {
	offs, err := l.ProducerSnapshotOffsets()
	if err != nil {
		return err
	}
	for _, o := range offs {
		if o > end {
			if err := l.RemoveProducerSnapshot(o); err != nil {
				return err
			}
		}
	}
	return nil
}

// cutAt removes the segment files above offset off and cuts the one holding
// it before the batch that contains or follows off, syncing the cut file.
// It returns the new end: the base of the first removed batch, or the
// segment's end if no batch was removed from it. segs are the log's
// segments, oldest first, and off is at or above the first one's base.
func cutAt(segs []*segment, off int64) (int64, error) {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > off }) - 1
	if i < 0 {
		i = 0
	}
	for _, s := range segs[i+1:] {
		_ = s.hold(true) // readers keep the file they are reading
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix, damagedSuffix} {
			if err := os.Remove(s.path(suf)); err != nil && !os.IsNotExist(err) {
				return 0, err
			}
		}
	}
	s := segs[i]
	s.acquire()
	defer s.release()
	f, err := s.file()
	if err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	pos := lookupOffset(s.offsets, s.rel(max(off, s.base)))
	hr := newHeaderReader(f, size)
	newEnd := s.base
	for pos < size {
		h, err := hr.at(pos)
		if err != nil || h.NextOffset() > off {
			break
		}
		newEnd = h.NextOffset()
		pos += int64(h.Size())
	}
	if pos < size {
		if err := f.Truncate(pos); err != nil {
			return 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, err
		}
	}
	return newEnd, syncDir(s.dir)
}

// trimTxnIndexes drops aborted-transaction entries whose marker is at or
// after end from the segments' .txnindex files, so records appended later
// at those offsets are not taken for aborted ones.
func trimTxnIndexes(segs []*segment, end int64) error {
	for _, s := range segs {
		if s.base > end {
			continue // removed with its segment
		}
		p := s.path(txnIndexSuffix)
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		kept := b[:0:0]
		for r := b; len(r) >= txnIndexEntrySize; r = r[txnIndexEntrySize:] {
			if int64(binary.BigEndian.Uint64(r[18:])) < end {
				kept = append(kept, r[:txnIndexEntrySize]...)
			}
		}
		if len(kept) == len(b) {
			continue
		}
		if err := writeFileAtomic(s.dir, filepath.Base(p), kept); err != nil {
			return err
		}
	}
	return nil
}

// AssignEpoch records that leader epoch epoch starts at the log end offset,
// as a new leader does when it takes over (before it writes anything), so
// OffsetForLeaderEpoch answers followers of older epochs with where those
// ended here. It does nothing if epoch is not above the latest epoch.
func (l *Log) AssignEpoch(epoch int32) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if epoch < 0 || len(l.epochs) > 0 && l.epochs[len(l.epochs)-1].epoch >= epoch {
		l.mu.Unlock()
		return nil
	}
	l.epochs = append(l.epochs, epochEntry{epoch: epoch, start: l.end})
	epochs := append([]epochEntry(nil), l.epochs...)
	l.mu.Unlock()
	return classify("write leader-epoch checkpoint", l.dir, writeEpochCheckpoint(l.dir, epochs))
}
