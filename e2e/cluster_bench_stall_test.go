package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ackClock records when each acknowledgement arrived, per partition.
type ackClock struct {
	mu   sync.Mutex
	at   map[int32][]time.Time
	errs int
}

// gap is the longest time without an acknowledgement, over the partitions
// given (nil: all of them together), between from and to: the stall a
// client of those partitions saw.
func (a *ackClock) gap(parts []int32, from, to time.Time) time.Duration {
	d, _ := a.gapAt(parts, from, to)
	return d
}

// gapAt is gap with the time the longest gap began.
func (a *ackClock) gapAt(parts []int32, from, to time.Time) (time.Duration, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ts []time.Time
	for p, at := range a.at {
		if parts == nil || slices.Contains(parts, p) {
			ts = append(ts, at...)
		}
	}
	slices.SortFunc(ts, func(x, y time.Time) int { return x.Compare(y) })
	longest, prev, began := time.Duration(0), from, from
	for _, t := range ts {
		if t.Before(from) {
			continue
		}
		if t.After(to) {
			break
		}
		if d := t.Sub(prev); d > longest {
			longest, began = d, prev
		}
		prev = t
	}
	if d := to.Sub(prev); d > longest {
		longest, began = d, prev
	}
	return longest, began
}

// produceClocked produces acks=all to every partition of topic (round
// robin, 32 in flight) until stop closes, timing each acknowledgement.
func produceClocked(t *testing.T, addrs, topic string, clock *ackClock, stop <-chan struct{}, done *sync.WaitGroup) {
	cl := newClient(t, addrs, kgo.SeedBrokers(strings.Split(addrs, ",")...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.RecordDeliveryTimeout(60*time.Second), kgoDebugLog(t))
	done.Add(1)
	go func() {
		defer done.Done()
		sem := make(chan struct{}, 32)
		for i := 0; ; i++ {
			select {
			case <-stop:
				cl.Flush(context.Background())
				return
			case sem <- struct{}{}:
			}
			cl.Produce(context.Background(), &kgo.Record{Value: []byte(fmt.Sprintf("s%07d", i))}, func(r *kgo.Record, err error) {
				now := time.Now()
				clock.mu.Lock()
				if err != nil {
					clock.errs++
				} else {
					clock.at[r.Partition] = append(clock.at[r.Partition], now)
				}
				clock.mu.Unlock()
				<-sem
			})
		}
	}()
}

// TestClusterStallTimes measures, over STRATA_FAILOVER_RUNS rounds of a
// 3-node cluster under a continuous acks=all producer (RF 3,
// min.insync.replicas=2, 6 partitions):
//   - follower SIGKILL: the longest time without any acknowledgement after
//     SIGKILL of a broker that follows every partition and leads none (the
//     leaders wait for it until the controller drops it from the ISRs);
//   - controlled shutdown: the longest time without an acknowledgement on
//     each partition the stopping broker led, from SIGTERM until two
//     seconds after it exited (leadership is handed to an in-sync
//     follower before it stops);
//
// each beside the longest gap of the same partitions in the two seconds
// before the fault (the machine's own noise). It only reports (make
// bench-failover); no assertion is made on the times.
func TestClusterStallTimes(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("STRATA_FAILOVER_RUNS"))
	if runs <= 0 {
		t.Skip("set STRATA_FAILOVER_RUNS (make bench-failover)")
	}
	nodes := startTestClusterWith(t, 3, map[string]string{"min.insync.replicas": "2"})
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	bin := strataBinary(t)
	all := nodes[0].kafka + "," + nodes[1].kafka + "," + nodes[2].kafka
	ctx := context.Background()
	var followerStall, followerBase, shutdownStall, shutdownBase []time.Duration
	for round := range 2 * runs {
		shutdown := round%2 == 1
		md, err := newAdmin(t, nodes[0].kafka).BrokerMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// The victim is never the raft leader: these are partition faults.
		var victim *clusterNode
		var others []int32
		for _, c := range nodes {
			if c.id != md.Controller && victim == nil {
				victim = c
			} else {
				others = append(others, c.id)
			}
		}
		topic := fmt.Sprintf("stall-%d", round)
		led := []int32{}
		createAssigned(t, nodes[0].kafka, topic, 6, func(p int32) []int32 {
			if shutdown && p%2 == 0 { // the victim leads half
				return []int32{victim.id, others[p/2%2], others[(p/2+1)%2]}
			}
			return []int32{others[p%2], others[(p+1)%2], victim.id}
		})
		if shutdown {
			led = []int32{0, 2, 4}
		}
		awaitFullISR(t, nodes[0].kafka, topic, 3, 30*time.Second)
		clock := &ackClock{at: map[int32][]time.Time{}}
		stop := make(chan struct{})
		var producing sync.WaitGroup
		produceClocked(t, all, topic, clock, stop, &producing)
		time.Sleep(3 * time.Second)
		faulted := time.Now()
		var stall, base time.Duration
		if shutdown {
			t.Logf("round %d: SIGTERM at %s", round, faulted.UTC().Format("15:04:05.000"))
			victim.signal(t, syscall.SIGTERM)
			victim.waitExit(t, 60*time.Second)
			exited := time.Now()
			time.Sleep(2 * time.Second)
			for _, p := range led {
				g, at := clock.gapAt([]int32{p}, faulted, exited.Add(2*time.Second))
				t.Logf("round %d: partition %d: longest gap %v from %s", round, p, g.Round(time.Millisecond), at.UTC().Format("15:04:05.000"))
				stall = max(stall, g)
				base = max(base, clock.gap([]int32{p}, faulted.Add(-2*time.Second), faulted))
			}
			shutdownStall, shutdownBase = append(shutdownStall, stall), append(shutdownBase, base)
			t.Logf("round %d: controlled shutdown of broker %d (leading partitions %v) took %v; longest gap on those partitions %v (before: %v); %d produce errors",
				round, victim.id, led, exited.Sub(faulted).Round(time.Millisecond), stall.Round(time.Millisecond), base.Round(time.Millisecond), clock.errs)
		} else {
			victim.signal(t, syscall.SIGKILL)
			victim.waitExit(t, 10*time.Second)
			time.Sleep(5 * time.Second)
			stall = clock.gap(nil, faulted, faulted.Add(5*time.Second))
			base = clock.gap(nil, faulted.Add(-2*time.Second), faulted)
			followerStall, followerBase = append(followerStall, stall), append(followerBase, base)
			t.Logf("round %d: SIGKILL of follower %d; longest time without an acknowledgement %v (before: %v); %d produce errors",
				round, victim.id, stall.Round(time.Millisecond), base.Round(time.Millisecond), clock.errs)
		}
		close(stop)
		producing.Wait()
		victim.start(t, bin, 3, joinList(nodes))
		victim.waitReady(t, 60*time.Second)
		awaitFullISR(t, nodes[0].kafka, topic, 3, 60*time.Second)
	}
	pct := func(ds []time.Duration, p float64) time.Duration {
		return ds[min(len(ds)-1, int(p*float64(len(ds))))]
	}
	report := func(what string, ds []time.Duration) {
		slices.Sort(ds)
		t.Logf("%s over %d rounds: min %v p50 %v p99 %v max %v", what, len(ds), ds[0].Round(time.Millisecond),
			pct(ds, 0.5).Round(time.Millisecond), pct(ds, 0.99).Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	}
	report("follower SIGKILL → longest acks=all stall", followerStall)
	report("  same partitions, 2 s before the kill", followerBase)
	report("controlled shutdown → longest acks=all gap per partition the broker led", shutdownStall)
	report("  same partitions, 2 s before the SIGTERM", shutdownBase)
	if f := os.Getenv("STRATA_FAILOVER_LOGS"); f != "" {
		_ = os.WriteFile(f, []byte(keepLogs(t, nodes)), 0o644)
	}
}

// kgoDebugLog logs the client at debug level to STRATA_KGO_DEBUG (a
// file), to study what a client does around a fault.
func kgoDebugLog(t testing.TB) kgo.Opt {
	f := os.Getenv("STRATA_KGO_DEBUG")
	if f == "" {
		return kgo.WithLogger(nil)
	}
	out, err := os.Create(f)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return kgo.WithLogger(kgo.BasicLogger(out, kgo.LogLevelDebug, func() string { return time.Now().UTC().Format("15:04:05.000 ") }))
}
