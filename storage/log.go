package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/record"
)

// Log is one partition's log in one directory.
type Log struct {
	dir    string
	logger *slog.Logger

	appendMu sync.Mutex // serialises everything that changes the log
	syncMu   sync.Mutex // serialises Sync

	mu       sync.RWMutex
	cfg      Config
	segs     []*segment // by base offset; the last is active
	start    int64
	end      int64
	epochs   []epochEntry
	unsynced []*segment // sealed, not yet fsynced
	closed   bool
	failed   error

	// tick is the last RollInterval instant the log has seen (unix ms)
	// and the log end offset at it: every record appended before the
	// instant is below offset, every later one at or above it. offset is
	// -1 when unknown (the log opened, was truncated or reset since).
	// Guarded by appendMu.
	tick struct{ at, offset int64 }
	// rollEvery is Config.RollInterval in ms, readable without mu: the
	// append path checks it on every write.
	rollEvery atomic.Int64

	// gaps: batches may leave offset gaps (Config.Compacted, or the log
	// holds compacted data: the compacted marker file exists).
	gaps atomic.Bool
	// marked: the compacted marker file is known to exist.
	marked atomic.Bool
	// cleanerCkpt caches the cleaner checkpoint file (clean.go).
	cleanerCkpt atomic.Pointer[CleanerState]

	synced    atomic.Int64
	fdatasync func(fd int) error // Config.Fdatasync as of Open
	files     *fileCache         // bounds the open .log files of sealed segments

	damageMarked   atomic.Int64  // segments marked damaged since open
	storageErrors  atomic.Int64  // ErrStorage failures since open
	readReports    reportLimiter // rate limit of refused-read logs
	storageReports reportLimiter // rate limit of storage-error logs
}

type epochEntry struct {
	epoch int32
	start int64
}

// AppendInfo describes where an Append put its batches.
type AppendInfo struct {
	FirstOffset, LastOffset int64
	// LogAppendTime is the timestamp stamped on the batches, or -1 when
	// they keep their producer timestamps.
	LogAppendTime int64
}

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	BaseOffset   int64
	NextOffset   int64
	Size         int64
	MaxTimestamp int64
	Sealed       bool
	// SealTick is the RollInterval instant (unix ms) the segment was
	// rolled at: it holds exactly the records appended before that
	// instant and after the previous segment's. 0 when it was rolled for
	// another reason, or before the log was opened.
	SealTick int64
	Path     string // the .log file; the indexes sit beside it
}

// Append writes batches (one or more whole v2 batches whose headers hdrs
// come from record.Validate) at the log end offset. It assigns offsets,
// rewrites each batch's base offset and partition leader epoch in place
// (and with logAppendTime >= 0 stamps LogAppendTime and fixes the CRC),
// rolls first if the active segment would exceed SegmentBytes, and updates
// the indexes and the leader-epoch cache. It does not fsync.
func (l *Log) Append(batches []byte, hdrs []record.Header, leaderEpoch int32, logAppendTime int64) (AppendInfo, error) {
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
	first := l.end
	off := first
	pos := 0
	for i := range hdrs {
		h := &hdrs[i]
		b := batches[pos : pos+h.Size()]
		record.SetBaseOffset(b, off)
		record.SetPartitionLeaderEpoch(b, leaderEpoch)
		if logAppendTime >= 0 {
			record.SetLogAppendTime(b, logAppendTime)
			h.MaxTimestamp = logAppendTime
			h.Attributes |= 0x08
		}
		h.BaseOffset, h.PartitionLeaderEpoch = off, leaderEpoch
		off = h.NextOffset()
		pos += h.Size()
	}
	info, err := l.writeLocked(batches, hdrs, first, off)
	if err != nil {
		return AppendInfo{}, err
	}
	if logAppendTime >= 0 {
		info.LogAppendTime = logAppendTime
	}
	return info, nil
}

