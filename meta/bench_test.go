package meta

import (
	"context"
	"sort"
	"strconv"
	"sync"
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

// BenchmarkPartitionUpdates3Voters measures the metadata apply rate of a
// mass failover: leadership changes of distinct partitions proposed by 64
// concurrent callers to the leader of a 3-voter cluster on loopback TCP
// (each entry fsynced by a majority), timed until every voter has applied
// the last one. It reports updates per second.
func BenchmarkPartitionUpdates3Voters(b *testing.B) {
	stores := openCluster(b, 3, 100*time.Millisecond)
	leader := leaderOf(b, stores)
	registerBrokers(b, leader, 1, 2, 3)
	const parts, workers = 1024, 64
	ctx := context.Background()
	if _, err := leader.CreateTopic(ctx, TopicSpec{Name: "u", NumPartitions: parts, ReplicationFactor: 3}); err != nil {
		b.Fatal(err)
	}
	t, _ := leader.Topic("u")
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < b.N; i += workers {
				p := t.Partitions[i%parts]
				// Rotate the leader through the replicas: every update
				// is a real leader change with its epoch guard.
				idx := (i/parts + 1) % len(p.Replicas)
				next := p.Replicas[idx]
				u := PartitionUpdate{Topic: "u", Partition: p.Index, ExpectedLeaderEpoch: p.LeaderEpoch, Leader: next, ISR: p.Replicas}
				if err := leader.UpdatePartition(ctx, u); err != nil {
					failed.Add(1)
					continue
				}
				p.Leader, p.LeaderEpoch = next, p.LeaderEpoch+1
				t.Partitions[i%parts] = p
			}
		}()
	}
	wg.Wait()
	want := leader.Version()
	for _, st := range stores {
		for st.Version() < want {
			time.Sleep(100 * time.Microsecond)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d updates failed", f)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "updates/s")
}
