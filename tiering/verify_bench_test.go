package tiering

import (
	"bytes"
	"io"
	"testing"

	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/record/recordtest"
)

// benchSegment is an 8 MiB segment of ~16 KiB batches as stored.
func benchSegment(b *testing.B) ([]byte, int64) {
	var out []byte
	off := int64(0)
	for len(out) < 8<<20 {
		batch := recordtest.Batch(recordtest.Options{FirstTimestamp: 1}, recordtest.Records(16, 1000, 1))
		h, err := record.ParseHeader(batch)
		if err != nil {
			b.Fatal(err)
		}
		record.SetBaseOffset(batch, off)
		off += int64(h.LastOffsetDelta) + 1
		out = append(out, batch...)
	}
	return out, off
}

// The upload body's extra work per byte: copy only (the baseline), then
// the batch verifier, then the verifier plus the manifest checksums.
func BenchmarkUploadVerify(b *testing.B) {
	seg, next := benchSegment(b)
	buf := make([]byte, 256<<10)
	run := func(b *testing.B, wrap func(io.Reader) io.Reader) {
		b.SetBytes(int64(len(seg)))
		for i := 0; i < b.N; i++ {
			if _, err := io.CopyBuffer(io.Discard, wrap(bytes.NewReader(seg)), buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("copy", func(b *testing.B) { run(b, func(r io.Reader) io.Reader { return struct{ io.Reader }{r} }) })
	b.Run("verify", func(b *testing.B) {
		run(b, func(r io.Reader) io.Reader { return newBatchVerifier(r, 0, next, int64(len(seg)), false) })
	})
	b.Run("verify+checksums", func(b *testing.B) {
		run(b, func(r io.Reader) io.Reader {
			return newSummer(newBatchVerifier(r, 0, next, int64(len(seg)), false), [4]int64{int64(len(seg))}, 8<<20)
		})
	})
}

// A chunk fill's extra work per byte: copy only, then the CRC per chunk.
func BenchmarkChunkFillVerify(b *testing.B) {
	seg, _ := benchSegment(b)
	buf := make([]byte, 256<<10)
	b.Run("copy", func(b *testing.B) {
		b.SetBytes(int64(len(seg)))
		for i := 0; i < b.N; i++ {
			io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{bytes.NewReader(seg)}, buf)
		}
	})
	b.Run("crc", func(b *testing.B) {
		b.SetBytes(int64(len(seg)))
		for i := 0; i < b.N; i++ {
			cw := &crcWriter{w: io.Discard, step: 8 << 20}
			io.CopyBuffer(cw, struct{ io.Reader }{bytes.NewReader(seg)}, buf)
		}
	})
}
