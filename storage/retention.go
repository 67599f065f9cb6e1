package storage

import (
	"errors"
	"fmt"
	"time"
)

// DeleteRecordsBefore advances the log start offset to offset (persisting
// it) and deletes the segments wholly below it. Offsets above the log end
// are ErrOffsetOutOfRange; offsets at or below the start do nothing.
func (l *Log) DeleteRecordsBefore(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	l.mu.Lock()
	if offset > l.end {
		end := l.end
		l.mu.Unlock()
		return fmt.Errorf("%w: %d beyond log end %d", ErrOffsetOutOfRange, offset, end)
	}
	if offset <= l.start {
		l.mu.Unlock()
		return nil
	}
	l.start = offset
	l.mu.Unlock()
	if err := writeOffsetCheckpoint(l.dir, startOffsetName, offset); err != nil {
		return fmt.Errorf("persist log start offset: %w", err)
	}
	n := 0
	l.mu.RLock()
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.next > offset {
			break
		}
		n++
	}
	active := l.segs[len(l.segs)-1]
	rollActive := n == len(l.segs)-1 && active.size > 0 && l.end <= offset
	l.mu.RUnlock()
	if rollActive {
		if err := l.rollLocked(); err != nil {
			return err
		}
		n++
	}
	return l.deleteOldest(n, "delete-records")
}

// ApplyRetention deletes the oldest whole segments whose newest timestamp
// is older than RetentionMs before now, then the oldest segments while the
// log stays at least RetentionBytes without them. A fully expired active
// segment is rolled first so it can go too.
func (l *Log) ApplyRetention(now time.Time) (deletedSegments int, err error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return 0, err
	}
	l.mu.RLock()
	cfg := l.cfg
	n := 0
	if cfg.RetentionMs >= 0 {
		cutoff := now.UnixMilli() - cfg.RetentionMs.Milliseconds()
		for _, s := range l.segs {
			if s.size == 0 || s.maxTs >= cutoff {
				break
			}
			n++
		}
	}
	rollActive := n == len(l.segs)
	if cfg.RetentionBytes >= 0 && !rollActive {
		var total int64
		for _, s := range l.segs {
			total += s.size
		}
		for _, s := range l.segs[:n] {
			total -= s.size
		}
		for _, s := range l.segs[n : len(l.segs)-1] {
			if total-s.size < cfg.RetentionBytes {
				break
			}
			total -= s.size
			n++
		}
	}
	l.mu.RUnlock()
	if rollActive {
		if err := l.rollLocked(); err != nil {
			return 0, err
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, l.deleteOldest(n, "retention")
}

// deleteOldest removes the n oldest segments (never the active one) and
// moves the log start offset up to the first remaining segment. It needs
// appendMu.
func (l *Log) deleteOldest(n int, reason string) error {
	l.mu.Lock()
	if n > len(l.segs)-1 {
		n = len(l.segs) - 1
	}
	if n <= 0 {
		l.mu.Unlock()
		return nil
	}
	gone := append([]*segment(nil), l.segs[:n]...)
	l.segs = append([]*segment(nil), l.segs[n:]...)
	kept := l.unsynced[:0]
	for _, s := range l.unsynced {
		if s.base >= l.segs[0].base {
			kept = append(kept, s)
		}
	}
	l.unsynced = kept
	moved := l.segs[0].base > l.start
	if moved {
		l.start = l.segs[0].base
	}
	start := l.start
	l.mu.Unlock()

	var errs []error
	if moved {
		errs = append(errs, writeOffsetCheckpoint(l.dir, startOffsetName, start))
	}
	for _, s := range gone {
		l.logger.Info("deleting segment", "reason", reason, "base", s.base, "next", s.next, "size", s.size)
		errs = append(errs, s.remove())
	}
	errs = append(errs, syncDir(l.dir))
	return errors.Join(errs...)
}
