package storage

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/compact"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/record/recordtest"
)

// BenchmarkCleanPass is one cleaning pass over a 64 MiB segment of 100-byte
// values under 100,000 keys, each key written about 6 times (lz4 batches of
// 100 records): the key map is built from the segment through Read, then
// the segment is rewritten. MB/s counts the segment's bytes once.
func BenchmarkCleanPass(b *testing.B) {
	for _, codec := range []record.Codec{record.CodecNone, record.CodecLz4} {
		b.Run(codec.String(), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Compacted = true
			cfg.RetentionMs = -1
			var size int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				l := openLog(b, b.TempDir(), cfg)
				seq := 0
				for l.Size() < 64<<20 {
					recs := make([]kmsg.Record, 100)
					for j := range recs {
						recs[j] = kmsg.Record{OffsetDelta: int32(j), Key: []byte(fmt.Sprintf("user-%06d", (seq*7919)%100000)),
							Value: []byte(fmt.Sprintf("%-100d", seq))}
						seq++
					}
					batch := recordtest.Batch(recordtest.Options{Codec: codec, FirstTimestamp: time.Now().UnixMilli()}, recs)
					hdrs, err := record.Validate(batch, 64<<20)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := l.Append(batch, hdrs, 0, -1); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Roll(); err != nil {
					b.Fatal(err)
				}
				if err := l.Sync(); err != nil {
					b.Fatal(err)
				}
				seg := l.Segments()[0]
				size = seg.Size
				b.StartTimer()

				keys := compact.NewKeyMap(128 << 20)
				for off := seg.BaseOffset; off < seg.NextOffset; {
					res, err := l.Read(off, 1<<20, seg.NextOffset)
					if err != nil {
						b.Fatal(err)
					}
					buf, err := res.Bytes()
					res.Release()
					if err != nil {
						b.Fatal(err)
					}
					hdrs, err := record.ValidateStored(buf)
					if err != nil {
						b.Fatal(err)
					}
					pos := 0
					for _, h := range hdrs {
						if stop, err := compact.MapBatch(keys, h, buf[pos:pos+h.Size()], nil, 0); stop >= 0 || err != nil {
							b.Fatal(stop, err)
						}
						pos += h.Size()
						off = h.NextOffset()
					}
				}
				c := &compact.Cleaner{Keys: keys, MapEnd: seg.NextOffset, Now: time.Now().UnixMilli()}
				var st compact.Stats
				res, err := l.CleanSegment(context.Background(), seg.BaseOffset, func(h record.Header, batch []byte) ([]byte, error) {
					return c.Filter(h, batch, &st)
				}, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				b.ReportMetric(float64(res.NewSize)/float64(res.OldSize), "kept-fraction")
				b.ReportMetric(float64(keys.Bytes())/(1<<20), "map-MiB")
				l.Close()
				b.StartTimer()
			}
			b.SetBytes(size)
		})
	}
}
