package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompactionReplicatedAcrossKills runs a compacted topic at RF 3: a
// follower is SIGKILLed, the leader writes and cleans on, the follower
// comes back and copies the leader's compacted log (gaps included); then
// the leader is SIGKILLed and the new leader, cleaning its own copy,
// serves exactly the latest acknowledged value of every key.
func TestCompactionReplicatedAcrossKills(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestClusterWith(t, 3, map[string]string{"log.cleaner.backoff.ms": "100", "log.retention.check.interval.ms": "100",
		// Tiered: the cleaner works below the cold tier's end, so uploads run often.
		"remote.log.manager.task.interval.ms": "100"})
	bin := strataBinary(t)
	const topic = "inventory"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := newAdmin(t, nodes[0].kafka)
	cfg := map[string]*string{}
	for k, v := range map[string]string{"cleanup.policy": "compact", "segment.bytes": "8192", "segment.ms": "500",
		"min.cleanable.dirty.ratio": "0", "delete.retention.ms": "600000", "min.insync.replicas": "2"} {
		cfg[k] = &v
	}
	if r, err := adm.CreateTopic(ctx, 1, 3, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	seeds := kgo.SeedBrokers(nodes[0].kafka, nodes[1].kafka, nodes[2].kafka)
	cl := newClient(t, nodes[0].kafka, seeds, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Millisecond))
	latest, _ := keyedHistory(t, cl, topic, 200, 4)
	rollActive(t, cl, topic, latest)
	leader := leaders(t, nodes[0].kafka, topic)[0]
	var follower *clusterNode
	for _, c := range nodes {
		if c.id != leader {
			follower = c
			break
		}
	}
	awaitCompacted(t, nodes[leader-1].kafka, topic, latest, true)

	// A follower dies; the leader goes on writing and cleaning.
	follower.signal(t, syscall.SIGKILL)
	follower.waitExit(t, 5*time.Second)
	for v := 0; v < 4; v++ {
		for k := 0; k < 200; k += 2 {
			key, val := fmt.Sprintf("k%04d", k), fmt.Sprintf("k%04d-late%d", k, v)
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: []byte(val)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			latest[key] = &val
		}
	}
	rollActive(t, cl, topic, latest)
	awaitCompacted(t, nodes[leader-1].kafka, topic, latest, true)

	// It comes back and catches up from the compacted log.
	follower.start(t, bin, 0, joinList(nodes))
	follower.waitReady(t, 60*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	for {
		md, err := adm.Metadata(ctx, topic)
		if err == nil && len(md.Topics[topic].Partitions[0].ISR) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted follower did not rejoin the ISR: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The leader dies: a follower, possibly the one that copied the
	// compacted log, leads and serves every key's latest value.
	nodes[leader-1].signal(t, syscall.SIGKILL)
	nodes[leader-1].waitExit(t, 5*time.Second)
	var survivor *clusterNode
	for _, c := range nodes {
		if c.id != leader {
			survivor = c
			break
		}
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		if l := leaders(t, survivor.kafka, topic)[0]; l > 0 && l != leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no new leader")
		}
		time.Sleep(200 * time.Millisecond)
	}
	recs := awaitCompacted(t, survivor.kafka, topic, latest, true)
	t.Logf("leader %d killed; the new leader serves %d records, the latest of every key", leader, len(recs))
}
