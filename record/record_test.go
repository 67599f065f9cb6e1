package record_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/record/recordtest"
)

type codecCase struct {
	name   string
	codec  record.Codec
	xerial bool
}

var codecs = []codecCase{
	{"none", record.CodecNone, false},
	{"gzip", record.CodecGzip, false},
	{"snappy", record.CodecSnappy, false},
	{"snappy-xerial", record.CodecSnappy, true},
	{"lz4", record.CodecLz4, false},
	{"zstd", record.CodecZstd, false},
}

const maxBatch = 8 << 20

func batch(c codecCase, n, valueSize int) []byte {
	return recordtest.Batch(recordtest.Options{Codec: c.codec, Xerial: c.xerial, FirstTimestamp: 1_700_000_000_000},
		recordtest.Records(n, valueSize, 10))
}

func TestValidateEveryCodec(t *testing.T) {
	for _, c := range codecs {
		for _, n := range []int{1, 7, 500} {
			t.Run(fmt.Sprintf("%s/%d", c.name, n), func(t *testing.T) {
				want := recordtest.Records(n, 100, 10)
				b := batch(c, n, 100)
				hdrs, err := record.Validate(b, maxBatch)
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if len(hdrs) != 1 || hdrs[0].NumRecords != int32(n) || hdrs[0].Codec() != c.codec || hdrs[0].Size() != len(b) {
					t.Fatalf("headers %+v", hdrs)
				}
				var got []record.Record
				if err := record.ForEachRecord(b, func(r record.Record) bool { got = append(got, r); return true }); err != nil {
					t.Fatalf("ForEachRecord: %v", err)
				}
				if len(got) != n {
					t.Fatalf("got %d records, want %d", len(got), n)
				}
				for i, r := range got {
					w := want[i]
					if r.OffsetDelta != w.OffsetDelta || r.TimestampDelta != w.TimestampDelta64 ||
						!bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || len(r.Headers) != len(w.Headers) {
						t.Fatalf("record %d: got %+v want %+v", i, r, w)
					}
					if ts := hdrs[0].RecordTimestamp(r); ts != 1_700_000_000_000+int64(i)*10 {
						t.Fatalf("record %d timestamp %d", i, ts)
					}
				}
			})
		}
	}
}

func TestValidateManyBatches(t *testing.T) {
	var blob []byte
	for _, c := range codecs {
		blob = append(blob, batch(c, 3, 50)...)
	}
	hdrs, err := record.Validate(blob, maxBatch)
	if err != nil {
		t.Fatal(err)
	}
	if len(hdrs) != len(codecs) {
		t.Fatalf("%d headers", len(hdrs))
	}
	sum := 0
	for _, h := range hdrs {
		sum += h.Size()
	}
	if sum != len(blob) {
		t.Fatalf("headers cover %d of %d bytes", sum, len(blob))
	}
}

func TestForEachRecordStops(t *testing.T) {
	b := batch(codecs[5], 10, 10)
	n := 0
	if err := record.ForEachRecord(b, func(record.Record) bool { n++; return n < 3 }); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("visited %d", n)
	}
}

