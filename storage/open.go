package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"
)

// Open opens the log in dir, creating it if needed.
//
// After a clean Close it trusts the sealed segments' bytes but checks their
// shape cheaply: the indexes load and agree with the file size, and the
// batch headers from the last index entry on chain to the end of the file
// and to the next segment's base. The active segment's tail (from its last
// index entry) is verified with CRCs, as after a crash.
//
// After a crash it rescans, with CRCs, every segment from the recovery
// point on (the active segment, unless segments were rolled and not yet
// synced): a torn or corrupt tail is truncated (those bytes were never
// synced, so never acknowledged under flush.messages=1) and the indexes are
// rebuilt. Sealed segments below the recovery point were synced: their
// whole batch-header chain is checked (lengths, contiguous offsets, the end
// at the next segment's base) but not their CRCs, which the scrubber checks
// later (Unverified lists them).
//
// A sealed segment that fails a check is marked damaged (Damaged) rather
// than truncated, and the segments after it are kept. Unknown files are
// ignored; missing or damaged index files are rebuilt from the segment.
func Open(dir string, cfg Config, logger *slog.Logger) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, classify("open log", dir, err)
	}
	l := &Log{dir: dir, logger: logger.With("log", dir), cfg: cfg, fdatasync: cfg.Fdatasync, files: newFileCache(maxOpenSealed)}
	l.rollEvery.Store(cfg.RollInterval.Milliseconds())
	if _, err := os.Stat(l.path(compactedMarkerName)); err == nil || cfg.Compacted {
		l.gaps.Store(true)
	}
	if err := l.load(); err != nil {
		return nil, err
	}
	return l, nil
}

// load reads the log's files into l, which holds no segments.
func (l *Log) load() error {
	dir := l.dir
	started := time.Now()
	_, err := os.Stat(l.path(cleanMarkerName))
	clean := err == nil

	bases, damaged, err := l.listSegments()
	if err != nil {
		return err
	}
	startCkpt, err := readOffsetCheckpoint(dir, startOffsetName)
	if err != nil {
		l.logger.Warn("ignoring log start offset checkpoint", "err", err)
		startCkpt = -1
	}
	recoveryPoint, err := readOffsetCheckpoint(dir, recoveryCkptName)
	rpKnown := err == nil && recoveryPoint >= 0
	if !rpKnown {
		recoveryPoint = 0 // unknown: an unclean open verifies everything
	}
	if l.epochs, err = readEpochCheckpoint(dir); err != nil {
		l.logger.Warn("ignoring leader-epoch checkpoint", "err", err)
		l.epochs = nil
	}

	listed := slices.Clone(bases)
	scanned, checked := 0, 0
	var marked []*segment
	for i, base := range bases {
		last := i == len(bases)-1
		s, err := openSegment(dir, base, false)
		if err != nil {
			l.closeSegments()
			return classify("open segment", segmentName(base), err)
		}
		s.cache = l.files
		l.segs = append(l.segs, s)
		var nextBase int64 = -1
		if !last {
			nextBase = bases[i+1]
		}
		rescan := !clean && (last || (rpKnown && base >= recoveryPoint))
		switch {
		case rescan:
			scanned++
			torn, err := l.recoverSegment(s)
			if err != nil {
				l.closeSegments()
				return err
			}
			// In a log with gaps a segment may end before the next one
			// starts; only a truncated tail says it is torn.
			if !last && (torn || !l.endsRight(s.next, nextBase)) {
				// A torn segment rolled after the last sync: neither its
				// tail nor the segments after it were ever synced.
				l.logger.Warn("unsynced segment ends before the next one starts; dropping the unsynced segments after it",
					"segment", base, "next", s.next, "following", nextBase, "dropped", bases[i+1:])
				if err := removeSegmentFiles(dir, bases[i+1:]); err != nil {
					l.closeSegments()
					return classify("drop segments", dir, err)
				}
				bases = bases[:i+1]
			} else if !last {
				s.next = nextBase
			}
		case !clean:
			checked++
			if l.checkSealed(s, nextBase, !rpKnown) {
				marked = append(marked, s)
			}
		default:
			ok, err := l.loadSegment(s, nextBase)
			if err != nil {
				l.closeSegments()
				return err
			}
			if !ok {
				marked = append(marked, s)
			}
		}
		if !last && damaged[base] && s.damage == nil {
			if d := loadDamage(s); d != nil {
				s.next = nextBase
				s.damage = d
				l.damageMarked.Add(1)
				l.logger.Error("segment damaged (recorded before restart): its records from valid_end on are not served locally",
					"dir", dir, "segment", base, "next", nextBase, "valid_end", d.validEnd, "cause", d.cause)
			}
		}
		if !last && !rescan {
			// Checked and durable: its files need not stay open while
			// the rest of the log loads.
			s.settle()
		}
		if len(bases) == i+1 {
			break
		}
	}
	if len(l.segs) == 0 {
		s, err := openSegment(dir, max(0, startCkpt), true)
		if err != nil {
			return classify("create first segment", dir, err)
		}
		s.cache = l.files
		l.segs = append(l.segs, s)
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		s.sealed = true
	}
	active := l.segs[len(l.segs)-1]
	active.damage = nil
	l.end = active.next
	l.start = max(startCkpt, l.segs[0].base)
	if l.start > l.end {
		// Records were deleted up to an offset the surviving data does
		// not reach: start over empty at the log start offset.
		l.logger.Warn("log start offset beyond recovered data; starting empty", "start", l.start, "end", l.end)
		if err := l.resetTo(l.start); err != nil {
			return err
		}
	}
	l.truncateEpochs()
	active.firstAppend = firstAppendTime(active)

	if err := os.Remove(l.path(cleanMarkerName)); err != nil && !os.IsNotExist(err) {
		l.closeSegments()
		return classify("remove clean marker", dir, err)
	}
	if !clean {
		// Everything recovered is now the durable baseline: the data of
		// every rescanned segment, and the indexes of the sealed ones
		// (the active segment's indexes are rebuilt by any unclean open,
		// so they need not be durable).
		for _, s := range l.segs[max(0, len(l.segs)-scanned):] {
			files := []*os.File{s.log, s.index, s.timeIdx}
			if s == active {
				files = files[:1]
			}
			for _, f := range files {
				if f == nil {
					continue
				}
				if err := l.datasync(f); err != nil {
					l.closeSegments()
					return classify("sync recovered segment", s.path(logSuffix), err)
				}
			}
		}
		if !rpKnown || recoveryPoint != active.base {
			if err := writeOffsetCheckpoint(dir, recoveryCkptName, active.base); err != nil {
				l.closeSegments()
				return classify("write recovery point", dir, err)
			}
		}
	}
	// Directory entries: the removed clean marker, created or removed
	// files. An unclean open that changed none has nothing to sync.
	if clean || l.dirChanged(listed) {
		if err := syncDir(dir); err != nil {
			l.closeSegments()
			return classify("sync dir", dir, err)
		}
	}
	for _, s := range marked {
		if s.damage != nil && s != active {
			l.persistDamage(s, s.damage)
		}
	}
	// The sealed segments' files are durable now: close their indexes
	// and let the file cache bound their open .log files.
	for _, s := range l.segs[:len(l.segs)-1] {
		s.settle()
	}
	l.synced.Store(l.end)
	l.logger.Info("opened log", "clean", clean, "segments", len(l.segs), "scanned", scanned, "checked", checked,
		"damaged", l.DamagedSegments(), "start", l.start, "end", l.end, "took", time.Since(started))
	return nil
}