// writeLocked writes batches, whose headers already carry their final base
// offsets [first, off), at the end of the active segment (rolling first if
// they would not fit), and updates the indexes and the leader-epoch cache
// from the batches' own epochs. appendMu is held.
func (l *Log) writeLocked(batches []byte, hdrs []record.Header, first, off int64) (AppendInfo, error) {
	last := off - 1

	if l.rollEvery.Load() > 0 {
		if err := l.tickLocked(time.Now()); err != nil {
			return AppendInfo{}, err
		}
	}
	active := l.segs[len(l.segs)-1]
	if active.size > 0 && (active.size+int64(len(batches)) > l.cfg.SegmentBytes || last-active.base > math.MaxUint32) {
		if err := l.rollLocked(); err != nil {
			return AppendInfo{}, err
		}
		active = l.segs[len(l.segs)-1]
	}

	if _, err := active.log.WriteAt(batches, active.size); err != nil {
		return AppendInfo{}, l.undoWrite(active, err)
	}

	// Index bookkeeping, as scanSegment would rebuild it.
	newOffsets, newTimes := []offsetEntry(nil), []timeEntry(nil)
	maxTs, maxTsOffset := active.maxTs, active.maxTsOffset
	lastTime := int64(math.MinInt64)
	if n := len(active.times); n > 0 {
		lastTime = active.times[n-1].ts
	}
	p := active.size
	for _, h := range hdrs {
		if h.MaxTimestamp > maxTs || maxTsOffset < 0 {
			maxTs, maxTsOffset = h.MaxTimestamp, h.BaseOffset
		}
		if p > 0 && active.sinceIndex >= int64(l.cfg.IndexIntervalBytes) {
			newOffsets = append(newOffsets, offsetEntry{rel: active.rel(h.BaseOffset), pos: uint32(p)})
			if maxTs > lastTime {
				newTimes = append(newTimes, timeEntry{ts: maxTs, rel: active.rel(maxTsOffset)})
				lastTime = maxTs
			}
			active.sinceIndex = 0
		}
		active.sinceIndex += int64(h.Size())
		p += int64(h.Size())
	}
	if err := appendIndexFiles(active, newOffsets, newTimes); err != nil {
		return AppendInfo{}, l.undoWrite(active, err)
	}

	var epochs []epochEntry // a copy to checkpoint, only when the epoch changes
	l.mu.Lock()
	if active.firstAppend < 0 {
		active.firstAppend = time.Now().UnixMilli()
	}
	active.size += int64(len(batches))
	active.next = off
	active.maxTs, active.maxTsOffset = maxTs, maxTsOffset
	active.offsets = append(active.offsets, newOffsets...)
	active.times = append(active.times, newTimes...)
	l.end = off
	for _, h := range hdrs {
		if e := h.PartitionLeaderEpoch; e >= 0 && (len(l.epochs) == 0 || e > l.epochs[len(l.epochs)-1].epoch) {
			l.epochs = append(l.epochs, epochEntry{epoch: e, start: h.BaseOffset})
			epochs = l.epochs
		}
	}
	if epochs != nil {
		epochs = append([]epochEntry(nil), epochs...)
	}
	l.mu.Unlock()

	if epochs != nil {
		if err := writeEpochCheckpoint(l.dir, epochs); err != nil {
			l.logger.Warn("writing leader-epoch checkpoint", "dir", l.dir, "err", err)
		}
	}
	return AppendInfo{FirstOffset: first, LastOffset: last, LogAppendTime: -1}, nil
}

func appendIndexFiles(s *segment, offsets []offsetEntry, times []timeEntry) error {
	if len(offsets) > 0 {
		var b []byte
		for _, e := range offsets {
			b = appendOffsetEntry(b, e)
		}
		at := int64(len(s.offsets)) * offsetEntrySize
		if _, err := s.index.WriteAt(b, at); err != nil {
			return err
		}
	}
	if len(times) > 0 {
		var b []byte
		for _, e := range times {
			b = appendTimeEntry(b, e)
		}
		at := int64(len(s.times)) * timeEntrySize
		if _, err := s.timeIdx.WriteAt(b, at); err != nil {
			return err
		}
	}
	return nil
}

