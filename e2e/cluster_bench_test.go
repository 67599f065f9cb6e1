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

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterFailoverTimes measures, over STRATA_FAILOVER_RUNS rounds of
// a 3-node cluster, the time from SIGKILL of a broker leading partitions
// until a survivor's Metadata shows all of them led elsewhere: first with
// a broker that is not the raft leader, then with the raft leader (also
// the time to the next committed metadata write), restarting the victim
// between rounds. It only reports (make bench-failover); no assertion is
// made on the times.
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
	var brokerMoved, raftWrote, raftMoved []time.Duration
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
		victim.signal(t, syscall.SIGKILL)
		killed := time.Now()
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
		victim.waitExit(t, 5*time.Second)
		victim.start(t, bin, 3, join)
		victim.waitReady(t, 60*time.Second)
	}
	report("broker (not the raft leader) SIGKILL → leaders visible elsewhere", brokerMoved)
	report("raft leader SIGKILL → next metadata write", raftWrote)
	report("raft leader SIGKILL → leaders visible elsewhere", raftMoved)
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
