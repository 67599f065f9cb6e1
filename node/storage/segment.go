package storage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/stratalog/strata/node/record"
)

// segment is one .log file with its two indexes. Fields after the comment
// are guarded by Log.mu (written by the appender holding it exclusively);
// the files themselves are written only by the appender.
type segment struct {
	base     int64
	dir      string
	log      *os.File
	index    *os.File
	timeIdx  *os.File
	refs     atomic.Int32 // the Log's own reference plus one per reader
	unlinked atomic.Bool  // files removed: close them at the last release

	// Guarded by Log.mu.
	size        int64
	next        int64 // offset after the last batch
	maxTs       int64 // largest batch max timestamp, -1 when none
	maxTsOffset int64 // base offset of the batch holding maxTs
	offsets     []offsetEntry
	times       []timeEntry
	sealed      bool
	firstAppend int64   // unix ms the first batch arrived, for SegmentMs
	damage      *damage // nil while the segment is believed good
	unverified  bool    // sealed, opened after an unclean stop, CRCs not yet checked
	idxMissing  bool    // an index file did not exist at open: rebuild it

	// Appender only.
	sinceIndex int64 // bytes appended since the last offset-index entry
}

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentName(s.base)+suffix)
}

// openSegment opens (creating if asked) the three files of a segment.
func openSegment(dir string, base int64, create bool) (*segment, error) {
	s := &segment{base: base, dir: dir, next: base, maxTs: -1, maxTsOffset: -1, firstAppend: -1}
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE | os.O_EXCL
	}
	var err error
	if s.log, err = os.OpenFile(s.path(logSuffix), flags, 0o644); err != nil {
		return nil, err
	}
	// Index files are rewritten on rebuild, so they may exist already; one
	// that does not is noted so that it is rebuilt, not trusted empty.
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		if _, err := os.Stat(s.path(suf)); os.IsNotExist(err) && !create {
			s.idxMissing = true
		}
	}
	if s.index, err = os.OpenFile(s.path(indexSuffix), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		s.log.Close()
		return nil, err
	}
	if s.timeIdx, err = os.OpenFile(s.path(timeIndexSuffix), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		s.log.Close()
		s.index.Close()
		return nil, err
	}
	st, err := s.log.Stat()
	if err != nil {
		s.closeFiles()
		return nil, err
	}
	s.size = st.Size()
	s.refs.Store(1)
	return s, nil
}

func (s *segment) closeFiles() {
	s.log.Close()
	s.index.Close()
	s.timeIdx.Close()
}

func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference; the last one closes the files.
func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.closeFiles()
	}
}

// remove unlinks the segment's files and drops the Log's reference. Readers
// holding references keep reading through their open descriptors.
func (s *segment) remove() error {
	s.unlinked.Store(true)
	var errs []error
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix, damagedSuffix} {
		if err := os.Remove(s.path(suf)); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	s.release()
	return errors.Join(errs...)
}

// rel converts an absolute offset to one relative to the segment base.
func (s *segment) rel(off int64) uint32 { return uint32(off - s.base) }

// headerReader reads batch headers at arbitrary positions of a segment file
// through a small read-ahead buffer, so scanning many small batches costs
// few system calls and scanning big ones reads only their headers.
type headerReader struct {
	f      *os.File
	end    int64 // bytes of the file that may be read
	buf    []byte
	bufPos int64
	bufLen int
}

func newHeaderReader(f *os.File, end int64) *headerReader {
	return &headerReader{f: f, end: end, buf: make([]byte, 16<<10), bufPos: -1}
}

// at returns the header of the batch at pos and checks it ends by end.
func (r *headerReader) at(pos int64) (record.Header, error) {
	if pos+record.HeaderSize > r.end {
		return record.Header{}, fmt.Errorf("%w: batch header at %d past end %d", ErrCorruptSegment, pos, r.end)
	}
	if r.bufPos < 0 || pos < r.bufPos || pos+record.HeaderSize > r.bufPos+int64(r.bufLen) {
		n := int64(len(r.buf))
		if r.end-pos < n {
			n = r.end - pos
		}
		m, err := r.f.ReadAt(r.buf[:n], pos)
		if int64(m) < record.HeaderSize {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return record.Header{}, fmt.Errorf("%w: reading header at %d: %v", ErrCorruptSegment, pos, err)
		}
		r.bufPos, r.bufLen = pos, m
	}
	h, err := record.ParseHeader(r.buf[pos-r.bufPos:])
	if err != nil {
		return h, fmt.Errorf("%w: at %d: %v", ErrCorruptSegment, pos, err)
	}
	if pos+int64(h.Size()) > r.end {
		return h, fmt.Errorf("%w: batch at %d of %d bytes past end %d", ErrCorruptSegment, pos, h.Size(), r.end)
	}
	return h, nil
}

// scanResult is what a scan of a segment learned.
type scanResult struct {
	validEnd    int64 // position after the last good batch
	next        int64
	maxTs       int64
	maxTsOffset int64
	firstTs     int64 // max timestamp of the first batch, -1 if none
	offsets     []offsetEntry
	times       []timeEntry
	sinceIndex  int64
	err         error // why the scan stopped before the end, nil if it did not
}

