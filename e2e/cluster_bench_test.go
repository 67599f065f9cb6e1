package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterFailoverTimes measures, over STRATA_FAILOVER_RUNS rounds of
// a 3-node cluster, the time from SIGKILL of a broker leading partitions
// until a survivor's Metadata shows all of them led elsewhere: first with
// a broker that is not the raft leader, then with the raft leader (also
// the time to the next committed metadata write), restarting the victim
// between rounds. Each round also times, from the SIGKILL, the first
// acks=all produce to a partition the victim led that the new leader
// acknowledges (a franz-go producer that knew the old leader, metadata
// min age 100 ms, 50 ms retry backoff), and the same for a client started
// once the new leaders are visible (what the brokers take, without the
// first client's retry schedule). It only reports (make
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
	pct := func(ds []time.Duration, p float64) time.Duration {
		return ds[min(len(ds)-1, int(p*float64(len(ds))))]
	}
	report := func(what string, ds []time.Duration) {
		slices.Sort(ds)
		t.Logf("%s over %d rounds: min %v p50 %v p99 %v max %v", what, len(ds), ds[0], pct(ds, 0.5), pct(ds, 0.99), ds[len(ds)-1])
	}
	var brokerMoved, raftWrote, raftMoved, produced, freshAcked []time.Duration
	for round := range 2 * runs {
		raftLeader := round >= runs
		var survivor *clusterNode
		for _, c := range nodes {
			if c.alive() {
				survivor = c
				break
			}
		}
		adm := newAdmin(t, survivor.kafka)
		dc, err := adm.BrokerMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var victim *clusterNode
		for _, c := range nodes {
			if (c.id == dc.Controller) == raftLeader {
				victim = c
				break
			}
		}
		for _, c := range nodes {
			if c != victim {
				survivor = c
			}
		}
		sadm := newAdmin(t, survivor.kafka)
		// Placement gives a new topic's leaders to the broker leading
		// fewest, often the one restarted last, and the ISR of older
		// topics only shrinks: give this round's topic leaders on the
		// victim and full ISRs with an explicit assignment.
		topic := fmt.Sprintf("failover-%d", round)
		createAssigned(t, survivor.kafka, topic, 12, func(p int32) []int32 {
			rs := []int32{victim.id}
			for _, c := range nodes {
				if c != victim {
					rs = append(rs, c.id)
				}
			}
			if p%2 == 1 {
				rs[1], rs[2] = rs[2], rs[1]
			}
			return rs
		})
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
		// A producer that knows the victim as partition 0's leader.
		all := nodes[0].kafka + "," + nodes[1].kafka + "," + nodes[2].kafka
		pcl := newClient(t, all, kgo.SeedBrokers(strings.Split(all, ",")...), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }), kgo.RecordDeliveryTimeout(60*time.Second))
		if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("before")}).FirstErr(); err != nil {
			t.Fatalf("round %d: produce before the kill: %v", round, err)
		}
		victim.signal(t, syscall.SIGKILL)
		killed := time.Now()
		t.Logf("round %d: SIGKILL at %s", round, killed.UTC().Format("15:04:05.000"))
		firstAck := make(chan time.Duration, 1)
		go func() {
			err := pcl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")}).FirstErr()
			if err != nil {
				t.Errorf("round %d: produce after the kill: %v", round, err)
			}
			firstAck <- time.Since(killed)
		}()
		if raftLeader {
			w := awaitMetadataWrite(t, sadm, fmt.Sprintf("failover-%d-after", round), killed)
			m := awaitLeadersMoved(t, survivor.kafka, topic, victim.id, before, killed)
			raftWrote, raftMoved = append(raftWrote, w), append(raftMoved, m)
			t.Logf("round %d: raft leader %d (led %d of 12) killed; next metadata write after %v, leaders visible elsewhere after %v", round, victim.id, led, w, m)
		} else {
			m := awaitLeadersMoved(t, survivor.kafka, topic, victim.id, before, killed)
			brokerMoved = append(brokerMoved, m)
			t.Logf("round %d: broker %d (led %d of 12) killed; leaders visible elsewhere after %v", round, victim.id, led, m)
		}
		// A client that starts once the new leaders are visible: what the
		// brokers take, without the old client's own retry schedule.
		fresh := newClient(t, survivor.kafka, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err := fresh.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("probe")}).FirstErr(); err != nil {
			t.Errorf("round %d: fresh client produce: %v", round, err)
		}
		freshAck := time.Since(killed)
		fresh.Close()
		freshAcked = append(freshAcked, freshAck)
		ack := <-firstAck
		produced = append(produced, ack)
		t.Logf("round %d: first acks=all produce acknowledged by the new leader %v after the kill (a client started once leaders were visible: %v)", round, ack, freshAck)
		pcl.Close()
		victim.waitExit(t, 5*time.Second)
		victim.start(t, bin, 3, join)
		victim.waitReady(t, 60*time.Second)
	}
	report("broker (not the raft leader) SIGKILL → leaders visible elsewhere", brokerMoved)
	report("raft leader SIGKILL → next metadata write", raftWrote)
	report("raft leader SIGKILL → leaders visible elsewhere", raftMoved)
	report("partition leader SIGKILL (either kind) → first acks=all produce acknowledged (client that knew the old leader)", produced)
	report("partition leader SIGKILL (either kind) → acks=all produce acknowledged (client started once leaders were visible)", freshAcked)
	if f := os.Getenv("STRATA_FAILOVER_LOGS"); f != "" {
		_ = os.WriteFile(f, []byte(keepLogs(t, nodes)), 0o644)
	}
}

// createAssigned creates topic with parts partitions whose replicas are
// replicas(p), the first one the preferred leader.
func createAssigned(t testing.TB, addr, topic string, parts int32, replicas func(p int32) []int32) {
	t.Helper()
	cl := newClient(t, addr)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p := range parts {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = p, replicas(p)
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}
