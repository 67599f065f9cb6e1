package tiering

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/stratalog/strata/record"
)

// ErrCorruptLocal: a local segment failed verification on its way to the
// store (bad length, magic, CRC-32C, a gap or overlap in its offsets, or
// bytes missing): it is not uploaded.
var ErrCorruptLocal = errors.New("local segment failed verification")

// castagnoli is the CRC-32C table (hardware-accelerated by hash/crc32 on
// amd64 and arm64); record batches and manifest checksums both use it.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcAttrOffset is where a batch's CRC-32C coverage starts (the attributes
// field); the base offset, length, leader epoch, magic and CRC before it are
// checked separately.
const crcAttrOffset = 21

// batchVerifier checks a stream of record batches as it passes through,
// without buffering batches: every batch's length, magic and CRC-32C, and
// that offsets run contiguously from base to next with no bytes left over.
// It is the one pass that both verifies a segment and streams it (the
// upload body, a heal's download), so verification costs a CRC update per
// byte and no second read.
type batchVerifier struct {
	r    io.Reader
	next int64 // offset the stream must end at
	size int64 // bytes the stream must hold

	pos    int64 // bytes passed
	expect int64 // base offset of the next batch
	hdr    [record.HeaderSize]byte
	hdrN   int
	left   int64 // body bytes of the current batch still to come
	crc    uint32
	want   uint32
	batch  int64 // position of the current batch
	err    error
	// gaps: the log is compacted, so base offsets need only increase and
	// the last batch may end before next.
	gaps bool
}

// newBatchVerifier verifies that r holds exactly size bytes of batches
// covering the offsets [base, next) (with gaps, within them).
func newBatchVerifier(r io.Reader, base, next, size int64, gaps bool) *batchVerifier {
	return &batchVerifier{r: r, expect: base, next: next, size: size, gaps: gaps}
}

func (v *batchVerifier) fail(format string, args ...any) error {
	v.err = fmt.Errorf("%w: %s", ErrCorruptLocal, fmt.Sprintf(format, args...))
	return v.err
}

// Read passes bytes through once they are checked; the first bad byte
// ends the stream with an error wrapping ErrCorruptLocal, so a store Put
// reading it fails and commits nothing.
func (v *batchVerifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	if n > 0 {
		if cerr := v.check(p[:n]); cerr != nil {
			return 0, cerr
		}
	}
	if err == io.EOF {
		if ferr := v.finish(); ferr != nil {
			return 0, ferr
		}
	}
	return n, err
}