// undoWrite cuts the active segment and its indexes back to their
// published sizes after a failed write. If that fails too, the log is
// marked failed: its files no longer match its state.
func (l *Log) undoWrite(s *segment, cause error) error {
	errs := []error{
		s.log.Truncate(s.size),
		s.index.Truncate(int64(len(s.offsets)) * offsetEntrySize),
		s.timeIdx.Truncate(int64(len(s.times)) * timeEntrySize),
	}
	if err := errors.Join(errs...); err != nil {
		return l.fail(fmt.Errorf("append failed (%w) and could not be undone: %w", classify("append to", s.path(logSuffix), cause), err))
	}
	// Recompute the index cadence on the next append.
	s.sinceIndex = int64(l.cfg.IndexIntervalBytes)
	err := classify("append to", s.path(logSuffix), cause)
	l.reportStorage(err)
	return err
}

// fail marks the log failed with cause (the first failure wins) and
// returns the failure. The log refuses appends and syncs until Recover.
func (l *Log) fail(cause error) error {
	l.mu.Lock()
	if l.failed == nil {
		if !errors.Is(cause, ErrStorage) && IsStorageErrno(cause) {
			cause = fmt.Errorf("%w: %w", ErrStorage, cause)
		}
		l.failed = fmt.Errorf("%w: %w", ErrLogFailed, cause)
		l.logger.Error("log failed: appends are refused until it is recovered from its last synced state",
			"dir", l.dir, "synced", l.synced.Load(), "end", l.end, "err", l.failed)
	}
	failed := l.failed
	l.mu.Unlock()
	l.storageErrors.Add(1)
	return failed
}

// Failed returns why the log refuses appends, or nil.
func (l *Log) Failed() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.failed
}

// StorageErrors counts the disk-level failures (ErrStorage) the log has met
// since open, for metrics.
func (l *Log) StorageErrors() int64 { return l.storageErrors.Load() }

// reportStorage counts a storage error that did not fail the log and logs
// it, at most once per reportEvery with a count of the ones held back.
func (l *Log) reportStorage(err error) {
	if !errors.Is(err, ErrStorage) {
		return
	}
	l.storageErrors.Add(1)
	if ok, n := l.storageReports.allow(reportEvery); ok {
		l.logger.Warn("storage error", "dir", l.dir, "err", err, "repeats", n)
	}
}

func (l *Log) usable() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return l.failed
}

// Roll seals the active segment and starts a new one at the log end
// offset. Rolling an empty segment does nothing.
func (l *Log) Roll() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	return l.rollLocked()
}

// MaybeRoll rolls the active segment when its first batch arrived more than
// SegmentMs before now.
func (l *Log) MaybeRoll(now time.Time) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	l.mu.RLock()
	active := l.segs[len(l.segs)-1]
	due := l.cfg.SegmentMs > 0 && active.size > 0 && active.firstAppend >= 0 &&
		now.UnixMilli()-active.firstAppend >= l.cfg.SegmentMs.Milliseconds()
	l.mu.RUnlock()
	if !due {
		return nil
	}
	return l.rollLocked()
}

// TickBoundary moves the log to the latest RollInterval instant at or
// before now (rolling a segment that holds records appended before it)
// and returns that instant and the log end offset at it, or offset -1
// when the log cannot tell (it was opened, truncated or reset since the
// instant before). It returns (0, -1) without RollInterval.
func (l *Log) TickBoundary(now time.Time) (tick, offset int64, err error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return 0, -1, err
	}
	if err := l.tickLocked(now); err != nil {
		return 0, -1, err
	}
	if l.tick.at == 0 {
		return 0, -1, nil
	}
	return l.tick.at, l.tick.offset, nil
}

// tickLocked needs appendMu: on the first call after a RollInterval
// instant, it rolls the active segment if it holds records (all appended
// before the instant) and records the instant's offset.
func (l *Log) tickLocked(now time.Time) error {
	iv := l.rollEvery.Load()
	if iv <= 0 {
		l.tick.at, l.tick.offset = 0, -1
		return nil
	}
	ms := now.UnixMilli()
	t := ms - ms%iv
	if t <= l.tick.at {
		return nil
	}
	if l.tick.at == 0 {
		// The first instant seen: what was appended before it, and
		// when, is not known.
		l.tick.at, l.tick.offset = t, -1
		return nil
	}
	if err := l.rollTickLocked(t); err != nil {
		return err
	}
	l.tick.at, l.tick.offset = t, l.end
	return nil
}

