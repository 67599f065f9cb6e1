package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stratalog/strata/record"
)

// Damage is a local range that must not be served: a segment that failed
// verification (bad CRC, bad length, truncated so that it ends before the
// next segment starts, unreadable).
type Damage struct {
	// Base and Next are the offsets the damaged segment is responsible
	// for: [Base, Next), Next being the next segment's base.
	Base, Next int64
	// ValidEnd is the offset up to which its batches verified (>= Base);
	// reads below it may still be served.
	ValidEnd int64
	// Cause wraps ErrCorruptSegment.
	Cause error
}

// damage is a segment's damage, guarded by Log.mu.
type damage struct {
	validEnd int64 // offset after the last good batch
	validPos int64 // file position after the last good batch
	cause    error
	at       time.Time
}

// Damaged returns the current damage, oldest first.
func (l *Log) Damaged() []Damage {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []Damage
	for _, s := range l.segs {
		if d := s.damage; d != nil {
			out = append(out, Damage{Base: s.base, Next: s.next, ValidEnd: d.validEnd, Cause: d.cause})
		}
	}
	return out
}

// DamagedSegments is the number of segments currently marked damaged.
func (l *Log) DamagedSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for _, s := range l.segs {
		if s.damage != nil {
			n++
		}
	}
	return n
}

// MarkDamaged marks the sealed segment starting at base damaged from its
// first offset on (nothing of it is served locally until ReplaceSegment
// heals it). The tiering layer calls it when a batch fails its checks
// before upload. Unknown bases and the active segment are ignored (the
// active segment is verified at open and rewritten by appends).
func (l *Log) MarkDamaged(base int64, cause error) {
	if cause == nil {
		cause = errors.New("marked damaged")
	}
	if !errors.Is(cause, ErrCorruptSegment) {
		cause = fmt.Errorf("%w: %w", ErrCorruptSegment, cause)
	}
	l.mu.Lock()
	s := l.segmentLocked(base)
	if s == nil || !s.sealed {
		l.mu.Unlock()
		l.logger.Warn("not marking damaged: no such sealed segment", "dir", l.dir, "segment", base, "cause", cause)
		return
	}
	d := l.markDamagedLocked(s, base, 0, cause)
	l.mu.Unlock()
	l.persistDamage(s, d)
}

// markDamagedLocked records damage of s from validEnd (at file position
// validPos) on, keeping the lowest valid end if it is already damaged, and
// logs it once. It returns the new damage, or nil if nothing changed. It
// needs mu held for writing; the caller persists the damage after
// unlocking.
func (l *Log) markDamagedLocked(s *segment, validEnd, validPos int64, cause error) *damage {
	if d := s.damage; d != nil && d.validEnd <= validEnd {
		return nil
	}
	if s.damage == nil {
		l.damageMarked.Add(1)
	}
	s.damage = &damage{validEnd: validEnd, validPos: validPos, cause: cause, at: time.Now()}
	l.logger.Error("segment damaged: its records from valid_end on are not served locally",
		"dir", l.dir, "segment", s.base, "next", s.next, "valid_end", validEnd, "file", s.path(logSuffix), "cause", cause)
	return s.damage
}

// markDamaged takes mu and marks s damaged if it is still one of the log's
// segments.
func (l *Log) markDamaged(s *segment, validEnd, validPos int64, cause error) {
	l.mu.Lock()
	var d *damage
	if l.segmentLocked(s.base) == s {
		d = l.markDamagedLocked(s, validEnd, validPos, cause)
	}
	l.mu.Unlock()
	l.persistDamage(s, d)
}

// persistDamage records d beside the segment (<segment>.damaged), so that
// a restart, clean or not, keeps refusing the range until it is healed.
func (l *Log) persistDamage(s *segment, d *damage) {
	if d == nil {
		return
	}
	data := fmt.Sprintf("0\n%d %d\n%s\n", d.validEnd, d.validPos, strings.ReplaceAll(d.cause.Error(), "\n", " "))
	if err := writeFileAtomic(l.dir, segmentName(s.base)+damagedSuffix, []byte(data)); err != nil {
		l.logger.Warn("recording segment damage", "dir", l.dir, "segment", s.base, "err", err)
	}
}

// loadDamage reads a segment's .damaged file, if any.
func loadDamage(s *segment) *damage {
	lines, err := readLines(s.path(damagedSuffix))
	if err != nil || len(lines) < 2 || lines[0] != "0" {
		return nil
	}
	d := &damage{at: time.Now()}
	if _, err := fmt.Sscanf(lines[1], "%d %d", &d.validEnd, &d.validPos); err != nil || d.validEnd < s.base || d.validPos < 0 {
		return nil
	}
	cause := "recorded before restart"
	if len(lines) > 2 {
		cause = lines[2]
	}
	d.cause = fmt.Errorf("%w: %s", ErrCorruptSegment, cause)
	return d
}

