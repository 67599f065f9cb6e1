package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestClusterFailoverTimes measures, over STRATA_FAILOVER_RUNS rounds, the
// time from SIGKILL of a broker leading partitions (never the raft
// leader) until a survivor's Metadata shows all of them led elsewhere,
// restarting the broker between rounds. It only reports (make
// bench-failover); no assertion is made on the times.
func TestClusterFailoverTimes(t *testing.T) {
	runs, _ := strconv.Atoi(os.Getenv("STRATA_FAILOVER_RUNS"))
	if runs <= 0 {
		t.Skip("set STRATA_FAILOVER_RUNS (make bench-failover)")
	}
	nodes := startTestCluster(t, 3)
	bin := strataBinary(t)
	join := joinList(nodes)
	ctx := context.Background()
	var times []time.Duration
	for round := range runs {
		adm := newAdmin(t, nodes[0].kafka)
		dc, err := adm.BrokerMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		topic := fmt.Sprintf("failover-%d", round)
		if r, err := adm.CreateTopic(ctx, 12, 3, nil, topic); err != nil || r.Err != nil {
			t.Fatalf("create: %v %v", err, r.Err)
		}
		var victim *clusterNode
		for _, c := range nodes {
			if c.id != dc.Controller {
				victim = c
				break
			}
		}
		var survivor *clusterNode
		for _, c := range nodes {
			if c != victim {
				survivor = c
			}
		}
		before := leaders(t, survivor.kafka, topic)
		led := 0
		for _, l := range before {
			if l == victim.id {
				led++
			}
		}
		if led == 0 {
			t.Fatalf("round %d: victim %d leads nothing: %v", round, victim.id, before)
		}
		victim.signal(t, syscall.SIGKILL)
		killed := time.Now()
		for {
			moved := true
			for _, l := range leaders(t, survivor.kafka, topic) {
				if l == victim.id || l < 0 {
					moved = false
				}
			}
			if moved {
				break
			}
			if time.Since(killed) > 30*time.Second {
				t.Fatalf("round %d: leaderships not moved", round)
			}
			time.Sleep(5 * time.Millisecond)
		}
		d := time.Since(killed)
		times = append(times, d)
		t.Logf("round %d: broker %d (led %d of 12) killed; leaders visible elsewhere after %v", round, victim.id, led, d)
		victim.waitExit(t, 5*time.Second)
		victim.start(t, bin, 3, join)
		victim.waitReady(t, 60*time.Second)
	}
	slices.Sort(times)
	pct := func(p float64) time.Duration { return times[min(len(times)-1, int(p*float64(len(times))))] }
	t.Logf("failover over %d rounds: min %v p50 %v p99 %v max %v", len(times), times[0], pct(0.5), pct(0.99), times[len(times)-1])
}
