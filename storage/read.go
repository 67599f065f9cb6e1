package storage

import (
	"fmt"
	"io"
	"os"
	"sort"
	"sync/atomic"

	"github.com/stratalog/strata/record"
)

// ReadResult is a sequence of whole batches as byte ranges of segment
// files. The files stay open until Release, even if the segment is deleted
// or the log closed meanwhile.
type ReadResult struct {
	Chunks []Chunk
	Size   int64

	segs      []*segment
	onRelease func() // set by NewReadResult
	released  atomic.Bool
}

// Chunk is a byte range of a segment file, for sendfile.
type Chunk struct {
	File     *os.File
	Pos, Len int64
}

// Release lets the segment files go. It is safe to call more than once.
func (r *ReadResult) Release() {
	if r == nil || !r.released.CompareAndSwap(false, true) {
		return
	}
	for _, s := range r.segs {
		s.release()
	}
	r.segs = nil
	if r.onRelease != nil {
		r.onRelease()
	}
}

// Bytes copies the batches out.
func (r *ReadResult) Bytes() ([]byte, error) {
	if r.released.Load() {
		return nil, fmt.Errorf("read result: %w", ErrClosed)
	}
	out := make([]byte, r.Size)
	n := 0
	for _, c := range r.Chunks {
		if _, err := c.File.ReadAt(out[n:n+int(c.Len)], c.Pos); err != nil {
			return nil, fmt.Errorf("read %s at %d: %w", c.File.Name(), c.Pos, err)
		}
		n += int(c.Len)
	}
	return out, nil
}

