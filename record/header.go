package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a v2 batch header, up to and including the
// record count; the records follow it.
const HeaderSize = 61

// Byte positions of the header fields.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// lengthOverhead is the part of a batch the batchLength field does
	// not count: baseOffset and batchLength themselves.
	lengthOverhead = 12
	// minLength is the smallest valid batchLength (a header, no records).
	minLength = HeaderSize - lengthOverhead
)

// Attribute bits.
const (
	codecMask             = 0x07
	timestampTypeBit      = 0x08
	transactionalBit      = 0x10
	controlBit            = 0x20
	currentMagic     int8 = 2
)

// Codec is the compression codec of a batch (attribute bits 0-2).
type Codec int8

// Compression codecs.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLz4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLz4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded fixed-size header of a v2 record batch.
type Header struct {
	BaseOffset           int64
	Length               int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// ParseHeader decodes the batch header at the start of b. It checks only
// what the header alone can show: enough bytes, magic 2 and a batchLength
// of at least a header. It does not check the CRC or that b holds the whole
// batch; Validate and CheckCRC do.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d bytes, header needs %d", ErrCorrupt, len(b), HeaderSize)
	}
	be := binary.BigEndian
	h := Header{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}
	if h.Magic != currentMagic {
		if h.Magic == 0 || h.Magic == 1 {
			return h, fmt.Errorf("%w: message format v%d is not supported, only v2", ErrInvalidRecord, h.Magic)
		}
		return h, fmt.Errorf("%w: magic %d", ErrCorrupt, h.Magic)
	}
	if h.Length < minLength {
		return h, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, h.Length)
	}
	return h, nil
}

// Size is the total number of bytes of the batch: 12 + Length.
func (h Header) Size() int { return lengthOverhead + int(h.Length) }

// LastOffset is the offset of the last record: BaseOffset + LastOffsetDelta.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset following the batch.
func (h Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the compression codec from the attributes.
func (h Header) Codec() Codec { return Codec(h.Attributes & codecMask) }

// IsTransactional reports attribute bit 4.
func (h Header) IsTransactional() bool { return h.Attributes&transactionalBit != 0 }

// IsControl reports attribute bit 5.
func (h Header) IsControl() bool { return h.Attributes&controlBit != 0 }

// LogAppendTime reports whether the timestamps are broker-assigned
// (attribute bit 3); the record timestamps are then all MaxTimestamp.
func (h Header) LogAppendTime() bool { return h.Attributes&timestampTypeBit != 0 }

// RecordTimestamp is the timestamp of r within the batch h describes.
func (h Header) RecordTimestamp(r Record) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.FirstTimestamp + r.TimestampDelta
}

// SetBaseOffset overwrites the base offset of the batch at the start of
// batch. The field is not covered by the CRC.
func SetBaseOffset(batch []byte, off int64) {
	binary.BigEndian.PutUint64(batch[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch overwrites the partition leader epoch of the
// batch at the start of batch. The field is not covered by the CRC.
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch's timestamps as broker-assigned and sets
// its maxTimestamp to ts, as Kafka does, then recomputes the CRC. batch must
// hold the whole batch.
func SetLogAppendTime(batch []byte, ts int64) {
	be := binary.BigEndian
	attrs := be.Uint16(batch[offAttributes:]) | timestampTypeBit
	be.PutUint16(batch[offAttributes:], attrs)
	be.PutUint64(batch[offMaxTimestamp:], uint64(ts))
	size := lengthOverhead + int(int32(be.Uint32(batch[offLength:])))
	be.PutUint32(batch[offCRC:], crc32.Checksum(batch[offAttributes:size], castagnoli))
}

// ComputeCRC returns the CRC-32C the batch should carry; batch must hold the
// whole batch.
func ComputeCRC(batch []byte, h Header) uint32 {
	return crc32.Checksum(batch[offAttributes:h.Size()], castagnoli)
}

// CheckCRC verifies the CRC of the whole batch held at the start of batch.
func CheckCRC(batch []byte, h Header) error {
	if h.Size() > len(batch) {
		return fmt.Errorf("%w: batch of %d bytes truncated to %d", ErrCorrupt, h.Size(), len(batch))
	}
	if got := ComputeCRC(batch, h); got != h.CRC {
		return fmt.Errorf("%w: crc %08x, batch says %08x", ErrCorrupt, got, h.CRC)
	}
	return nil
}
