package meta

import (
	"context"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkCreateTopic measures one CreateTopic round trip on a single-node
// store: propose, boltdb append with fsync, commit, apply. It reports the
// median and 99th percentile besides the mean.
func BenchmarkCreateTopic(b *testing.B) {
	st := openReady(b, testConfig(b, b.TempDir()))
	registerBrokers(b, st, 1, 2, 3)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := st.CreateTopic(ctx, TopicSpec{Name: "bench-" + strconv.Itoa(i), NumPartitions: 6, ReplicationFactor: 3}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkCreateTopicParallel measures throughput with concurrent
// proposers, which raft batches into shared log appends.
func BenchmarkCreateTopicParallel(b *testing.B) {
	st := openReady(b, testConfig(b, b.TempDir()))
	registerBrokers(b, st, 1, 2, 3)
	ctx := context.Background()
	var n atomicCounter
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := st.CreateTopic(ctx, TopicSpec{Name: "bench-" + strconv.FormatInt(n.next(), 10), NumPartitions: 6, ReplicationFactor: 3}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkTopicRead measures a Topic read (copy under the read lock).
func BenchmarkTopicRead(b *testing.B) {
	st := openReady(b, testConfig(b, b.TempDir()))
	registerBrokers(b, st, 1, 2, 3)
	if _, err := st.CreateTopic(context.Background(), TopicSpec{Name: "r", NumPartitions: 12, ReplicationFactor: 3}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := st.Topic("r"); !ok {
			b.Fatal("missing")
		}
	}
}

type atomicCounter struct{ v atomic.Int64 }

func (c *atomicCounter) next() int64 { return c.v.Add(1) }