// DamageMarked counts the segments marked damaged since open (healed ones
// included), for metrics.
func (l *Log) DamageMarked() int64 { return l.damageMarked.Load() }

// segmentLocked finds the segment with base offset base, or nil. It needs
// mu.
func (l *Log) segmentLocked(base int64) *segment {
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base >= base })
	if i < len(l.segs) && l.segs[i].base == base {
		return l.segs[i]
	}
	return nil
}

// Unverified returns the base offsets of the sealed segments whose CRCs
// have not been checked since an unclean stop (open checked only their
// batch-header chain), oldest first: the scrubber should verify them
// before anything else.
func (l *Log) Unverified() []int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []int64
	for _, s := range l.segs {
		if s.unverified && s.sealed {
			out = append(out, s.base)
		}
	}
	return out
}

// VerifySegment re-reads a sealed segment and checks every batch (length,
// magic, CRC-32C, contiguous offsets, matches the index and the next
// segment's base). It reads through limit (bytes/s pacing; nil =
// unlimited) and honours ctx. On failure it marks the segment damaged and
// returns an error wrapping ErrCorruptSegment; a cancelled ctx returns
// ctx's error and marks nothing.
func (l *Log) VerifySegment(ctx context.Context, base int64, limit func(ctx context.Context, n int) error) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	s := l.segmentLocked(base)
	if s == nil || !s.sealed {
		l.mu.RUnlock()
		return fmt.Errorf("%w: verify: no sealed segment at %d", ErrOffsetOutOfRange, base)
	}
	s.acquire()
	size, next, offsets := s.size, s.next, s.offsets
	l.mu.RUnlock()
	defer s.release()
	f, err := s.file()
	if err != nil {
		l.reportStorage(err)
		return fmt.Errorf("verify segment %d of %s: %w", base, l.dir, err)
	}

	res := verifyFile(ctx, s, f, size, next, offsets, limit, l.gaps.Load())
	if ctx.Err() != nil && errors.Is(res.err, ctx.Err()) {
		return res.err
	}
	if res.err != nil {
		l.markDamaged(s, res.next, res.validEnd, res.err)
		return fmt.Errorf("verify segment %d of %s: %w", base, l.dir, res.err)
	}
	l.mu.Lock()
	s.unverified = false
	l.mu.Unlock()
	return nil
}

// verifyFile checks every batch of s's file (the first size bytes): CRCs,
// contiguous offsets from s.base, that it ends exactly at next and that
// each offset-index entry points at a batch with its offset.
func verifyFile(ctx context.Context, s *segment, f *os.File, size, next int64, offsets []offsetEntry, limit func(context.Context, int) error, gaps bool) scanResult {
	j := 0
	sp := scanSpec{
		size:   size,
		verify: true,
		gaps:   gaps,
		file:   f,
		src:    &pacedReader{ctx: ctx, r: io.NewSectionReader(f, 0, size), limit: limit},
		onBatch: func(pos int64, h record.Header) error {
			for j < len(offsets) && int64(offsets[j].pos) <= pos {
				e := offsets[j]
				if int64(e.pos) != pos || s.base+int64(e.rel) != h.BaseOffset {
					return fmt.Errorf("%w: index entry %d (offset %d at %d) does not match batch %d at %d",
						ErrCorruptSegment, j, s.base+int64(e.rel), e.pos, h.BaseOffset, pos)
				}
				j++
			}
			if h.NextOffset() > next {
				return fmt.Errorf("%w: batch %d-%d at %d runs past the next segment's base %d",
					ErrCorruptSegment, h.BaseOffset, h.LastOffset(), pos, next)
			}
			return nil
		},
	}
	res := scanSegmentAt(s, sp, newScanResult(s))
	if res.err == nil && j < len(offsets) {
		res.err = fmt.Errorf("%w: index entry %d at %d past the last batch", ErrCorruptSegment, j, offsets[j].pos)
	}
	if res.err == nil && !endsBy(gaps, res.next, next) {
		res.err = fmt.Errorf("%w: segment ends at offset %d, the next starts at %d", ErrCorruptSegment, res.next, next)
	}
	return res
}

// pacedReader reads through a rate limit and stops when ctx is done.
type pacedReader struct {
	ctx   context.Context
	r     io.Reader
	limit func(context.Context, int) error
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	if len(b) > 256<<10 {
		b = b[:256<<10]
	}
	if p.limit != nil {
		if err := p.limit(p.ctx, len(b)); err != nil {
			return 0, err
		}
	}
	return p.r.Read(b)
}

