package record

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
)

// Record is one record of a batch. Key and Value are nil when their length
// is -1 (null). The slices are fresh copies the caller may keep.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key, Value     []byte
	Headers        []RecordHeader
}

// RecordHeader is one header of a record. Value is nil when null.
type RecordHeader struct {
	Key   []byte
	Value []byte
}

// ForEachRecord calls fn for each record of the whole batch at the start of
// batch, decompressing it first if needed, until fn returns false. It checks
// the records' structure (lengths, varints, count) as it goes but not the
// CRC, which CheckCRC covers.
func ForEachRecord(batch []byte, fn func(r Record) bool) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.Size() > len(batch) {
		return fmt.Errorf("%w: batch of %d bytes truncated to %d", ErrCorrupt, h.Size(), len(batch))
	}
	return walkRecords(h, batch[HeaderSize:h.Size()], walkOpts{keep: true}, func(r Record) bool { return fn(r) })
}

// walkOpts says what walkRecords checks and keeps.
type walkOpts struct {
	keep, strict, needKey bool
	keysOnly              bool // copy keys only; Record.Value is nil, nullValue says whether it was null
	onKey                 func(offsetDelta int32, key []byte, nullValue bool) bool
}

// ForEachKey calls fn with the offset delta, the key (a fresh copy, nil
// when null) and whether the value is null for each record of the whole
// batch at the start of batch, until fn returns false. It decodes as
// ForEachRecord does but copies no value or header: what the log cleaner
// needs to decide.
func ForEachKey(batch []byte, fn func(offsetDelta int32, key []byte, nullValue bool) bool) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.Size() > len(batch) {
		return fmt.Errorf("%w: batch of %d bytes truncated to %d", ErrCorrupt, h.Size(), len(batch))
	}
	return walkRecords(h, batch[HeaderSize:h.Size()], walkOpts{keysOnly: true, onKey: fn}, nil)
}

var bufioPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}

// walkRecords reads h.NumRecords records from body (the batch's bytes after
// the header), checks each record's framing and that nothing follows the
// last record. With strict (a producer's batch) offset deltas must run
// 0,1,2,...; otherwise (a stored batch, which compaction may have thinned)
// they must increase and stay within the batch's lastOffsetDelta. With
// needKey a record with a null key is refused (ErrNoKey). With keep it
// copies keys, values and headers into the Record passed to visit;
// otherwise it skips them and visit sees only the scalar fields.
func walkRecords(h Header, body []byte, o walkOpts, visit func(Record) bool) error {
	if h.NumRecords < 0 {
		return fmt.Errorf("%w: record count %d", ErrCorrupt, h.NumRecords)
	}
	codec := h.Codec()
	if codec > CodecZstd {
		return fmt.Errorf("%w: %v", ErrUnsupportedCodec, codec)
	}
	// Every record takes at least 7 bytes even compressed away, so a
	// claimed count the cap cannot hold is refused before decompressing.
	if int64(h.NumRecords) > MaxUncompressedBytes/7 {
		return fmt.Errorf("%w: record count %d", ErrTooLarge, h.NumRecords)
	}
	d, err := newDecompressor(codec, body)
	if err != nil {
		return err
	}
	defer d.release()
	br := bufioPool.Get().(*bufio.Reader)
	br.Reset(&cappedReader{r: d.Reader, n: MaxUncompressedBytes})
	defer func() { br.Reset(nil); bufioPool.Put(br) }()
	rr := recordReader{br: br, keep: o.keep && !o.keysOnly, keysOnly: o.keysOnly}
	prev := int32(-1)
	for i := int32(0); i < h.NumRecords; i++ {
		r, err := rr.next()
		if err != nil {
			return fmt.Errorf("record %d of %d: %w", i, h.NumRecords, err)
		}
		if o.needKey && rr.nullKey {
			return fmt.Errorf("%w: record %d", ErrNoKey, i)
		}
		if o.strict && r.OffsetDelta != i || r.OffsetDelta <= prev || r.OffsetDelta > h.LastOffsetDelta {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, i, r.OffsetDelta)
		}
		prev = r.OffsetDelta
		if o.onKey != nil {
			if !o.onKey(r.OffsetDelta, r.Key, rr.nullVal) {
				return nil
			}
			continue
		}
		if visit != nil && !visit(r) {
			return nil
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		if err != nil {
			return corruptEOF(err)
		}
		return fmt.Errorf("%w: bytes follow the %d records the batch declares", ErrInvalidRecord, h.NumRecords)
	}
	return nil
}

// corruptEOF turns a premature end of input into ErrCorrupt and passes the
// package's own errors through.
func corruptEOF(err error) error {
	if isOurs(err) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: records truncated", ErrCorrupt)
	}
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}

