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

// Open opens the log in dir, creating it if needed. After a clean Close it
// trusts the segment files and indexes (checking only their shape). After a
// crash it rescans every segment from the recovery point on, which is the
// active segment unless segments were rolled and not yet synced: each batch
// is checked (length, CRC-32C, contiguous offsets), a torn or corrupt tail is
// truncated and the indexes are rebuilt. Unknown files are ignored; missing
// or damaged index files are rebuilt from the segment.
func Open(dir string, cfg Config, logger *slog.Logger) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	l := &Log{dir: dir, logger: logger.With("log", dir), cfg: cfg}
	started := time.Now()
	_, err := os.Stat(l.path(cleanMarkerName))
	clean := err == nil

	bases, err := l.listSegments()
	if err != nil {
		return nil, err
	}
	startCkpt, err := readOffsetCheckpoint(dir, startOffsetName)
	if err != nil {
		l.logger.Warn("ignoring log start offset checkpoint", "err", err)
		startCkpt = -1
	}
	recoveryPoint, err := readOffsetCheckpoint(dir, recoveryCkptName)
	if err != nil || recoveryPoint < 0 {
		recoveryPoint = 0 // unknown: an unclean open rescans everything
	}
	if l.epochs, err = readEpochCheckpoint(dir); err != nil {
		l.logger.Warn("ignoring leader-epoch checkpoint", "err", err)
		l.epochs = nil
	}

	scanned := 0
	for i, base := range bases {
		last := i == len(bases)-1
		s, err := openSegment(dir, base, false)
		if err != nil {
			l.closeSegments()
			return nil, fmt.Errorf("open segment %d: %w", base, err)
		}
		l.segs = append(l.segs, s)
		if !clean && (last || base >= recoveryPoint) {
			scanned++
			if err := l.recoverSegment(s); err != nil {
				l.closeSegments()
				return nil, err
			}
			if !last && s.next != bases[i+1] {
				// A torn sealed segment: what follows it cannot be
				// trusted to be contiguous.
				l.logger.Warn("segment ends before the next one starts; dropping later segments",
					"segment", base, "next", s.next, "following", bases[i+1])
				if err := removeSegmentFiles(dir, bases[i+1:]); err != nil {
					l.closeSegments()
					return nil, err
				}
				break
			}
			continue
		}
		var nextBase int64 = -1
		if !last {
			nextBase = bases[i+1]
		}
		if err := l.loadSegment(s, nextBase); err != nil {
			l.closeSegments()
			return nil, err
		}
	}
	if len(l.segs) == 0 {
		s, err := openSegment(dir, max(0, startCkpt), true)
		if err != nil {
			return nil, fmt.Errorf("create first segment: %w", err)
		}
		l.segs = append(l.segs, s)
	}
	for _, s := range l.segs[:len(l.segs)-1] {
		s.sealed = true
	}
	active := l.segs[len(l.segs)-1]
	l.end = active.next
	l.start = max(startCkpt, l.segs[0].base)
	if l.start > l.end {
		// Records were deleted up to an offset the surviving data does
		// not reach: start over empty at the log start offset.
		l.logger.Warn("log start offset beyond recovered data; starting empty", "start", l.start, "end", l.end)
		if err := l.resetTo(l.start); err != nil {
			return nil, err
		}
	}
	l.truncateEpochs()
	active.firstAppend = firstAppendTime(active)

	if err := os.Remove(l.path(cleanMarkerName)); err != nil && !os.IsNotExist(err) {
		l.closeSegments()
		return nil, err
	}
	if !clean {
		// Everything recovered is now the durable baseline.
		for _, s := range l.segs[max(0, len(l.segs)-scanned):] {
			for _, f := range []*os.File{s.log, s.index, s.timeIdx} {
				if err := datasync(f); err != nil {
					l.closeSegments()
					return nil, err
				}
			}
		}
		if err := writeOffsetCheckpoint(dir, recoveryCkptName, active.base); err != nil {
			l.closeSegments()
			return nil, err
		}
	}
	if err := syncDir(dir); err != nil {
		l.closeSegments()
		return nil, err
	}
	l.synced.Store(l.end)
	l.logger.Info("opened log", "clean", clean, "segments", len(l.segs), "scanned", scanned,
		"start", l.start, "end", l.end, "took", time.Since(started))
	return l, nil
}

