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
	"sync"
	"sync/atomic"

	"github.com/stratalog/strata/record"
)

// segment is one .log file with its two indexes. Fields after the comment
// are guarded by Log.mu (written by the appender holding it exclusively);
// the files themselves are written only by the appender.
//
// File descriptors. The active segment keeps its three files open. A
// sealed segment whose files are durable (settled) closes its index files
// (its indexes live in offsets and times) and opens its .log lazily
// (file); the log's fileCache closes the .log again when it has not been
// used for a while and no reader holds a reference. The pointers log,
// index and timeIdx are guarded by fmu once the segment is published; the
// appender reads the active segment's without it (they never change while
// it is active).
type segment struct {
	base     int64
	dir      string
	fmu      sync.Mutex
	log      *os.File
	index    *os.File
	timeIdx  *os.File
	settled  bool         // guarded by fmu: sealed and durable, files may be closed
	gone     bool         // guarded by fmu: the Log let go of it: never reopen by path
	cache    *fileCache   // the owning log's open-file bound, nil if none
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
	sealTick    int64   // the RollInterval instant it was rolled at, 0 if none
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
	s.fmu.Lock()
	for _, f := range []*os.File{s.log, s.index, s.timeIdx} {
		if f != nil {
			f.Close()
		}
	}
	s.log, s.index, s.timeIdx = nil, nil, nil
	s.gone = true
	s.fmu.Unlock()
	s.cache.forget(s)
}

func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference; the last one closes the files. A release that
// leaves only the Log's reference lets the file cache close the .log of a
// settled segment it does not keep, and idle ones over its bound.
func (s *segment) release() {
	switch s.refs.Add(-1) {
	case 0:
		s.closeFiles()
	case 1:
		s.cache.idle(s)
	}
}

// file returns the segment's .log, opening it if it is closed. The caller
// must hold a reference for as long as it uses the file. A segment the Log
// has let go of (removed, replaced) is never reopened by path: its name
// may now belong to another file. Open errors are classified (EMFILE wraps
// ErrStorage).
func (s *segment) file() (*os.File, error) {
	s.fmu.Lock()
	f := s.log
	if f == nil {
		if s.gone {
			s.fmu.Unlock()
			return nil, fmt.Errorf("%w: segment %d: %s was removed", ErrClosed, s.base, s.path(logSuffix))
		}
		var err error
		if f, err = os.OpenFile(s.path(logSuffix), os.O_RDWR, 0); err != nil {
			s.fmu.Unlock()
			return nil, classify("open segment", s.path(logSuffix), err)
		}
		s.log = f
	}
	settled := s.settled
	s.fmu.Unlock()
	if settled {
		s.cache.touch(s)
	}
	return f, nil
}

// files returns the segment's open files (nil for closed ones).
func (s *segment) files() []*os.File {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return []*os.File{s.log, s.index, s.timeIdx}
}

// settle is called once a sealed segment's files are durable: its index
// files are closed (open them by path to rewrite them), and so is its .log
// unless a reader holds it (then its last release closes it). Reads open
// the .log again through file.
func (s *segment) settle() {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.gone {
		return
	}
	for _, f := range []*os.File{s.index, s.timeIdx} {
		if f != nil {
			f.Close()
		}
	}
	s.index, s.timeIdx = nil, nil
	s.settled = true
	if s.log != nil && s.refs.Load() == 1 {
		s.log.Close()
		s.log = nil
	}
}

// closeIdle closes the .log of a settled segment no reader references,
// reporting whether it is closed now.
func (s *segment) closeIdle() bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.log == nil {
		return true
	}
	if !s.settled || s.gone || s.refs.Load() != 1 {
		return false
	}
	s.log.Close()
	s.log = nil
	return true
}

// hold keeps the segment's .log open until the last release and stops it
// from being reopened by path: for a segment that is about to be unlinked
// or replaced while readers may hold references. With readersOnly it opens
// a closed file only if a reader holds a reference.
func (s *segment) hold(readersOnly bool) error {
	s.fmu.Lock()
	var err error
	if s.log == nil && !s.gone && (!readersOnly || s.refs.Load() > 1) {
		if s.log, err = os.OpenFile(s.path(logSuffix), os.O_RDWR, 0); err != nil {
			s.log = nil
			err = classify("open segment", s.path(logSuffix), err)
		}
	}
	s.gone = true
	s.fmu.Unlock()
	s.cache.forget(s)
	return err
}

// openIndexes opens a settled segment's index files again, for a rewrite;
// settle closes them.
func (s *segment) openIndexes() error {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	var err error
	if s.index == nil {
		if s.index, err = os.OpenFile(s.path(indexSuffix), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
			s.index = nil
			return classify("open index", s.path(indexSuffix), err)
		}
	}
	if s.timeIdx == nil {
		if s.timeIdx, err = os.OpenFile(s.path(timeIndexSuffix), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
			s.timeIdx = nil
			return classify("open index", s.path(timeIndexSuffix), err)
		}
	}
	return nil
}

// openFiles counts the segment's open files.
func (s *segment) openFiles() int {
	n := 0
	for _, f := range s.files() {
		if f != nil {
			n++
		}
	}
	return n
}

// remove unlinks the segment's files and drops the Log's reference. Readers
// holding references keep reading through their open descriptors (a
// closed .log is opened first if a reader holds a reference).
func (s *segment) remove() error {
	_ = s.hold(true) // a reader that cannot get the file fails its read
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
func scanSegment(s *segment, interval int, verify, gaps bool) scanResult {
	return scanSegmentAt(s, scanSpec{size: s.size, interval: interval, verify: verify, gaps: gaps}, newScanResult(s))
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
	gaps     bool      // base offsets need only increase (a compacted log)
	src      io.Reader // with verify: the bytes from `from` on (nil: the file)
	file     *os.File  // the segment file (nil: s.log, for a segment the caller has open)
	// onBatch, if set, sees every good batch and may reject it.
	onBatch func(pos int64, h record.Header) error
}

// scanSegmentAt scans s as sp says, continuing the state in res.
func scanSegmentAt(s *segment, sp scanSpec, res scanResult) scanResult {
	f := sp.file
	if f == nil {
		f = s.log
	}
	src := sp.src
	if src == nil {
		src = io.NewSectionReader(f, sp.from, sp.size-sp.from)
	}
	br := bufio.NewReaderSize(src, 1<<20)
	hr := newHeaderReader(f, sp.size)
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
		if err == nil && (!follows(sp.gaps, h.BaseOffset, res.next) || h.LastOffsetDelta < 0) {
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
	if err := s.openIndexes(); err != nil {
		return true, err
	}
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

// drop lets go of the Log's reference for good (log closed, segment
// replaced or recovered): readers keep their files until they release.
func (s *segment) drop() {
	_ = s.hold(true)
	s.release()
}