// dirChanged reports whether opening created or removed directory entries:
// segments other than those listed (created, or dropped), or index files
// that were missing.
func (l *Log) dirChanged(listed []int64) bool {
	if len(l.segs) != len(listed) {
		return true
	}
	for i, s := range l.segs {
		if s.base != listed[i] || s.idxMissing {
			return true
		}
	}
	return false
}

// listSegments returns the base offsets of the segment files and the set of
// those with recorded damage, removing leftovers of interrupted writes and
// index files without a segment.
func (l *Log) listSegments() ([]int64, map[int64]bool, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, nil, classify("open log", l.dir, err)
	}
	var bases []int64
	stems := map[string]bool{}
	for _, e := range ents {
		if base, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			bases = append(bases, base)
			stems[segmentName(base)] = true
		}
	}
	damaged := map[int64]bool{}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, tmpSuffix) || strings.HasSuffix(name, cleanedSuffix):
			// An interrupted write, or a cleaning pass's output that a
			// crash kept from replacing its segment.
			_ = os.Remove(l.path(name))
		case strings.HasSuffix(name, indexSuffix) || strings.HasSuffix(name, timeIndexSuffix) || strings.HasSuffix(name, damagedSuffix):
			stem := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, indexSuffix), timeIndexSuffix), damagedSuffix)
			if !stems[stem] {
				_ = os.Remove(l.path(name))
			} else if strings.HasSuffix(name, damagedSuffix) {
				if b, ok := parseSegmentName(stem + logSuffix); ok {
					damaged[b] = true
				}
			}
		case strings.HasSuffix(name, logSuffix) && !stems[strings.TrimSuffix(name, logSuffix)]:
			l.logger.Warn("ignoring unrecognised file", "file", name)
		}
	}
	slices.Sort(bases)
	return bases, damaged, nil
}

