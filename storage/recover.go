package storage

import (
	"fmt"
	"os"
	"sort"
)

// Recover brings a failed log (a failed fsync, or a write that could not be
// undone) back to its last verified state without a restart. After a failed
// fsync the page cache cannot be trusted to match the disk (the kernel may
// have dropped the dirty pages and marked them clean), so Recover cuts
// every segment back to the last successfully synced offset (nothing after
// it was acknowledged under flush.messages=1), drops the log's files and
// reopens them through the crash-recovery path (Open after an unclean
// stop). Readers holding results of the old files keep reading them. It
// does nothing for a log that has not failed; if it fails, the log stays
// failed and Recover may be called again.
func (l *Log) Recover() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	closed, failed := l.closed, l.failed
	segs := append([]*segment(nil), l.segs...)
	cfg := l.cfg
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if failed == nil {
		return nil
	}
	synced := l.synced.Load()
	if err := cutAfter(segs, synced); err != nil {
		return classify("recover: cut back to the synced offset", l.dir, err)
	}
	fresh := &Log{dir: l.dir, logger: l.logger, cfg: cfg, fdatasync: l.fdatasync, files: l.files}
	fresh.gaps.Store(l.gaps.Load())
	if err := fresh.load(); err != nil {
		return fmt.Errorf("recover %s: %w", l.dir, err)
	}
	l.mu.Lock()
	old := l.segs
	l.segs, l.start, l.end, l.epochs = fresh.segs, fresh.start, fresh.end, fresh.epochs
	l.forgetTickLocked(fresh.end)
	l.unsynced, l.failed = nil, nil
	l.synced.Store(fresh.end)
	l.damageMarked.Add(fresh.damageMarked.Load())
	l.mu.Unlock()
	for _, s := range old {
		s.drop()
	}
	l.logger.Warn("log recovered from its last synced state", "dir", l.dir, "synced", synced,
		"end", fresh.end, "cause", failed)
	return nil
}

// cutAfter removes the segment files above offset off and truncates the
// one holding it at the batch that starts at off. segs are the log's
// segments, oldest first.
func cutAfter(segs []*segment, off int64) error {
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > off }) - 1
	for _, s := range segs[max(i+1, 0):] {
		_ = s.hold(true) // readers keep the file they are reading
		for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix, damagedSuffix} {
			if err := os.Remove(s.path(suf)); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	if i < 0 {
		return nil
	}
	s := segs[i]
	s.acquire()
	defer s.release()
	f, err := s.file()
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	pos := lookupOffset(s.offsets, s.rel(off))
	hr := newHeaderReader(f, size)
	for pos < size {
		h, err := hr.at(pos)
		if err != nil || h.BaseOffset >= off {
			break
		}
		pos += int64(h.Size())
	}
	if pos < size {
		return f.Truncate(pos)
	}
	return nil
}