// forgetTickLocked needs appendMu: the records the tick's offset counted
// are gone (truncation or reset), so the offset no longer says anything.
func (l *Log) forgetTickLocked(end int64) {
	if l.tick.offset > end {
		l.tick.offset = -1
	}
}

// rollTickLocked rolls the active segment for the instant t, if it holds
// records.
func (l *Log) rollTickLocked(t int64) error {
	active := l.segs[len(l.segs)-1]
	if active.size == 0 {
		return nil
	}
	if err := l.rollLocked(); err != nil {
		return err
	}
	l.mu.Lock()
	active.sealTick = t
	l.mu.Unlock()
	return nil
}

// rollLocked needs appendMu.
func (l *Log) rollLocked() error {
	active := l.segs[len(l.segs)-1]
	if active.size == 0 {
		return nil
	}
	if e, ok := active.sealTimeIndex(); ok {
		if err := appendIndexFiles(active, nil, []timeEntry{e}); err != nil {
			// Cut the time index back to what is published.
			if terr := active.timeIdx.Truncate(int64(len(active.times)) * timeEntrySize); terr != nil {
				return l.fail(fmt.Errorf("sealing %s: %w; undo: %w", active.path(logSuffix), err, terr))
			}
			err = classify("sealing", active.path(logSuffix), err)
			l.reportStorage(err)
			return err
		}
		l.mu.Lock()
		active.times = append(active.times, e)
		l.mu.Unlock()
	}
	s, err := openSegment(l.dir, l.end, true)
	if err != nil {
		err = classify("roll: create segment", segmentName(l.end), err)
		l.reportStorage(err)
		return err
	}
	s.cache = l.files
	l.mu.Lock()
	active.sealed = true
	l.unsynced = append(l.unsynced, active)
	l.segs = append(l.segs, s)
	l.mu.Unlock()
	l.logger.Debug("rolled segment", "dir", l.dir, "sealed", active.base, "new", s.base)
	return nil
}

// Sync makes everything appended so far durable: the log data of the active
// segment, and the data and indexes of segments rolled since the last Sync.
func (l *Log) Sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	if l.failed != nil {
		// After a failed fsync the page cache may hold pages the disk
		// lost: a later fsync that succeeds proves nothing.
		failed := l.failed
		l.mu.RUnlock()
		return failed
	}
	target := l.end
	active := l.segs[len(l.segs)-1]
	pending := append([]*segment(nil), l.unsynced...)
	for _, s := range pending {
		s.acquire()
	}
	active.acquire()
	l.mu.RUnlock()
	defer func() {
		for _, s := range pending {
			s.release()
		}
		active.release()
	}()
	if target <= l.synced.Load() && len(pending) == 0 {
		return nil
	}
	for _, s := range pending {
		for _, f := range s.files() {
			if f == nil {
				continue // closed once durable (settle)
			}
			if err := l.datasync(f); err != nil {
				return l.fail(err)
			}
		}
	}
	if err := l.datasync(active.log); err != nil {
		return l.fail(err)
	}
	if len(pending) > 0 {
		// New segment files must be reachable after a crash, and the
		// sealed ones need no rescan any more.
		if err := syncDir(l.dir); err != nil {
			return l.fail(err)
		}
		l.mu.Lock()
		done := make(map[*segment]bool, len(pending))
		for _, s := range pending {
			done[s] = true
		}
		kept := l.unsynced[:0]
		for _, s := range l.unsynced {
			if !done[s] {
				kept = append(kept, s)
			}
		}
		l.unsynced = kept
		rp := l.segs[len(l.segs)-1].base
		if len(l.unsynced) > 0 {
			rp = l.unsynced[0].base
		}
		l.mu.Unlock()
		for _, s := range pending {
			s.settle()
		}
		if err := writeOffsetCheckpoint(l.dir, recoveryCkptName, rp); err != nil {
			// Everything is synced; only the checkpoint is stale, which
			// costs a longer recovery after a crash.
			l.reportStorage(classify("write recovery point", l.dir, err))
		}
	}
	for {
		cur := l.synced.Load()
		if target <= cur || l.synced.CompareAndSwap(cur, target) {
			return nil
		}
	}
}