// recoverSegment rescans s, truncates whatever follows the last good batch
// and rewrites its indexes. It reports whether it truncated.
func (l *Log) recoverSegment(s *segment) (truncated bool, err error) {
	res := scanSegment(s, l.cfg.IndexIntervalBytes, true, l.gaps.Load())
	if res.err != nil {
		l.logger.Warn("truncating torn or corrupt segment tail", "segment", s.base,
			"from", res.validEnd, "size", s.size, "err", res.err)
		if err := s.log.Truncate(res.validEnd); err != nil {
			return true, fmt.Errorf("truncate segment %d: %w", s.base, err)
		}
		truncated = res.validEnd < s.size
		s.size = res.validEnd
	}
	s.applyScan(res)
	if _, err := s.writeIndexes(res.offsets, res.times); err != nil {
		return truncated, classify("rebuild indexes of segment", segmentName(s.base), err)
	}
	return truncated, nil
}

// The batch chain rules. Without gaps a batch starts exactly where the
// one before it ended and a sealed segment ends exactly at the next one's
// base; in a compacted log (gaps) base offsets need only increase and a
// segment may end before the next begins.

// follows reports whether a batch at base may come after one ending at
// want.
func follows(gaps bool, base, want int64) bool {
	return base == want || gaps && base > want
}

// endsBy reports whether batches ending at end fit a segment whose range
// ends at next.
func endsBy(gaps bool, end, next int64) bool {
	return end == next || gaps && end < next
}

// endsRight is endsBy for this log.
func (l *Log) endsRight(next, nextBase int64) bool { return endsBy(l.gaps.Load(), next, nextBase) }

func (s *segment) applyScan(res scanResult) {
	s.next, s.maxTs, s.maxTsOffset = res.next, res.maxTs, res.maxTsOffset
	s.offsets, s.times, s.sinceIndex = res.offsets, res.times, res.sinceIndex
}

// checkSealed checks a sealed segment's batch-header chain (with verify,
// its CRCs too) after an unclean stop: lengths, contiguous offsets from its
// base, the end exactly at nextBase. It rebuilds missing or disagreeing
// indexes, never truncates, and marks the segment damaged if the chain
// breaks, reporting whether it did.
func (l *Log) checkSealed(s *segment, nextBase int64, verify bool) bool {
	res := scanSegment(s, l.cfg.IndexIntervalBytes, verify, l.gaps.Load())
	if res.err == nil && !l.endsRight(res.next, nextBase) {
		res.err = fmt.Errorf("%w: segment ends at offset %d (file size %d), the next starts at %d",
			ErrCorruptSegment, res.next, s.size, nextBase)
	}
	s.applyScan(res)
	s.next = nextBase
	s.unverified = !verify
	if n := len(res.times); res.maxTsOffset >= 0 && (n == 0 || res.times[n-1].ts < res.maxTs) {
		s.times = append(s.times, timeEntry{ts: res.maxTs, rel: s.rel(res.maxTsOffset)})
	}
	offsets, err1 := loadOffsetIndex(s.path(indexSuffix), s.size)
	times, err2 := loadTimeIndex(s.path(timeIndexSuffix), nextBase-s.base)
	if s.idxMissing || err1 != nil || err2 != nil || !slices.Equal(offsets, s.offsets) || !slices.Equal(times, s.times) {
		l.logger.Warn("rebuilding segment indexes", "segment", s.base, "missing", s.idxMissing, "err", errors.Join(err1, err2))
		changed, err := s.writeIndexes(s.offsets, s.times)
		if err == nil && changed {
			err = errors.Join(l.datasync(s.index), l.datasync(s.timeIdx))
		}
		if err != nil {
			l.logger.Warn("rewriting segment indexes", "segment", s.base, "err", err)
		}
	}
	if res.err != nil {
		l.markDamagedLocked(s, res.next, res.validEnd, res.err)
		return true
	}
	return false
}