// ReplaceSegment swaps in a healed copy of a sealed segment: path is a file
// in the log's directory holding exactly the batches of [base, next) as
// stored (offsets assigned). It verifies the file fully, renames it over
// the segment's .log atomically, rebuilds the indexes, fsyncs file and
// directory, and clears the damage. Readers holding the old file keep
// reading their descriptor. A copy that fails verification is refused with
// an error wrapping ErrCorruptSegment and left in place.
func (l *Log) ReplaceSegment(base int64, path string) error {
	if filepath.Clean(filepath.Dir(path)) != filepath.Clean(l.dir) {
		return fmt.Errorf("%w: replacement %s is not in %s", ErrBadAppend, path, l.dir)
	}
	l.mu.RLock()
	old := l.segmentLocked(base)
	closed := l.closed
	var next int64
	if old != nil {
		next = old.next
	}
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if old == nil || !old.sealed {
		return fmt.Errorf("%w: replace: no sealed segment at %d", ErrOffsetOutOfRange, base)
	}

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return classify("replace segment: open", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return classify("replace segment: stat", path, err)
	}
	cand := &segment{base: base, dir: l.dir, log: f, size: st.Size(), next: base, maxTs: -1, maxTsOffset: -1}
	res := verifyFile(context.Background(), cand, f, cand.size, next, nil, nil, l.gaps.Load())
	if res.err == nil {
		// Index entries as the appender would write them.
		res = scanSegmentAt(cand, scanSpec{size: cand.size, interval: l.cfg.IndexIntervalBytes, gaps: l.gaps.Load()}, newScanResult(cand))
	}
	if res.err == nil && cand.size == 0 {
		res.err = fmt.Errorf("%w: empty replacement", ErrCorruptSegment)
	}
	if res.err == nil {
		err = l.datasync(f)
	}
	f.Close()
	if res.err != nil {
		return fmt.Errorf("replace segment %d with %s: %w", base, path, res.err)
	}
	if err != nil {
		return classify("replace segment: fsync", path, err)
	}
	// The copy is verified (without blocking appends); swap it in under
	// appendMu, if the segment is still the one it was verified against.
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	same := l.segmentLocked(base) == old && old.next == next && !l.closed
	l.mu.RUnlock()
	if !same {
		return fmt.Errorf("%w: segment %d changed or went away during replace", ErrClosed, base)
	}
	// Readers of the old segment must keep reading the old file: open it
	// (if the file cache closed it) before its name goes to the copy, and
	// never reopen it by path again.
	if err := old.hold(false); err != nil {
		return fmt.Errorf("replace segment %d: %w", base, err)
	}
	if err := os.Rename(path, old.path(logSuffix)); err != nil {
		return classify("replace segment: rename", path, err)
	}
	s, err := openSegment(l.dir, base, false)
	if err != nil {
		return classify("replace segment: reopen", old.path(logSuffix), err)
	}
	s.cache = l.files
	s.applyScan(res)
	s.next = next
	if n := len(res.times); n == 0 || res.times[n-1].ts < res.maxTs {
		s.times = append(s.times, timeEntry{ts: res.maxTs, rel: s.rel(res.maxTsOffset)})
	}
	s.sealed = true
	_, err = s.writeIndexes(s.offsets, s.times)
	for _, f := range s.files() {
		if err == nil && f != nil {
			err = l.datasync(f)
		}
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		s.release()
		return classify("replace segment: write indexes", s.path(indexSuffix), err)
	}
	l.mu.Lock()
	cur := l.segmentLocked(base)
	if cur != old {
		l.mu.Unlock()
		s.release()
		return fmt.Errorf("%w: segment %d changed during replace", ErrClosed, base)
	}
	for i, x := range l.segs {
		if x == old {
			l.segs[i] = s
		}
	}
	for i, x := range l.unsynced {
		if x == old {
			l.unsynced = append(l.unsynced[:i:i], l.unsynced[i+1:]...)
			break
		}
	}
	l.mu.Unlock()
	s.settle()
	old.release()
	_ = os.Remove(old.path(damagedSuffix))
	l.logger.Warn("segment replaced with a verified copy", "dir", l.dir, "segment", base, "next", next, "size", s.size)
	return nil
}

// reportLimiter lets one message through per interval and counts the rest.
type reportLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many were held back before.
func (r *reportLimiter) allow(every time.Duration) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < every {
		r.suppressed++
		return false, 0
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	return true, n
}

const reportEvery = 10 * time.Second

// reportReadDamage logs a refused read at most once per reportEvery.
func (l *Log) reportReadDamage(offset int64, err error) {
	if ok, n := l.readReports.allow(reportEvery); ok {
		l.logger.Warn("read refused: damaged range", "dir", l.dir, "offset", offset, "err", err, "repeats", n)
	}
}
