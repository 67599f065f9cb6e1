package record

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// deleteHorizonBit is attribute bit 6 (KIP-534): the batch's
// firstTimestamp holds the delete horizon, the time after which the
// cleaner may remove its tombstones and transaction markers, and record
// timestamp deltas are relative to it.
const deleteHorizonBit = 0x40

// DeleteHorizon returns the batch's delete horizon (unix ms) and whether
// one is set.
func (h Header) DeleteHorizon() (int64, bool) {
	if h.Attributes&deleteHorizonBit == 0 {
		return 0, false
	}
	return h.FirstTimestamp, true
}

// Rebuild encodes records, a subset of the batch h describes in their
// order with their own OffsetDelta and TimestampDelta (relative to
// h.FirstTimestamp), as that batch thinned: the same base offset, last
// offset delta, partition leader epoch, producer id, epoch and base
// sequence, attributes and max timestamp, compressed with the same codec.
// A batch left with no records is still a valid batch (Kafka keeps such a
// batch to carry a producer's last sequence). With horizon > 0 the batch
// gets that delete horizon (KIP-534) and record timestamp deltas are
// rewritten against it, so every record keeps its timestamp.
func Rebuild(h Header, records []Record, horizon int64) ([]byte, error) {
	base := h.FirstTimestamp
	kb := kmsg.NewRecordBatch()
	kb.FirstOffset = h.BaseOffset
	kb.PartitionLeaderEpoch = h.PartitionLeaderEpoch
	kb.Magic = 2
	kb.Attributes = h.Attributes
	kb.LastOffsetDelta = h.LastOffsetDelta
	kb.FirstTimestamp = h.FirstTimestamp
	kb.MaxTimestamp = h.MaxTimestamp
	kb.ProducerID, kb.ProducerEpoch, kb.FirstSequence = h.ProducerID, h.ProducerEpoch, h.BaseSequence
	if horizon > 0 {
		kb.Attributes |= deleteHorizonBit
		kb.FirstTimestamp = horizon
	}
	var raw []byte
	for _, r := range records {
		raw = appendRecord(raw, r, r.OffsetDelta, r.TimestampDelta+base-kb.FirstTimestamp)
	}
	payload, err := compress(h.Codec(), raw)
	if err != nil {
		return nil, err
	}
	kb.NumRecords = int32(len(records))
	kb.Records = payload
	return Seal(kb.AppendTo(nil)), nil
}

// Placeholder returns an empty batch standing for the batch h describes
// when compaction removed everything a segment held: it keeps the
// batch's base offset, last offset delta, timestamps and leader epoch, so
// the segment keeps its offset range, and is neither transactional nor a
// control batch (it ends or marks nothing). A data batch keeps its
// producer fields (its sequence range stays known); a marker's are
// cleared.
func Placeholder(h Header) ([]byte, error) {
	p := h
	p.Attributes &^= transactionalBit | controlBit | deleteHorizonBit | codecMask
	if h.IsControl() {
		p.ProducerID, p.ProducerEpoch, p.BaseSequence = -1, -1, -1
	}
	return Rebuild(p, nil, 0)
}

var (
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
		return zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	})
)

// compress encodes raw record bytes with codec, in the framing Kafka's
// clients write: gzip and zstd streams, an LZ4 frame, a raw snappy block.
func compress(codec Codec, raw []byte) ([]byte, error) {
	switch codec {
	case CodecNone:
		return raw, nil
	case CodecGzip:
		var buf bytes.Buffer
		zw := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(zw)
		zw.Reset(&buf)
		if _, err := zw.Write(raw); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case CodecSnappy:
		return s2.EncodeSnappy(nil, raw), nil
	case CodecLz4:
		var buf bytes.Buffer
		zw := lz4.NewWriter(&buf)
		if _, err := zw.Write(raw); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		return buf.Bytes(), nil
	case CodecZstd:
		enc, err := zstdEncoder()
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return enc.EncodeAll(raw, nil), nil
	}
	return nil, fmt.Errorf("%w: %v", ErrUnsupportedCodec, codec)
}
