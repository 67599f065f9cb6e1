package storage

import (
	"math/rand"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/record"
)

// Benchmarks. Run with:
//
//	go test -run '^$' -bench . -benchtime 3s ./storage/
//
// BenchmarkRecovery writes a 1 GiB active segment and is skipped unless
// STRATA_BENCH_RECOVERY=1.

func benchAppend(b *testing.B, records, valueSize int) {
	cfg := DefaultConfig()
	l := openLog(b, b.TempDir(), cfg)
	defer l.Close()
	tmpl, hdrs := mkBatch(b, record.CodecNone, records, valueSize, time.Now().UnixMilli())
	buf := make([]byte, len(tmpl))
	h := make([]record.Header, len(hdrs))
	b.SetBytes(int64(len(tmpl)))
	b.ResetTimer()
	for b.Loop() {
		copy(buf, tmpl)
		copy(h, hdrs)
		if _, err := l.Append(buf, h, 0, -1); err != nil {
			b.Fatal(err)
		}
		if l.Size() > 4<<30 {
			b.StopTimer()
			l.DeleteRecordsBefore(l.EndOffset())
			b.StartTimer()
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	b.Run("1MiB-batches-1KiB-records", func(b *testing.B) { benchAppend(b, 1000, 1024) })
	b.Run("small-batches-1x1KiB", func(b *testing.B) { benchAppend(b, 1, 1024) })
	b.Run("small-batches-10x100B", func(b *testing.B) { benchAppend(b, 10, 100) })
}

// BenchmarkRead looks up random offsets in a 256 MiB log of 16 KiB batches
// over several segments and reads up to 1 MiB of whole batches.
func BenchmarkRead(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	l := openLog(b, b.TempDir(), cfg)
	defer l.Close()
	tmpl, hdrs := mkBatch(b, record.CodecNone, 16, 1000, time.Now().UnixMilli())
	for l.Size() < 256<<20 {
		buf := append([]byte(nil), tmpl...)
		if _, err := l.Append(buf, append([]record.Header(nil), hdrs...), 0, -1); err != nil {
			b.Fatal(err)
		}
	}
	end := l.EndOffset()
	for _, max := range []int{1 << 20, 1} {
		name := "1MiB"
		if max == 1 {
			name = "first-batch-only"
		}
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewSource(1))
			var bytes int64
			for b.Loop() {
				res, err := l.Read(rng.Int63n(end), max, end)
				if err != nil {
					b.Fatal(err)
				}
				bytes += res.Size
				res.Release()
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/read")
		})
	}
}

// BenchmarkRecovery compares reopening a log whose active segment holds
// 1 GiB after a clean Close with reopening it after a crash (full CRC scan).
func BenchmarkRecovery(b *testing.B) {
	if os.Getenv("STRATA_BENCH_RECOVERY") == "" {
		b.Skip("set STRATA_BENCH_RECOVERY=1 (writes 1 GiB)")
	}
	dir := b.TempDir()
	l := openLog(b, dir, DefaultConfig())
	tmpl, hdrs := mkBatch(b, record.CodecNone, 1000, 1024, time.Now().UnixMilli())
	for l.Size()+int64(len(tmpl)) <= 1<<30 {
		if _, err := l.Append(append([]byte(nil), tmpl...), append([]record.Header(nil), hdrs...), 0, -1); err != nil {
			b.Fatal(err)
		}
	}
	size := l.Size()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("clean", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			l := openLog(b, dir, DefaultConfig())
			b.StopTimer()
			l.Close()
			b.StartTimer()
		}
	})
	b.Run("unclean-1GiB-scan", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			b.StopTimer()
			os.Remove(dir + "/" + cleanMarkerName)
			b.StartTimer()
			l := openLog(b, dir, DefaultConfig())
			b.StopTimer()
			if l.Size() != size {
				b.Fatalf("recovered %d of %d bytes", l.Size(), size)
			}
			l.Close()
			b.StartTimer()
		}
	})
}

// BenchmarkSyncer8Partitions: 8 producers, one per partition, each
// appending a batch and waiting for it to be fsynced before the next (an
// acks=all produce loop), with 1 or 4 producers per partition. "direct" calls Log.Sync per append; "syncer"
// goes through the group commit.
func BenchmarkSyncer8Partitions(b *testing.B) {
	for _, prod := range []int{1, 4} { // producers per partition
		for _, size := range []int{16, 256} { // records of 1 KiB per batch
			for _, mode := range []string{"direct", "syncer"} {
				b.Run(mode+"-"+strconv.Itoa(size)+"KiB-batches-"+strconv.Itoa(prod)+"-producers-per-partition", func(b *testing.B) {
					const parts = 8
					logs := make([]*Log, parts)
					for i := range logs {
						logs[i] = openLog(b, b.TempDir(), DefaultConfig())
						defer logs[i].Close()
					}
					s := NewSyncer(nil)
					defer s.Close()
					tmpl, hdrs := mkBatch(b, record.CodecNone, size, 1000, time.Now().UnixMilli())
					b.SetBytes(int64(len(tmpl)))
					b.ResetTimer()
					var wg sync.WaitGroup
					work := make(chan struct{}, 1024)
					for p := 0; p < parts*prod; p++ {
						wg.Add(1)
						go func() {
							defer wg.Done()
							l := logs[p%parts]
							buf := make([]byte, len(tmpl))
							h := make([]record.Header, len(hdrs))
							done := make(chan error, 1)
							for range work {
								copy(buf, tmpl)
								copy(h, hdrs)
								info, err := l.Append(buf, h, 0, -1)
								if err != nil {
									b.Error(err)
									return
								}
								if mode == "direct" {
									err = l.Sync()
								} else {
									s.Sync(l, info.LastOffset+1, func(e error) { done <- e })
									err = <-done
								}
								if err != nil {
									b.Error(err)
									return
								}
							}
						}()
					}
					for i := 0; i < b.N; i++ {
						work <- struct{}{}
					}
					close(work)
					wg.Wait()
					st := s.Stats()
					if mode == "syncer" {
						b.ReportMetric(float64(st.Syncs)/float64(b.N), "fsyncs/ack")
					}
				})
			}
		}
	}
}