// listSegments returns the base offsets of the segment files, removing
// leftovers of interrupted writes and index files without a segment.
func (l *Log) listSegments() ([]int64, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	var bases []int64
	stems := map[string]bool{}
	for _, e := range ents {
		if base, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			bases = append(bases, base)
			stems[segmentName(base)] = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, tmpSuffix):
			_ = os.Remove(l.path(name))
		case strings.HasSuffix(name, indexSuffix) || strings.HasSuffix(name, timeIndexSuffix):
			stem := strings.TrimSuffix(strings.TrimSuffix(name, indexSuffix), timeIndexSuffix)
			if !stems[stem] {
				_ = os.Remove(l.path(name))
			}
		case strings.HasSuffix(name, logSuffix) && !stems[strings.TrimSuffix(name, logSuffix)]:
			l.logger.Warn("ignoring unrecognised file", "file", name)
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// recoverSegment rescans s, truncates whatever follows the last good batch
// and rewrites its indexes.
func (l *Log) recoverSegment(s *segment) error {
	res := scanSegment(s, l.cfg.IndexIntervalBytes, true)
	if res.err != nil {
		l.logger.Warn("truncating torn or corrupt segment tail", "segment", s.base,
			"from", res.validEnd, "size", s.size, "err", res.err)
		if err := s.log.Truncate(res.validEnd); err != nil {
			return fmt.Errorf("truncate segment %d: %w", s.base, err)
		}
		s.size = res.validEnd
	}
	s.applyScan(res)
	if err := s.writeIndexes(res.offsets, res.times); err != nil {
		return fmt.Errorf("rebuild indexes of segment %d: %w", s.base, err)
	}
	return nil
}

func (s *segment) applyScan(res scanResult) {
	s.next, s.maxTs, s.maxTsOffset = res.next, res.maxTs, res.maxTsOffset
	s.offsets, s.times, s.sinceIndex = res.offsets, res.times, res.sinceIndex
}

// loadSegment loads a segment after a clean shutdown (or below the recovery
// point) from its indexes. nextBase is the following segment's base offset,
// or -1 for the active segment, whose end is found by reading the batch
// headers after its last index entry.
func (l *Log) loadSegment(s *segment, nextBase int64) error {
	offsets, err1 := loadOffsetIndex(s.path(indexSuffix), s.size)
	maxRel := int64(1) << 32
	if nextBase >= 0 {
		maxRel = nextBase - s.base
	}
	times, err2 := loadTimeIndex(s.path(timeIndexSuffix), maxRel)
	if err := errors.Join(err1, err2); err != nil || (nextBase >= 0 && s.size > 0 && len(times) == 0) {
		l.logger.Warn("rebuilding segment indexes", "segment", s.base, "err", err)
		return l.rebuildSegment(s)
	}
	s.offsets, s.times = offsets, times
	if nextBase >= 0 {
		s.next = nextBase
		if n := len(times); n > 0 {
			s.maxTs, s.maxTsOffset = times[n-1].ts, s.base+int64(times[n-1].rel)
		}
		return nil
	}
	// Active segment: resume from the last index entry.
	pos := int64(0)
	if n := len(offsets); n > 0 {
		pos = int64(offsets[n-1].pos)
	}
	if n := len(times); n > 0 {
		s.maxTs, s.maxTsOffset = times[n-1].ts, s.base+int64(times[n-1].rel)
	}
	hr := newHeaderReader(s.log, s.size)
	s.next = s.base
	s.sinceIndex = 0
	for pos < s.size {
		h, err := hr.at(pos)
		if err != nil {
			l.logger.Warn("active segment does not match its index; rebuilding", "segment", s.base, "err", err)
			return l.rebuildSegment(s)
		}
		if h.MaxTimestamp > s.maxTs || s.maxTsOffset < 0 {
			s.maxTs, s.maxTsOffset = h.MaxTimestamp, h.BaseOffset
		}
		s.next = h.NextOffset()
		s.sinceIndex += int64(h.Size())
		pos += int64(h.Size())
	}
	return nil
}

// rebuildSegment rebuilds the indexes of a trusted segment from its batch
// headers (no CRC check: the data was synced and closed cleanly).
func (l *Log) rebuildSegment(s *segment) error {
	res := scanSegment(s, l.cfg.IndexIntervalBytes, false)
	if res.err != nil {
		l.logger.Warn("truncating unreadable segment tail", "segment", s.base, "from", res.validEnd, "err", res.err)
		if err := s.log.Truncate(res.validEnd); err != nil {
			return err
		}
		s.size = res.validEnd
	}
	s.applyScan(res)
	if n := len(res.times); s.size > 0 && (n == 0 || res.times[n-1].ts < res.maxTs) {
		s.times = append(s.times, timeEntry{ts: res.maxTs, rel: s.rel(res.maxTsOffset)})
	}
	return s.writeIndexes(s.offsets, s.times)
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
	l.segs = []*segment{s}
	l.start, l.end = off, off
	return nil
}

func (l *Log) closeSegments() {
	for _, s := range l.segs {
		s.release()
	}
	l.segs = nil
}

func removeSegmentFiles(dir string, bases []int64) error {
	for _, b := range bases {
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
			s := &segment{dir: dir, base: b}
			if err := os.Remove(s.path(suf)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	return nil
}
