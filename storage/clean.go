package storage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/stratalog/strata/record"
)

// Compaction support: the cleaner (its decisions live in package compact)
// reads a sealed segment, keeps what its filter returns, and swaps the
// result in. A crash at any point leaves the old segment or the new one:
// the output is written to <segment>.log.cleaned and fsynced, the old
// index files are removed, and the output is renamed over the .log (the
// commit point); indexes are rebuilt for it. Open removes a .cleaned file
// left by a crash and rebuilds missing indexes.

// CleanResult says what CleanSegment did.
type CleanResult struct {
	Replaced         bool  // the segment changed and was swapped
	OldSize, NewSize int64 // bytes before and after
}

// markCompacted records, durably and before any gap is written, that the
// log holds compacted data, so that later opens accept gaps whatever the
// config says.
func (l *Log) markCompacted() error {
	l.gaps.Store(true)
	if l.marked.Load() {
		return nil
	}
	if _, err := os.Stat(l.path(compactedMarkerName)); err != nil {
		if err := writeFileAtomic(l.dir, compactedMarkerName, []byte("batches of this log may leave offset gaps (compaction)\n")); err != nil {
			return classify("mark log compacted", l.dir, err)
		}
	}
	l.marked.Store(true)
	return nil
}

// Gaps reports whether the log's batches may leave offset gaps: it is
// configured compacted, or holds compacted data.
func (l *Log) Gaps() bool { return l.gaps.Load() }

// CleanerState is where the last cleaning pass left a log.
type CleanerState struct {
	// FirstDirty is the first offset no pass has deduplicated, -1 when
	// no pass has run.
	FirstDirty int64
	// NextHorizon is the earliest delete horizon (unix ms) of the
	// tombstones and markers the pass kept, 0 when none.
	NextHorizon int64
}

// CleanerCheckpoint returns the cleaner state the last pass recorded (read
// from its file once, then kept in memory).
func (l *Log) CleanerCheckpoint() CleanerState {
	if st := l.cleanerCkpt.Load(); st != nil {
		return *st
	}
	st := l.readCleanerCheckpoint()
	l.cleanerCkpt.CompareAndSwap(nil, &st)
	return st
}

func (l *Log) readCleanerCheckpoint() CleanerState {
	st := CleanerState{FirstDirty: -1}
	lines, err := readLines(l.path(cleanerCkptName))
	if err == nil && lines != nil {
		if len(lines) < 2 || lines[0] != "0" {
			err = fmt.Errorf("checkpoint %s: malformed", cleanerCkptName)
		} else if st.FirstDirty, err = strconv.ParseInt(lines[1], 10, 64); err == nil && len(lines) > 2 {
			st.NextHorizon, err = strconv.ParseInt(lines[2], 10, 64)
		}
	}
	if err != nil {
		l.logger.Warn("ignoring cleaner checkpoint", "err", err)
		return CleanerState{FirstDirty: -1}
	}
	return st
}

// SetCleanerCheckpoint durably records where the last cleaning pass
// stopped.
func (l *Log) SetCleanerCheckpoint(st CleanerState) error {
	if err := writeFileAtomic(l.dir, cleanerCkptName, []byte(fmt.Sprintf("0\n%d\n%d\n", st.FirstDirty, st.NextHorizon))); err != nil {
		l.cleanerCkpt.Store(nil) // read the file again next time
		return classify("write cleaner checkpoint", l.dir, err)
	}
	l.cleanerCkpt.Store(&st)
	return nil
}

// lowerCleanerCheckpoint moves the checkpoint back to end after a
// truncation or reset: what is appended from there on is dirty.
func (l *Log) lowerCleanerCheckpoint(end int64) {
	if cur := l.CleanerCheckpoint(); cur.FirstDirty > end {
		cur.FirstDirty = end
		if err := l.SetCleanerCheckpoint(cur); err != nil {
			l.logger.Warn("lowering cleaner checkpoint", "err", err)
		}
	}
}

