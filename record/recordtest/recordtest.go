// Package recordtest builds real Kafka v2 record batches for tests of the
// packages that consume them. Batches are encoded with franz-go's
// kmsg.RecordBatch and compressed with the same libraries producers use;
// nothing here is hand-encoded. It is imported only from _test.go files.
package recordtest

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/record"
)

// Options shape a batch.
type Options struct {
	Codec          record.Codec
	Xerial         bool  // frame snappy the way Java producers do
	FirstTimestamp int64 // timestamp of the first record
	Attributes     int16 // extra attribute bits (transactional, control, ...)
	ProducerID     int64
}

// Records returns n records with keys "k<i>", values of valueSize bytes and
// timestamps tsStep apart, every third one carrying a header.
func Records(n, valueSize int, tsStep int64) []kmsg.Record {
	recs := make([]kmsg.Record, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, valueSize)
		if len(v) >= 4 {
			binary.BigEndian.PutUint32(v, uint32(i))
		}
		recs[i] = kmsg.Record{
			TimestampDelta64: int64(i) * tsStep,
			OffsetDelta:      int32(i),
			Key:              []byte(fmt.Sprintf("k%d", i)),
			Value:            v,
		}
		if i%3 == 0 {
			recs[i].Headers = []kmsg.Header{{Key: "h", Value: []byte("hv")}}
		}
	}
	return recs
}

// Batch encodes recs as one v2 batch with base offset 0 and a valid CRC.
func Batch(opts Options, recs []kmsg.Record) []byte {
	var raw []byte
	maxTs := opts.FirstTimestamp
	for i := range recs {
		r := recs[i]
		r.Length = 0
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		raw = r.AppendTo(raw)
		if ts := opts.FirstTimestamp + r.TimestampDelta64; ts > maxTs {
			maxTs = ts
		}
	}
	b := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(opts.Codec) | opts.Attributes,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       opts.FirstTimestamp,
		MaxTimestamp:         maxTs,
		ProducerID:           opts.ProducerID,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              Compress(opts.Codec, opts.Xerial, raw),
	}
	if opts.ProducerID == 0 {
		b.ProducerID = -1
	}
	out := b.AppendTo(nil)
	return Finish(out)
}

// Finish fixes the batchLength and CRC of the single batch in b after a
// test has edited it, and returns b.
func Finish(b []byte) []byte { return record.Seal(b) }

// Compress compresses raw records with codec as a producer would.
func Compress(codec record.Codec, xerial bool, raw []byte) []byte {
	var buf bytes.Buffer
	switch codec {
	case record.CodecNone:
		return raw
	case record.CodecGzip:
		w := gzip.NewWriter(&buf)
		w.Write(raw)
		w.Close()
	case record.CodecSnappy:
		if !xerial {
			return snappy.Encode(nil, raw)
		}
		buf.Write([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1})
		for len(raw) > 0 {
			n := min(len(raw), 32<<10)
			blk := snappy.Encode(nil, raw[:n])
			buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(blk))))
			buf.Write(blk)
			raw = raw[n:]
		}
	case record.CodecLz4:
		w := lz4.NewWriter(&buf)
		w.Write(raw)
		w.Close()
	case record.CodecZstd:
		w, _ := zstd.NewWriter(&buf)
		w.Write(raw)
		w.Close()
	default:
		panic(fmt.Sprintf("recordtest: codec %v", codec))
	}
	return buf.Bytes()
}