// scanSegment walks the batches of s from position 0 and rebuilds its
// indexes as the appender would have written them. With verify, each batch
// is read whole and its CRC checked, and base offsets must be contiguous
// from s.base; the scan stops at the first batch that fails (a torn or
// corrupt tail) and reports it in err. Without verify only the headers are
// read, but their chain must still be contiguous from s.base.
func scanSegment(s *segment, interval int, verify bool) scanResult {
	return scanSegmentAt(s, scanSpec{size: s.size, interval: interval, verify: verify}, newScanResult(s))
}

func newScanResult(s *segment) scanResult {
	return scanResult{next: s.base, maxTs: -1, maxTsOffset: -1, firstTs: -1}
}

// scanSpec says how to scan a segment.
type scanSpec struct {
	size     int64 // bytes of the file to scan
	from     int64 // position of the first batch; res.next is its base offset
	interval int
	verify   bool
	src      io.Reader // with verify: the bytes from `from` on (nil: the file)
	// onBatch, if set, sees every good batch and may reject it.
	onBatch func(pos int64, h record.Header) error
}

// scanSegmentAt scans s as sp says, continuing the state in res.
func scanSegmentAt(s *segment, sp scanSpec, res scanResult) scanResult {
	src := sp.src
	if src == nil {
		src = io.NewSectionReader(s.log, sp.from, sp.size-sp.from)
	}
	br := bufio.NewReaderSize(src, 1<<20)
	hr := newHeaderReader(s.log, sp.size)
	var hdr [record.HeaderSize]byte
	var body []byte
	pos := sp.from
	for pos < sp.size {
		var h record.Header
		var err error
		if sp.verify {
			if _, err = io.ReadFull(br, hdr[:]); err != nil {
				err = fmt.Errorf("header at %d: %w", pos, err)
			}
			if err == nil {
				if h, err = record.ParseHeader(hdr[:]); err == nil && pos+int64(h.Size()) > sp.size {
					err = fmt.Errorf("batch of %d bytes at %d runs past the file end %d", h.Size(), pos, sp.size)
				}
			}
			if err == nil {
				body = append(body[:0], hdr[:]...)
				body = append(body, make([]byte, h.Size()-record.HeaderSize)...)
				if _, err = io.ReadFull(br, body[record.HeaderSize:]); err == nil {
					err = record.CheckCRC(body, h)
				}
			}
		} else {
			h, err = hr.at(pos)
		}
		if err == nil && (h.BaseOffset != res.next || h.LastOffsetDelta < 0) {
			err = fmt.Errorf("batch at %d has base offset %d, want %d", pos, h.BaseOffset, res.next)
		}
		if err == nil && sp.onBatch != nil {
			err = sp.onBatch(pos, h)
		}
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				res.err = err
			} else if errors.Is(err, ErrCorruptSegment) {
				res.err = err
			} else {
				res.err = fmt.Errorf("%w: %w", ErrCorruptSegment, err)
			}
			break
		}
		res.addBatch(s, pos, h, sp.interval)
		pos += int64(h.Size())
	}
	res.validEnd = pos
	return res
}

// addBatch applies the appender's index policy for one batch at pos.
func (res *scanResult) addBatch(s *segment, pos int64, h record.Header, interval int) {
	if res.firstTs < 0 {
		res.firstTs = h.MaxTimestamp
	}
	if h.MaxTimestamp > res.maxTs || res.maxTsOffset < 0 {
		res.maxTs, res.maxTsOffset = h.MaxTimestamp, h.BaseOffset
	}
	if pos > 0 && res.sinceIndex >= int64(interval) {
		res.offsets = append(res.offsets, offsetEntry{rel: s.rel(h.BaseOffset), pos: uint32(pos)})
		if len(res.times) == 0 || res.maxTs > res.times[len(res.times)-1].ts {
			res.times = append(res.times, timeEntry{ts: res.maxTs, rel: s.rel(res.maxTsOffset)})
		}
		res.sinceIndex = 0
	}
	res.sinceIndex += int64(h.Size())
	res.next = h.NextOffset()
}

// writeIndexes replaces both index files with the given entries. It
// reports whether either file changed: one that already holds exactly those
// entries is left alone (no write to sync).
func (s *segment) writeIndexes(offsets []offsetEntry, times []timeEntry) (changed bool, err error) {
	var b []byte
	for _, e := range offsets {
		b = appendOffsetEntry(b, e)
	}
	c1, err := rewriteIfChanged(s.index, b)
	if err != nil {
		return true, err
	}
	b = b[:0]
	for _, e := range times {
		b = appendTimeEntry(b, e)
	}
	c2, err := rewriteIfChanged(s.timeIdx, b)
	return c1 || c2, err
}

func rewriteIfChanged(f *os.File, b []byte) (bool, error) {
	if st, err := f.Stat(); err == nil && st.Size() == int64(len(b)) {
		cur := make([]byte, len(b))
		if _, err := f.ReadAt(cur, 0); (err == nil || err == io.EOF) && bytes.Equal(cur, b) {
			return false, nil
		}
	}
	return true, rewrite(f, b)
}

func rewrite(f *os.File, b []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt(b, 0)
	return err
}

// sealTimeIndex appends the segment's final max timestamp to its time
// index if the last entry does not carry it, so a sealed segment's max
// timestamp is the last time-index entry.
func (s *segment) sealTimeIndex() (timeEntry, bool) {
	if s.maxTs < 0 && s.size == 0 {
		return timeEntry{}, false
	}
	if n := len(s.times); n > 0 && s.times[n-1].ts >= s.maxTs {
		return timeEntry{}, false
	}
	return timeEntry{ts: s.maxTs, rel: s.rel(s.maxTsOffset)}, true
}