// CleanSegment rewrites the sealed, undamaged segment at base (syncing it
// first if it was rolled and not yet synced).
// filter sees each batch in order, its CRC verified, and returns what to
// keep in its place: the same slice, a rebuilt batch with the same base
// offset, or nil to drop it. Reads go through limit (bytes/s pacing; nil
// is unlimited) and stop when ctx is done. When nothing changes the
// segment is left alone. Otherwise the new file replaces the old one
// atomically, keeping the segment's base and next offsets; readers
// holding the old file keep reading it. A batch that fails verification
// marks the segment damaged and fails the pass. Appends are blocked only
// for the swap.
func (l *Log) CleanSegment(ctx context.Context, base int64, filter func(h record.Header, batch []byte) ([]byte, error), limit func(context.Context, int) error) (CleanResult, error) {
	l.mu.RLock()
	s := l.segmentLocked(base)
	unsynced := slices.Contains(l.unsynced, s)
	l.mu.RUnlock()
	if unsynced {
		// Rolled and not yet synced (no append has synced since): make
		// it durable first, so a crash can only find it whole.
		if err := l.Sync(); err != nil {
			return CleanResult{}, err
		}
	}
	l.mu.RLock()
	s = l.segmentLocked(base)
	closed := l.closed
	var size, next, sealTick int64
	ok := s != nil && s.sealed && s.damage == nil && !closed && !slices.Contains(l.unsynced, s)
	if ok {
		s.acquire()
		size, next, sealTick = s.size, s.next, s.sealTick
	}
	l.mu.RUnlock()
	if closed {
		return CleanResult{}, ErrClosed
	}
	if !ok {
		return CleanResult{}, fmt.Errorf("%w: clean: no sealed, synced, undamaged segment at %d", ErrOffsetOutOfRange, base)
	}
	defer s.release()
	res := CleanResult{OldSize: size}
	f, err := s.file()
	if err != nil {
		l.reportStorage(err)
		return res, fmt.Errorf("clean segment %d of %s: %w", base, l.dir, err)
	}

	tmpPath := s.path(logSuffix + cleanedSuffix)
	out, err := os.OpenFile(tmpPath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return res, classify("clean segment: create", tmpPath, err)
	}
	discard := func() {
		out.Close()
		_ = os.Remove(tmpPath)
	}
	changed, written, err := l.filterSegment(ctx, s, f, size, next, filter, limit, out)
	if err != nil {
		discard()
		return res, err
	}
	if !changed {
		discard()
		res.NewSize = size
		return res, nil
	}
	if err := l.datasync(out); err != nil {
		discard()
		return res, classify("clean segment: fsync", tmpPath, err)
	}
	if err := out.Close(); err != nil {
		_ = os.Remove(tmpPath)
		return res, classify("clean segment: close", tmpPath, err)
	}
	if err := l.markCompacted(); err != nil {
		_ = os.Remove(tmpPath)
		return res, err
	}
	if err := l.swapCleaned(s, next, sealTick, tmpPath); err != nil {
		_ = os.Remove(tmpPath)
		return res, err
	}
	res.Replaced, res.NewSize = true, written
	return res, nil
}

// filterSegment streams the segment's batches through filter into out,
// verifying each (CRC, increasing offsets within [base, next)). It
// reports whether anything changed and how many bytes it wrote.
func (l *Log) filterSegment(ctx context.Context, s *segment, f *os.File, size, next int64,
	filter func(record.Header, []byte) ([]byte, error), limit func(context.Context, int) error, out io.Writer) (changed bool, written int64, err error) {
	br := bufio.NewReaderSize(&pacedReader{ctx: ctx, r: io.NewSectionReader(f, 0, size), limit: limit}, 1<<20)
	bw := bufio.NewWriterSize(out, 1<<20)
	var hdr [record.HeaderSize]byte
	var body []byte
	var lastDropped *record.Header // the last batch dropped, while nothing was kept
	pos, want := int64(0), s.base
	bad := func(format string, args ...any) error {
		err := fmt.Errorf("%w: %s", ErrCorruptSegment, fmt.Sprintf(format, args...))
		l.markDamaged(s, want, pos, err)
		return fmt.Errorf("clean segment %d of %s: %w", s.base, l.dir, err)
	}
	for pos < size {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if ctx.Err() != nil {
				return false, 0, ctx.Err()
			}
			return false, 0, bad("header at %d: %v", pos, err)
		}
		h, err := record.ParseHeader(hdr[:])
		if err != nil {
			return false, 0, bad("at %d: %v", pos, err)
		}
		if pos+int64(h.Size()) > size || h.BaseOffset < want || h.NextOffset() > next || h.LastOffsetDelta < 0 {
			return false, 0, bad("batch [%d, %d) of %d bytes at %d does not fit [%d, %d) within %d bytes",
				h.BaseOffset, h.NextOffset(), h.Size(), pos, want, next, size)
		}
		body = append(body[:0], hdr[:]...)
		body = append(body, make([]byte, h.Size()-record.HeaderSize)...)
		if _, err := io.ReadFull(br, body[record.HeaderSize:]); err != nil {
			if ctx.Err() != nil {
				return false, 0, ctx.Err()
			}
			return false, 0, bad("batch at %d: %v", pos, err)
		}
		if err := record.CheckCRC(body, h); err != nil {
			return false, 0, bad("batch at %d: %v", pos, err)
		}
		kept, err := filter(h, body)
		if err != nil {
			return false, 0, fmt.Errorf("clean segment %d of %s: batch at offset %d: %w", s.base, l.dir, h.BaseOffset, err)
		}
		if kept != nil {
			kh, err := record.ParseHeader(kept)
			if err != nil || kh.Size() != len(kept) || kh.BaseOffset != h.BaseOffset || kh.NextOffset() != h.NextOffset() {
				return false, 0, fmt.Errorf("%w: clean segment %d: the filter returned a batch that does not replace [%d, %d)", ErrBadAppend, s.base, h.BaseOffset, h.NextOffset())
			}
			if _, err := bw.Write(kept); err != nil {
				return false, 0, classify("clean segment: write", s.path(logSuffix+cleanedSuffix), err)
			}
			written += int64(len(kept))
		}
		if kept == nil && written == 0 {
			hc := h
			lastDropped = &hc
		}
		changed = changed || kept == nil || len(kept) != len(body) || &kept[0] != &body[0]
		pos += int64(h.Size())
		want = h.NextOffset()
	}
	if written == 0 && lastDropped != nil {
		// Never an empty segment: an empty batch keeps its range (and the
		// cold tier's copy replaceable).
		ph, err := record.Placeholder(*lastDropped)
		if err != nil {
			return false, 0, err
		}
		if _, err := bw.Write(ph); err != nil {
			return false, 0, classify("clean segment: write", s.path(logSuffix+cleanedSuffix), err)
		}
		written += int64(len(ph))
	}
	if err := bw.Flush(); err != nil {
		return false, 0, classify("clean segment: write", s.path(logSuffix+cleanedSuffix), err)
	}
	return changed, written, nil
}

