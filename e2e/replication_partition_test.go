package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ackedPerPartition counts the acknowledged records of each partition.
func ackedPerPartition(a *ackedAt) map[int32]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[int32]int{}
	for _, r := range a.at {
		out[r.Partition]++
	}
	return out
}

// TestReplicationNetworkPartition cuts a partition leader off from the
// other two nodes (real links between network namespaces set down) while
// every client still reaches all three, under an idempotent acks=all
// producer on an RF 3, min.insync.replicas=2 topic. The majority fences
// the isolated node and elects new leaders; the isolated node, still
// believing it leads, cannot acknowledge anything (its followers are
// gone), the producer moves to the new leaders, and when the links heal
// the old leader truncates what only it had, catches up and rejoins every
// ISR. The checker then finds nothing lost, duplicated, moved or
// reordered. The same runs with the raft leader isolated.
func TestReplicationNetworkPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	for _, who := range []string{"partition-leader", "raft-leader"} {
		t.Run(who, func(t *testing.T) { testNetworkPartition(t, who) })
	}
}

func testNetworkPartition(t *testing.T, who string) {
	nt := newNetTopo(t, 3)
	nodes := startNetCluster(t, nt)
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	n := &nemesis{t: t, bin: strataBinary(t), nodes: nodes, topic: "cut", acked: &ackedAt{at: map[string]kgo.Record{}}, paused: map[int32]bool{}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	two := "2"
	if r, err := newAdmin(t, nodes[0].kafka).CreateTopic(ctx, 6, 3, map[string]*string{"min.insync.replicas": &two}, n.topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	stop := make(chan struct{})
	var producing sync.WaitGroup
	produceUntil(t, nodes[0].kafka+","+nodes[1].kafka+","+nodes[2].kafka, n.topic, n.acked, stop, &producing)
	n.awaitAcks(2000, 60*time.Second)

	var victim *clusterNode
	if who == "raft-leader" {
		victim = n.controller()
	} else {
		victim = n.leaderOf(0)
		if victim == n.controller() {
			victim = n.followerOf(0) // a follower of p0 leads other partitions
		}
	}
	led := map[int32]bool{}
	for p, l := range leaders(t, victim.kafka, n.topic) {
		led[p] = l == victim.id
	}
	before := ackedPerPartition(n.acked)
	nt.Isolate(int(victim.id))
	cut := time.Now()
	t.Logf("%s: node %d (leading partitions %v) cut off from the others", who, victim.id, led)

	// Every partition, those the isolated node led included, takes
	// acknowledged writes again on the majority side.
	resumed := map[int32]time.Duration{}
	deadline := time.Now().Add(90 * time.Second)
	for len(resumed) < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("partitions without an acknowledgement since the cut: resumed %v", resumed)
		}
		now := ackedPerPartition(n.acked)
		for p := int32(0); p < 6; p++ {
			// 100, not 1: acknowledgements on the wire at the cut
			// (64 in flight over 6 partitions) do not count.
			if _, ok := resumed[p]; !ok && now[p] > before[p]+100 {
				resumed[p] = time.Since(cut).Round(10 * time.Millisecond)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for p := int32(0); p < 6; p++ {
		if l := leaders(t, n.queryAddr(victim), n.topic)[p]; l == victim.id {
			t.Fatalf("partition %d still led by the isolated node %d on the majority's side", p, victim.id)
		}
	}
	t.Logf("%s: acknowledgements resumed after the cut, per partition: %v (partitions the isolated node led: %v)", who, resumed, led)
	n.awaitAcks(1000, 60*time.Second)
	time.Sleep(2 * time.Second)

	nt.Rejoin(int(victim.id))
	isr := awaitFullISR(t, n.queryAddr(victim), n.topic, 3, 120*time.Second)
	t.Logf("%s: links healed; every ISR full again after %v", who, isr.Round(time.Millisecond))
	n.awaitAcks(1000, 60*time.Second)
	close(stop)
	producing.Wait()

	rep := checkNemesis(t, nodes[0].kafka, n.topic, n.acked)
	t.Logf("%s: %d acknowledged (%d produce failures reported to the client), %d read back; lost %d, duplicated %d, moved %d, reordered %d",
		who, rep.acked, n.acked.fails, rep.read, rep.lost, rep.duplicated, rep.moved, rep.reorder)
	for _, e := range rep.examples {
		t.Log(e)
	}
	if rep.lost+rep.duplicated+rep.moved+rep.reorder > 0 {
		t.Fatalf("lost %d, duplicated %d, moved %d, reordered %d", rep.lost, rep.duplicated, rep.moved, rep.reorder)
	}
}