// sentinel returns which sentinel err wraps, failing on none.
func sentinel(t *testing.T, err error) error {
	t.Helper()
	for _, s := range []error{record.ErrCorrupt, record.ErrTooLarge, record.ErrInvalidRecord, record.ErrUnsupportedCodec} {
		if errors.Is(err, s) {
			return s
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
	return nil
}

// edit copies b, applies fn and recomputes length and CRC so that only the
// edit itself is wrong.
func edit(b []byte, fn func(b []byte) []byte) []byte {
	c := append([]byte(nil), b...)
	return recordtest.Finish(fn(c))
}

func TestValidateRefuses(t *testing.T) {
	plain := batch(codecs[0], 5, 20)
	gz := batch(codecs[1], 5, 20)
	be := binary.BigEndian
	cases := []struct {
		name string
		in   []byte
		max  int
		want error
	}{
		{"empty", nil, maxBatch, record.ErrInvalidRecord},
		{"short header", plain[:30], maxBatch, record.ErrCorrupt},
		{"trailing garbage", append(append([]byte(nil), plain...), 1, 2, 3), maxBatch, record.ErrCorrupt},
		{"length too small", func() []byte { c := append([]byte(nil), plain...); be.PutUint32(c[8:], 10); return c }(), maxBatch, record.ErrCorrupt},
		{"length too big", func() []byte { c := append([]byte(nil), plain...); be.PutUint32(c[8:], uint32(len(c))); return c }(), maxBatch, record.ErrCorrupt},
		{"crc", func() []byte { c := append([]byte(nil), plain...); c[17] ^= 1; return c }(), maxBatch, record.ErrCorrupt},
		{"magic 1", edit(plain, func(b []byte) []byte { b[16] = 1; return b }), maxBatch, record.ErrInvalidRecord},
		{"magic 3", edit(plain, func(b []byte) []byte { b[16] = 3; return b }), maxBatch, record.ErrCorrupt},
		{"codec 5", edit(plain, func(b []byte) []byte { b[22] |= 5; return b }), maxBatch, record.ErrUnsupportedCodec},
		{"codec 7", edit(gz, func(b []byte) []byte { b[22] |= 7; return b }), maxBatch, record.ErrUnsupportedCodec},
		{"control", edit(plain, func(b []byte) []byte { b[22] |= 0x20; return b }), maxBatch, record.ErrInvalidRecord},
		{"count high", edit(plain, func(b []byte) []byte {
			be.PutUint32(b[57:], 6)
			be.PutUint32(b[23:], 5)
			return b
		}), maxBatch, record.ErrInvalidRecord},
		{"count low", edit(plain, func(b []byte) []byte {
			be.PutUint32(b[57:], 4)
			be.PutUint32(b[23:], 3)
			return b
		}), maxBatch, record.ErrInvalidRecord},
		{"count high gzip", edit(gz, func(b []byte) []byte {
			be.PutUint32(b[57:], 6)
			be.PutUint32(b[23:], 5)
			return b
		}), maxBatch, record.ErrInvalidRecord},
		{"count zero", edit(plain, func(b []byte) []byte {
			be.PutUint32(b[57:], 0)
			be.PutUint32(b[23:], 0xffffffff)
			return b[:61]
		}), maxBatch, record.ErrInvalidRecord},
		{"count negative", edit(plain, func(b []byte) []byte { be.PutUint32(b[57:], 0xfffffff0); return b }), maxBatch, record.ErrInvalidRecord},
		{"lastOffsetDelta", edit(plain, func(b []byte) []byte { be.PutUint32(b[23:], 7); return b }), maxBatch, record.ErrInvalidRecord},
		{"record length long", edit(plain, func(b []byte) []byte { b[61] += 2; return b }), maxBatch, record.ErrCorrupt},
		{"record length short", edit(plain, func(b []byte) []byte { b[61] -= 2; return b }), maxBatch, record.ErrCorrupt},
		{"record length negative", edit(plain, func(b []byte) []byte { b[61] = 1; return b }), maxBatch, record.ErrCorrupt},
		{"records truncated", edit(plain, func(b []byte) []byte { return b[:len(b)-3] }), maxBatch, record.ErrCorrupt},
		{"gzip garbage", edit(gz, func(b []byte) []byte { b[70] ^= 0xff; b[71] ^= 0xff; return b }), maxBatch, record.ErrCorrupt},
		{"gzip truncated", edit(gz, func(b []byte) []byte { return b[:len(b)-10] }), maxBatch, record.ErrCorrupt},
		{"too large", plain, len(plain) - 1, record.ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := record.Validate(tc.in, tc.max)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := sentinel(t, err); got != tc.want {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if record.KafkaError(err) == kerr.UnknownServerError {
				t.Fatalf("no Kafka code for %v", err)
			}
		})
	}
}

// TestValidateOffsetDeltas re-encodes a batch whose records skip an offset.
func TestValidateOffsetDeltas(t *testing.T) {
	recs := recordtest.Records(4, 8, 1)
	recs[2].OffsetDelta = 3
	recs[3].OffsetDelta = 4
	for _, c := range codecs {
		b := recordtest.Batch(recordtest.Options{Codec: c.codec, Xerial: c.xerial}, recs)
		if _, err := record.Validate(b, maxBatch); !errors.Is(err, record.ErrInvalidRecord) {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
}

// TestEveryBitFlip flips each bit of a batch: only the two fields outside
// the CRC may change without the batch being refused.
func TestEveryBitFlip(t *testing.T) {
	for _, c := range codecs {
		b := batch(c, 4, 30)
		for i := range b {
			for bit := 0; bit < 8; bit++ {
				m := append([]byte(nil), b...)
				m[i] ^= 1 << bit
				_, err := record.Validate(m, maxBatch)
				outsideCRC := i < 8 || (i >= 12 && i < 16)
				if outsideCRC {
					if err != nil {
						t.Fatalf("%s: flip at %d bit %d refused: %v", c.name, i, bit, err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("%s: flip at byte %d bit %d accepted", c.name, i, bit)
				}
				sentinel(t, err)
			}
		}
	}
}

func TestEveryTruncation(t *testing.T) {
	for _, c := range codecs {
		b := batch(c, 4, 30)
		for n := 0; n < len(b); n++ {
			_, err := record.Validate(b[:n], maxBatch)
			if n == 0 {
				continue
			}
			if !errors.Is(err, record.ErrCorrupt) {
				t.Fatalf("%s: truncated to %d: %v", c.name, n, err)
			}
		}
	}
}

func TestSetters(t *testing.T) {
	for _, c := range codecs {
		b := batch(c, 3, 10)
		record.SetBaseOffset(b, 12345)
		record.SetPartitionLeaderEpoch(b, 7)
		record.SetLogAppendTime(b, 1_800_000_000_000)
		hdrs, err := record.Validate(b, maxBatch)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		h := hdrs[0]
		if h.BaseOffset != 12345 || h.PartitionLeaderEpoch != 7 || !h.LogAppendTime() ||
			h.MaxTimestamp != 1_800_000_000_000 || h.LastOffset() != 12347 || h.Codec() != c.codec {
			t.Fatalf("%s: header %+v", c.name, h)
		}
		err = record.ForEachRecord(b, func(r record.Record) bool {
			if ts := h.RecordTimestamp(r); ts != 1_800_000_000_000 {
				t.Fatalf("timestamp %d", ts)
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAttributes(t *testing.T) {
	b := recordtest.Batch(recordtest.Options{Attributes: 0x10, ProducerID: 9}, recordtest.Records(1, 1, 0))
	h, err := record.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.IsTransactional() || h.IsControl() || h.LogAppendTime() || h.ProducerID != 9 {
		t.Fatalf("%+v", h)
	}
}

func TestKafkaError(t *testing.T) {
	cases := []struct {
		err  error
		want *kerr.Error
	}{
		{nil, nil},
		{fmt.Errorf("x: %w", record.ErrCorrupt), kerr.CorruptMessage},
		{fmt.Errorf("x: %w", record.ErrTooLarge), kerr.MessageTooLarge},
		{fmt.Errorf("x: %w", record.ErrInvalidRecord), kerr.InvalidRecord},
		{fmt.Errorf("x: %w", record.ErrUnsupportedCodec), kerr.UnsupportedCompressionType},
		{errors.New("other"), kerr.UnknownServerError},
	}
	for _, c := range cases {
		if got := record.KafkaError(c.err); got != c.want {
			t.Errorf("%v: got %v want %v", c.err, got, c.want)
		}
	}
}

// TestDecompressionBomb sends a zstd batch whose single record claims a
// value bigger than MaxUncompressedBytes: it must be refused as too large
// without memory growing with the decompressed size.
func TestDecompressionBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 300 MiB")
	}
	const valueLen = record.MaxUncompressedBytes + 40<<20
	// The record's fixed fields, encoded by kmsg with an empty value; the
	// value length and bytes are then streamed into the compressor.
	r := kmsg.Record{Key: []byte("k")}
	prefix := r.AppendTo(nil) // length 0, attrs, ts, offset, key, value(null), headers
	prefix = prefix[1 : len(prefix)-2]
	rec := binary.AppendVarint(nil, int64(len(prefix)+binary.PutVarint(make([]byte, 10), valueLen)+valueLen+1))
	rec = append(rec, prefix...)
	rec = binary.AppendVarint(rec, valueLen)
	var comp bytes.Buffer
	w, _ := zstd.NewWriter(&comp, zstd.WithEncoderLevel(zstd.SpeedFastest))
	w.Write(rec)
	zeros := make([]byte, 1<<20)
	for n := 0; n < valueLen; n += len(zeros) {
		w.Write(zeros)
	}
	w.Write([]byte{0})
	w.Close()
	b := recordtest.Batch(recordtest.Options{Codec: record.CodecZstd}, recordtest.Records(1, 1, 0))
	b = edit(b, func(b []byte) []byte { return append(b[:61], comp.Bytes()...) })

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := record.Validate(b, maxBatch)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, record.ErrTooLarge) {
		t.Fatalf("bomb: %v", err)
	}
	t.Logf("refused: %v", err)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("validation allocated %d MiB", grew>>20)
	}
}