// recordReader decodes records from a stream, tracking how many bytes of the
// current record remain so no field can run past its record.
type recordReader struct {
	br       *bufio.Reader
	keep     bool
	keysOnly bool  // keep the key only (and note whether the value is null)
	nullVal  bool  // the last record read has a null value
	left     int64 // bytes of the current record not yet consumed
	nullKey  bool  // the last record read has a null key
	lastNull bool  // the last bytes field read was null
}

func (rr *recordReader) next() (Record, error) {
	length, err := binary.ReadVarint(rr.br)
	if err == io.EOF {
		return Record{}, fmt.Errorf("%w: fewer records than the batch declares", ErrInvalidRecord)
	}
	if err != nil {
		return Record{}, corruptEOF(err)
	}
	if length < 0 || length > math.MaxInt32 {
		return Record{}, fmt.Errorf("%w: record length %d", ErrCorrupt, length)
	}
	rr.left = length
	var r Record
	a, err := rr.byte()
	if err != nil {
		return r, err
	}
	r.Attributes = int8(a)
	if r.TimestampDelta, err = rr.varint(math.MinInt64, math.MaxInt64); err != nil {
		return r, err
	}
	od, err := rr.varint(math.MinInt32, math.MaxInt32)
	if err != nil {
		return r, err
	}
	r.OffsetDelta = int32(od)
	if rr.keysOnly {
		rr.keep = true
	}
	if r.Key, err = rr.bytes(true); err != nil {
		return r, err
	}
	if rr.keysOnly {
		rr.keep = false
	}
	rr.nullKey = rr.lastNull
	if r.Value, err = rr.bytes(true); err != nil {
		return r, err
	}
	rr.nullVal = rr.lastNull
	nh, err := rr.varint(0, math.MaxInt32)
	if err != nil {
		return r, err
	}
	for j := int64(0); j < nh; j++ {
		k, err := rr.bytes(false)
		if err != nil {
			return r, err
		}
		v, err := rr.bytes(true)
		if err != nil {
			return r, err
		}
		if rr.keep {
			r.Headers = append(r.Headers, RecordHeader{Key: k, Value: v})
		}
	}
	if rr.left != 0 {
		return r, fmt.Errorf("%w: record has %d bytes beyond its fields", ErrCorrupt, rr.left)
	}
	return r, nil
}

func (rr *recordReader) byte() (byte, error) {
	if rr.left < 1 {
		return 0, fmt.Errorf("%w: record fields overrun its length", ErrCorrupt)
	}
	b, err := rr.br.ReadByte()
	if err != nil {
		return 0, corruptEOF(err)
	}
	rr.left--
	return b, nil
}

// varint reads a zig-zag varint that must lie in [min, max] and within the
// current record.
func (rr *recordReader) varint(min, max int64) (int64, error) {
	var ux uint64
	var s uint
	for i := 0; ; i++ {
		if i == binary.MaxVarintLen64 {
			return 0, fmt.Errorf("%w: varint overflow", ErrCorrupt)
		}
		b, err := rr.byte()
		if err != nil {
			return 0, err
		}
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, fmt.Errorf("%w: varint overflow", ErrCorrupt)
			}
			ux |= uint64(b) << s
			break
		}
		ux |= uint64(b&0x7f) << s
		s += 7
	}
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	if x < min || x > max {
		return 0, fmt.Errorf("%w: varint %d out of range", ErrCorrupt, x)
	}
	return x, nil
}

// bytes reads a varint length and that many bytes; -1 means null when
// nullable. Without keep the bytes are skipped and nil returned.
func (rr *recordReader) bytes(nullable bool) ([]byte, error) {
	min := int64(0)
	if nullable {
		min = -1
	}
	n, err := rr.varint(min, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	rr.lastNull = n < 0
	if n < 0 {
		return nil, nil
	}
	if n > rr.left {
		return nil, fmt.Errorf("%w: field of %d bytes overruns its record", ErrCorrupt, n)
	}
	rr.left -= n
	if !rr.keep {
		if _, err := rr.br.Discard(int(n)); err != nil {
			return nil, corruptEOF(err)
		}
		return nil, nil
	}
	// n is bounded by the record length but not yet by the bytes that
	// exist, so read in a way that grows only with real input.
	out := make([]byte, 0, min64(n, 64<<10))
	for int64(len(out)) < n {
		chunk := min64(n-int64(len(out)), 64<<10)
		start := len(out)
		out = append(out, make([]byte, chunk)...)
		if _, err := io.ReadFull(rr.br, out[start:]); err != nil {
			return nil, corruptEOF(err)
		}
	}
	return out, nil
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}