// WriteTo copies the batches to w (sendfile on sockets where the runtime
// supports it, since each chunk is an *os.File section).
func (r *ReadResult) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, c := range r.Chunks {
		n, err := io.Copy(w, io.NewSectionReader(c.File, c.Pos, c.Len))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// segView is a reader's snapshot of a segment's published state.
type segView struct {
	s       *segment
	size    int64
	offsets []offsetEntry
	times   []timeEntry
	maxTs   int64
	next    int64
	sealed  bool
	damage  *damage
}

// limit is how many bytes of the segment may be served: all of it, or up
// to the damage.
func (v *segView) limit() int64 {
	if v.damage != nil && v.damage.validPos < v.size {
		return v.damage.validPos
	}
	return v.size
}

// damagedAt is the error for a read that reached damage at offset.
func (v *segView) damagedAt(offset int64) error {
	d := v.damage
	return fmt.Errorf("%w: offset %d: segment %d is damaged in [%d, %d): %w",
		ErrCorruptSegment, offset, v.s.base, d.validEnd, v.next, d.cause)
}

// snapshotFrom returns referenced views of the segments from the one
// holding offset on. The caller must release each view's segment.
func (l *Log) snapshotFrom(offset int64) ([]segView, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	if offset < l.start || offset > l.end {
		return nil, fmt.Errorf("%w: %d not in [%d, %d]", ErrOffsetOutOfRange, offset, l.start, l.end)
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	if i < 0 {
		i = 0
	}
	views := make([]segView, 0, len(l.segs)-i)
	for _, s := range l.segs[i:] {
		s.acquire()
		views = append(views, segView{s: s, size: s.size, offsets: s.offsets, times: s.times, maxTs: s.maxTs,
			next: s.next, sealed: s.sealed, damage: s.damage})
	}
	return views, nil
}

// Read returns whole batches starting with the one containing offset. It
// stops before maxBytes would be exceeded, but always returns at least the
// first batch even if it is larger (KIP-74), and never returns a batch whose
// last offset is >= maxOffset (the high watermark). An offset below the log
// start or above the log end is ErrOffsetOutOfRange; the log end offset, or
// an offset at or past maxOffset, gives an empty result.
//
// Read never serves bytes of a damaged segment past its valid end and never
// skips over damage: it returns what comes before the damage, and a read
// that starts at damage gets an error wrapping ErrCorruptSegment naming the
// offset. A batch chain that breaks (a gap, or a sealed segment that ends
// before the next one starts) is marked damaged when it is found.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) (*ReadResult, error) {
	views, err := l.snapshotFrom(offset)
	if err != nil {
		return nil, err
	}
	res := &ReadResult{}
	used := make([]bool, len(views))
	defer func() {
		for i, v := range views {
			if !used[i] {
				v.s.release()
			}
		}
	}()
	if offset >= maxOffset {
		return res, nil
	}
	// In a compacted log batches may leave gaps: a read of an offset
	// that was cleaned away gets the next batch, as Kafka serves it.
	gaps := l.gaps.Load()
	keep := func(i int, chunk Chunk) {
		if chunk.Len > 0 {
			res.Chunks = append(res.Chunks, chunk)
			res.segs = append(res.segs, views[i].s)
			used[i] = true
		}
	}
	// fail ends the read at damage found at offset off: what was gathered
	// before it is served, otherwise the error.
	fail := func(i int, chunk Chunk, off int64, err error) (*ReadResult, error) {
		keep(i, chunk)
		l.reportReadDamage(off, err)
		if res.Size > 0 {
			return res, nil
		}
		return nil, err
	}
	for i, v := range views {
		pos := int64(0)
		if i == 0 {
			pos = lookupOffset(v.offsets, v.s.rel(offset))
		}
		want := int64(-1) // base offset the next batch must have, -1 unknown
		if pos == 0 {
			want = v.s.base
		}
		limit := v.limit()
		f, err := v.s.file()
		if err != nil {
			l.reportStorage(err)
			if res.Size > 0 {
				return res, nil
			}
			return nil, fmt.Errorf("read offset %d of %s: %w", offset, l.dir, err)
		}
		hr := newHeaderReader(f, limit)
		chunk := Chunk{File: f, Pos: -1}
		done := false
		for pos < limit {
			h, err := hr.at(pos)
			if err == nil && want >= 0 && !follows(gaps, h.BaseOffset, want) {
				err = fmt.Errorf("%w: batch at %d has base offset %d, want %d", ErrCorruptSegment, pos, h.BaseOffset, want)
			}
			if err != nil {
				at := max(offset, want)
				if v.sealed {
					l.markDamaged(v.s, max(want, v.s.base), pos, err)
				}
				return fail(i, chunk, at, fmt.Errorf("read offset %d of %s: %w", at, l.dir, err))
			}
			want = h.NextOffset()
			size := int64(h.Size())
			if h.LastOffset() < offset {
				pos += size
				continue
			}
			if h.LastOffset() >= maxOffset || (res.Size > 0 && res.Size+size > int64(maxBytes)) {
				done = true
				break
			}
			if res.Size == 0 && chunk.Pos < 0 && h.BaseOffset > offset && !gaps {
				// The batch holding offset is missing.
				err := fmt.Errorf("%w: offset %d missing: the batch at %d starts at %d", ErrCorruptSegment, offset, pos, h.BaseOffset)
				if v.sealed {
					l.markDamaged(v.s, v.s.base, 0, err)
				}
				return fail(i, chunk, offset, fmt.Errorf("read offset %d of %s: %w", offset, l.dir, err))
			}
			if chunk.Pos < 0 {
				chunk.Pos = pos
			}
			chunk.Len += size
			res.Size += size
			pos += size
		}
		if done {
			keep(i, chunk)
			break
		}
		at := max(offset, want)
		if v.damage != nil && v.limit() < v.size {
			return fail(i, chunk, at, v.damagedAt(at))
		}
		if v.damage != nil && at < v.next {
			return fail(i, chunk, at, v.damagedAt(at))
		}
		if v.sealed && want >= 0 && !endsBy(gaps, want, v.next) {
			err := fmt.Errorf("%w: segment ends at offset %d, the next starts at %d", ErrCorruptSegment, want, v.next)
			l.markDamaged(v.s, want, pos, err)
			return fail(i, chunk, at, fmt.Errorf("read offset %d of %s: %w", at, l.dir, err))
		}
		keep(i, chunk)
	}
	return res, nil
}

// readBatch reads the whole batch at pos.
func readBatch(f *os.File, pos int64, h record.Header) ([]byte, error) {
	b := make([]byte, h.Size())
	if _, err := f.ReadAt(b, pos); err != nil {
		return nil, fmt.Errorf("%w: reading batch at %d: %v", ErrCorruptSegment, pos, err)
	}
	return b, nil
}

// OffsetForTimestamp finds the first record at or after the log start
// offset whose timestamp is >= ts, using the time index to skip ahead and
// then the records of the batches. found is false when no record is that
// recent.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, found bool, err error) {
	start := l.StartOffset()
	views, err := l.snapshotFrom(start)
	if err != nil {
		return 0, 0, false, err
	}
	defer func() {
		for _, v := range views {
			v.s.release()
		}
	}()
	for i, v := range views {
		if v.size == 0 || v.maxTs < ts {
			continue
		}
		pos := int64(0)
		if rel, ok := lookupTime(v.times, ts); ok {
			pos = lookupOffset(v.offsets, rel)
		}
		if i == 0 && start > v.s.base {
			if p := lookupOffset(v.offsets, v.s.rel(start)); p > pos {
				pos = p
			}
		}
		limit := v.limit()
		f, err := v.s.file()
		if err != nil {
			l.reportStorage(err)
			return 0, 0, false, fmt.Errorf("offset for timestamp %d in %s: %w", ts, l.dir, err)
		}
		hr := newHeaderReader(f, limit)
		for pos < limit {
			h, err := hr.at(pos)
			if err != nil {
				return 0, 0, false, fmt.Errorf("offset for timestamp %d in %s: %w", ts, l.dir, err)
			}
			if h.MaxTimestamp >= ts && h.LastOffset() >= start {
				b, err := readBatch(f, pos, h)
				if err != nil {
					return 0, 0, false, err
				}
				err = record.ForEachRecord(b, func(r record.Record) bool {
					o, t := h.BaseOffset+int64(r.OffsetDelta), h.RecordTimestamp(r)
					if o >= start && t >= ts {
						offset, timestamp, found = o, t, true
						return false
					}
					return true
				})
				if err != nil {
					return 0, 0, false, fmt.Errorf("%w: batch at %d: %v", ErrCorruptSegment, pos, err)
				}
				if found {
					return offset, timestamp, true, nil
				}
			}
			pos += int64(h.Size())
		}
		if v.damage != nil {
			// The answer may lie in the damaged range: do not skip it.
			err := v.damagedAt(v.damage.validEnd)
			l.reportReadDamage(v.damage.validEnd, err)
			return 0, 0, false, fmt.Errorf("offset for timestamp %d in %s: %w", ts, l.dir, err)
		}
	}
	return -1, -1, false, nil
}