// check feeds b through the batch parser.
func (v *batchVerifier) check(b []byte) error {
	if v.pos+int64(len(b)) > v.size {
		return v.fail("more than the %d bytes of the segment", v.size)
	}
	for len(b) > 0 {
		if v.hdrN < record.HeaderSize {
			k := copy(v.hdr[v.hdrN:], b)
			v.hdrN += k
			v.pos += int64(k)
			b = b[k:]
			if v.hdrN < record.HeaderSize {
				return nil
			}
			if err := v.header(); err != nil {
				return err
			}
			continue
		}
		k := min(int64(len(b)), v.left)
		v.crc = crc32.Update(v.crc, castagnoli, b[:k])
		v.left -= k
		v.pos += k
		b = b[k:]
		if v.left == 0 {
			if err := v.endBatch(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *batchVerifier) header() error {
	v.batch = v.pos - record.HeaderSize
	h, err := record.ParseHeader(v.hdr[:])
	if err != nil {
		return v.fail("batch at byte %d: %v", v.batch, err)
	}
	if h.BaseOffset < v.expect || !v.gaps && h.BaseOffset != v.expect {
		return v.fail("batch at byte %d has base offset %d, want %d", v.batch, h.BaseOffset, v.expect)
	}
	if h.LastOffsetDelta < 0 || h.NextOffset() > v.next {
		return v.fail("batch at byte %d covers [%d, %d), past the segment's next offset %d", v.batch, h.BaseOffset, h.NextOffset(), v.next)
	}
	if v.batch+int64(h.Size()) > v.size {
		return v.fail("batch at byte %d of %d bytes runs past the segment's %d bytes", v.batch, h.Size(), v.size)
	}
	v.expect = h.NextOffset()
	v.want = h.CRC
	v.crc = crc32.Update(0, castagnoli, v.hdr[crcAttrOffset:])
	v.left = int64(h.Size()) - record.HeaderSize
	if v.left == 0 {
		return v.endBatch()
	}
	return nil
}

func (v *batchVerifier) endBatch() error {
	if v.crc != v.want {
		return v.fail("batch at byte %d: crc %08x, batch says %08x", v.batch, v.crc, v.want)
	}
	v.hdrN = 0
	return nil
}

// finish checks the stream ended where the segment does.
func (v *batchVerifier) finish() error {
	switch {
	case v.hdrN != 0 || v.left != 0:
		return v.fail("stream ends inside the batch at byte %d", v.batch)
	case v.pos != v.size:
		return v.fail("%d bytes, want %d", v.pos, v.size)
	case v.expect > v.next || !v.gaps && v.expect != v.next:
		return v.fail("batches end at offset %d, want %d", v.expect, v.next)
	}
	return nil
}

// verifyBatches checks a whole in-memory range of batches (a heal's
// download, a legacy remote range) the same way.
func verifyBatches(b []byte, base, next int64, gaps bool) error {
	v := newBatchVerifier(nil, base, next, int64(len(b)), gaps)
	if err := v.check(b); err != nil {
		return err
	}
	return v.finish()
}

// Checksums are the CRC-32C values an upload records in its manifest entry:
// one per part of the data object and one per ChunkBytes range of the whole
// object, the unit a cold read fills its cache in, so a chunk fill verifies
// with one CRC update per byte as it copies.
type Checksums struct {
	Log        uint32   `json:"log"`
	Index      uint32   `json:"index"`
	TimeIndex  uint32   `json:"time_index"`
	Snapshot   uint32   `json:"snapshot"`
	ChunkBytes int64    `json:"chunk_bytes"`
	Chunks     []uint32 `json:"chunks"`
}

// summer computes Checksums of a data object as it streams past: parts
// are the byte sizes of log, index, time index and snapshot.
type summer struct {
	r      io.Reader
	parts  [4]int64
	chunk  int64
	pos    int64
	sums   Checksums
	partC  [4]uint32
	chunkC uint32
}

func newSummer(r io.Reader, parts [4]int64, chunkBytes int64) *summer {
	return &summer{r: r, parts: parts, chunk: chunkBytes, sums: Checksums{ChunkBytes: chunkBytes}}
}

func (s *summer) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.add(p[:n])
	return n, err
}

func (s *summer) add(b []byte) {
	for len(b) > 0 {
		// The part and chunk the next byte belongs to, and how far both last.
		part, end := 0, int64(0)
		for part = 0; part < 4; part++ {
			end += s.parts[part]
			if s.pos < end {
				break
			}
		}
		k := int64(len(b))
		if part < 4 {
			k = min(k, end-s.pos)
		}
		chunkEnd := (s.pos/s.chunk + 1) * s.chunk
		k = min(k, chunkEnd-s.pos)
		if part < 4 {
			s.partC[part] = crc32.Update(s.partC[part], castagnoli, b[:k])
		}
		s.chunkC = crc32.Update(s.chunkC, castagnoli, b[:k])
		s.pos += k
		b = b[k:]
		if s.pos == chunkEnd {
			s.sums.Chunks = append(s.sums.Chunks, s.chunkC)
			s.chunkC = 0
		}
	}
}

// result returns the checksums once the whole object has passed.
func (s *summer) result() *Checksums {
	out := s.sums
	out.Chunks = append([]uint32(nil), s.sums.Chunks...)
	if s.pos%s.chunk != 0 {
		out.Chunks = append(out.Chunks, s.chunkC)
	}
	out.Log, out.Index, out.TimeIndex, out.Snapshot = s.partC[0], s.partC[1], s.partC[2], s.partC[3]
	return &out
}

// chunkSums returns the expected CRC-32C of the object range [off, off+n)
// when the checksums cover it exactly (the reader's chunk size is a
// multiple of the uploader's); ok is false otherwise.
func (c *Checksums) chunkSums(off, n, objSize int64) (sums []uint32, step int64, ok bool) {
	if c == nil || c.ChunkBytes <= 0 || off%c.ChunkBytes != 0 {
		return nil, 0, false
	}
	first := off / c.ChunkBytes
	last := (off + n + c.ChunkBytes - 1) / c.ChunkBytes
	if last > int64(len(c.Chunks)) {
		return nil, 0, false
	}
	if (off+n)%c.ChunkBytes != 0 && off+n != objSize {
		return nil, 0, false // ends inside an uploader chunk that is not the last
	}
	return c.Chunks[first:last], c.ChunkBytes, true
}