// loadSegment loads a segment after a clean shutdown from its indexes.
// nextBase is the following segment's base offset, or -1 for the active
// segment. A sealed segment's tail (from its last index entry) must chain
// to the end of the file and to nextBase, or its whole chain is checked
// (checkSealed) and it is marked damaged if that fails too: ok is false
// then. The active segment's tail is verified with CRCs; a bad tail is
// truncated.
func (l *Log) loadSegment(s *segment, nextBase int64) (ok bool, err error) {
	offsets, err1 := loadOffsetIndex(s.path(indexSuffix), s.size)
	maxRel := int64(1) << 32
	if nextBase >= 0 {
		maxRel = nextBase - s.base
	}
	times, err2 := loadTimeIndex(s.path(timeIndexSuffix), maxRel)
	broken := errors.Join(err1, err2)
	if broken == nil && nextBase >= 0 && s.size > 0 && len(times) == 0 {
		broken = errors.New("empty time index")
	}
	if broken != nil || s.idxMissing {
		l.logger.Warn("rebuilding segment indexes", "segment", s.base, "missing", s.idxMissing, "err", broken)
		if nextBase >= 0 {
			return !l.checkSealed(s, nextBase, false), nil
		}
		_, err := l.recoverSegment(s)
		return true, err
	}
	s.offsets, s.times = offsets, times
	if n := len(times); n > 0 {
		s.maxTs, s.maxTsOffset = times[n-1].ts, s.base+int64(times[n-1].rel)
	}
	// Resume from the last index entry.
	res := newScanResult(s)
	from := int64(0)
	if n := len(offsets); n > 0 {
		from, res.next = int64(offsets[n-1].pos), s.base+int64(offsets[n-1].rel)
	}
	res.maxTs, res.maxTsOffset = s.maxTs, s.maxTsOffset
	res = scanSegmentAt(s, scanSpec{size: s.size, from: from, interval: l.cfg.IndexIntervalBytes, verify: nextBase < 0, gaps: l.gaps.Load()}, res)
	if nextBase >= 0 {
		if res.err == nil && !l.endsRight(res.next, nextBase) {
			res.err = fmt.Errorf("%w: segment ends at offset %d, the next starts at %d", ErrCorruptSegment, res.next, nextBase)
		}
		if res.err != nil {
			l.logger.Warn("sealed segment does not match its index or the next segment; checking it", "segment", s.base, "err", res.err)
			return !l.checkSealed(s, nextBase, false), nil
		}
		s.next = nextBase
		return true, nil
	}
	if res.err != nil {
		l.logger.Warn("active segment tail failed verification after a clean stop; recovering it", "segment", s.base,
			"from", res.validEnd, "size", s.size, "err", res.err)
		_, err := l.recoverSegment(s)
		return true, err
	}
	s.next, s.maxTs, s.maxTsOffset, s.sinceIndex = res.next, res.maxTs, res.maxTsOffset, res.sinceIndex
	// Entries the appender would have added after the last one on disk.
	var newOffsets []offsetEntry
	var newTimes []timeEntry
	for _, e := range res.offsets {
		if n := len(s.offsets); n == 0 || e.rel > s.offsets[n-1].rel {
			newOffsets = append(newOffsets, e)
		}
	}
	for _, e := range res.times {
		if n := len(s.times); n == 0 || e.ts > s.times[n-1].ts {
			newTimes = append(newTimes, e)
		}
	}
	if len(newOffsets) > 0 || len(newTimes) > 0 {
		if err := appendIndexFiles(s, newOffsets, newTimes); err != nil {
			return true, classify("extend indexes", s.path(indexSuffix), err)
		}
		s.offsets = append(s.offsets, newOffsets...)
		s.times = append(s.times, newTimes...)
	}
	return true, nil
}

// firstAppendTime estimates when the active segment's first batch arrived
// after a restart: its max timestamp, unless that lies in the future.
func firstAppendTime(s *segment) int64 {
	if s.size == 0 {
		return -1
	}
	now := time.Now().UnixMilli()
	h, err := newHeaderReader(s.log, s.size).at(0)
	if err != nil || h.MaxTimestamp < 0 || h.MaxTimestamp > now {
		return now
	}
	return h.MaxTimestamp
}

// truncateEpochs drops leader-epoch entries that start at or beyond the
// log end offset (their records did not survive).
func (l *Log) truncateEpochs() {
	n := len(l.epochs)
	for n > 0 && l.epochs[n-1].start >= l.end {
		n--
	}
	if n != len(l.epochs) {
		l.epochs = l.epochs[:n]
		if err := writeEpochCheckpoint(l.dir, l.epochs); err != nil {
			l.logger.Warn("writing leader-epoch checkpoint", "err", err)
		}
	}
}

// resetTo removes every segment and starts an empty one at off.
func (l *Log) resetTo(off int64) error {
	for _, s := range l.segs {
		if err := s.remove(); err != nil {
			return err
		}
	}
	s, err := openSegment(l.dir, off, true)
	if err != nil {
		return err
	}
	s.cache = l.files
	l.segs = []*segment{s}
	l.start, l.end = off, off
	return nil
}

func (l *Log) closeSegments() {
	for _, s := range l.segs {
		s.drop()
	}
	l.segs = nil
}

func removeSegmentFiles(dir string, bases []int64) error {
	for _, b := range bases {
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix, damagedSuffix} {
			s := &segment{dir: dir, base: b}
			if err := os.Remove(s.path(suf)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return nil
}