// MaxTimestamp returns the largest timestamp in the log and the offset of
// the first record carrying it (ListOffsets MAX_TIMESTAMP), or (-1, -1) for
// an empty log.
func (l *Log) MaxTimestamp() (ts, offset int64) {
	l.mu.RLock()
	var best *segment
	for _, s := range l.segs {
		if s.size > 0 && s.maxTsOffset >= l.start && (best == nil || s.maxTs > best.maxTs) {
			best = s
		}
	}
	if best == nil {
		l.mu.RUnlock()
		return -1, -1
	}
	ts, batchOff := best.maxTs, best.maxTsOffset
	best.acquire()
	offsets, size := best.offsets, best.size
	l.mu.RUnlock()
	defer best.release()

	// Resolve the exact record within the batch; fall back to the batch's
	// base offset if the segment cannot be read.
	pos := lookupOffset(offsets, best.rel(batchOff))
	f, err := best.file()
	if err != nil {
		l.reportStorage(err)
		return ts, batchOff
	}
	hr := newHeaderReader(f, size)
	for pos < size {
		h, err := hr.at(pos)
		if err != nil {
			break
		}
		if h.BaseOffset == batchOff {
			b, err := readBatch(f, pos, h)
			if err != nil {
				break
			}
			off := batchOff
			_ = record.ForEachRecord(b, func(r record.Record) bool {
				if h.RecordTimestamp(r) == ts {
					off = h.BaseOffset + int64(r.OffsetDelta)
					return false
				}
				return true
			})
			return ts, off
		}
		pos += int64(h.Size())
	}
	return ts, batchOff
}