// swapCleaned puts the cleaned file at tmpPath in place of segment old,
// keeping its next offset and seal tick.
func (l *Log) swapCleaned(old *segment, next, sealTick int64, tmpPath string) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	same := l.segmentLocked(old.base) == old && old.next == next && !l.closed && old.damage == nil
	l.mu.RUnlock()
	if !same {
		return fmt.Errorf("%w: segment %d changed or went away during cleaning", ErrClosed, old.base)
	}
	// Readers of the old segment keep its descriptor; it is never opened
	// by path again.
	if err := old.hold(false); err != nil {
		return fmt.Errorf("clean segment %d: %w", old.base, err)
	}
	// Old indexes go first: a crash before the rename leaves the old
	// segment without indexes (rebuilt at open), never the new one with
	// the old indexes.
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		if err := os.Remove(old.path(suf)); err != nil && !os.IsNotExist(err) {
			return l.fail(classify("clean segment: remove index", old.path(suf), err))
		}
	}
	if err := syncDir(l.dir); err != nil {
		return l.fail(err)
	}
	if err := os.Rename(tmpPath, old.path(logSuffix)); err != nil {
		return l.fail(classify("clean segment: rename", tmpPath, err))
	}
	if err := syncDir(l.dir); err != nil {
		return l.fail(err)
	}
	s, err := openSegment(l.dir, old.base, false)
	if err != nil {
		return l.fail(classify("clean segment: reopen", old.path(logSuffix), err))
	}
	s.cache = l.files
	res := scanSegmentAt(s, scanSpec{size: s.size, interval: l.cfg.IndexIntervalBytes, gaps: true}, newScanResult(s))
	if res.err != nil {
		s.release()
		return l.fail(fmt.Errorf("clean segment %d: the swapped-in file does not scan: %w", old.base, res.err))
	}
	s.applyScan(res)
	s.next, s.sealTick, s.sealed = next, sealTick, true
	if n := len(res.times); res.maxTsOffset >= 0 && (n == 0 || res.times[n-1].ts < res.maxTs) {
		s.times = append(s.times, timeEntry{ts: res.maxTs, rel: s.rel(res.maxTsOffset)})
	}
	if _, err = s.writeIndexes(s.offsets, s.times); err == nil {
		err = errors.Join(l.datasync(s.index), l.datasync(s.timeIdx), syncDir(l.dir))
	}
	if err != nil {
		// The data is in place; indexes missing or torn are rebuilt at
		// the next open. Serve from memory meanwhile.
		l.reportStorage(classify("clean segment: write indexes", s.path(indexSuffix), err))
	}
	l.mu.Lock()
	for i, x := range l.segs {
		if x == old {
			l.segs[i] = s
		}
	}
	l.mu.Unlock()
	s.settle()
	old.release()
	l.logger.Debug("segment cleaned", "dir", l.dir, "segment", old.base, "next", next, "was", old.size, "now", s.size)
	return nil
}