// SyncedOffset is the offset below which every record is known durable.
func (l *Log) SyncedOffset() int64 { return l.synced.Load() }

// EndOffset is the log end offset: the offset the next record gets.
func (l *Log) EndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.end
}

// StartOffset is the log start offset: the first offset that can be read.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.start
}

// OpenFiles is the number of segment files the log holds open now (the
// active segment's three, the sealed .log files its file cache keeps, and
// those readers are using), for metrics.
func (l *Log) OpenFiles() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for _, s := range l.segs {
		n += s.openFiles()
	}
	return n
}

// Dir is the directory holding the log.
func (l *Log) Dir() string { return l.dir }

// SetConfig replaces the configuration. An invalid one is logged and
// ignored: callers validate topic configs before they reach the log.
func (l *Log) SetConfig(cfg Config) {
	if err := cfg.Validate(); err != nil {
		l.logger.Warn("ignoring invalid log config", "dir", l.dir, "err", err)
		return
	}
	l.mu.Lock()
	l.cfg = cfg
	l.mu.Unlock()
	l.rollEvery.Store(cfg.RollInterval.Milliseconds())
	if cfg.Compacted {
		l.gaps.Store(true)
	}
}

// Config returns the current configuration.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

// Size is the total size of the segment files.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size
	}
	return n
}

// Segments describes the segments, oldest first; the last is the active one.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = SegmentInfo{
			BaseOffset: s.base, NextOffset: s.next, Size: s.size,
			MaxTimestamp: s.maxTs, Sealed: s.sealed, Path: s.path(logSuffix),
			SealTick: s.sealTick,
		}
	}
	return out
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: for the largest epoch
// at or below the requested one, that epoch and the start offset of the
// next higher epoch (or the log end offset if it is the latest). It returns
// (-1, -1) when the requested epoch is unknown or above every epoch.
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := len(l.epochs)
	if epoch < 0 || n == 0 {
		return -1, -1
	}
	if l.epochs[n-1].epoch == epoch {
		return epoch, l.end
	}
	higher := -1
	for i, e := range l.epochs {
		if e.epoch > epoch {
			higher = i
			break
		}
	}
	if higher < 0 {
		return -1, -1
	}
	if higher == 0 {
		return epoch, l.epochs[0].start
	}
	return l.epochs[higher-1].epoch, l.epochs[higher].start
}

// Close flushes and fsyncs everything, writes the clean-shutdown marker
// and releases the log's files. Files still referenced by unreleased
// ReadResults stay open until those are released.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	closed, failed := l.closed, l.failed
	l.mu.RUnlock()
	if closed {
		return nil
	}
	var errs []error
	if failed == nil {
		errs = append(errs, l.Sync())
		active := l.segs[len(l.segs)-1]
		errs = append(errs, l.datasync(active.index), l.datasync(active.timeIdx))
	}
	l.syncMu.Lock()
	l.mu.Lock()
	l.closed = true
	segs := l.segs
	l.segs = nil
	l.unsynced = nil
	l.mu.Unlock()
	l.syncMu.Unlock()
	if err := errors.Join(errs...); err == nil && failed == nil {
		if err := writeFileAtomic(l.dir, cleanMarkerName, nil); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range segs {
		s.drop()
	}
	return errors.Join(errs...)
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	l.appendMu.Lock()
	l.syncMu.Lock()
	l.mu.Lock()
	l.closed = true
	segs := l.segs
	l.segs = nil
	l.unsynced = nil
	l.mu.Unlock()
	l.syncMu.Unlock()
	l.appendMu.Unlock()
	for _, s := range segs {
		s.unlinked.Store(true)
		s.drop()
	}
	return os.RemoveAll(l.dir)
}

func (l *Log) path(name string) string { return filepath.Join(l.dir, name) }
