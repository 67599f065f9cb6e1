package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterTransactions: transactions whose partitions are led by
// three different nodes. The transaction coordinator writes the markers of
// the partitions it leads itself and sends WriteTxnMarkers to the other
// leaders; a read_committed consumer sees every committed record once, in
// order, and nothing aborted; no partition is left with an open
// transaction holding back its last stable offset. The same holds for
// consume-transform-produce, where the group's offsets commit in the
// transaction on whichever node coordinates the group, with franz-go and
// with confluent-kafka.
func TestClusterTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestClusterWith(t, 3, groupSettings())
	addr := nodes[0].kafka
	spread := func(t *testing.T, topic string) map[int32]int32 {
		t.Helper()
		ls := leaders(t, addr, topic)
		seen := map[int32]bool{}
		for _, l := range ls {
			seen[l] = true
		}
		if len(seen) != 3 {
			t.Fatalf("%s: leaders on %d nodes, want 3", topic, len(seen))
		}
		return ls
	}

	t.Run("franz-go", func(t *testing.T) {
		const topic, per = "ctx", 30
		createTopic(t, addr, topic, 3, nil)
		spread(t, topic)
		cl := txnClient(t, nodes[1].kafka, "ctx-producer", kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		produceTxn(t, cl, topic, 0, per, true)
		produceTxn(t, cl, topic, per, per, false)
		produceTxn(t, cl, topic, 2*per, per, true)

		adm := newAdmin(t, addr)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		co := adm.FindTxnCoordinators(ctx, "ctx-producer")
		if r, ok := co["ctx-producer"]; !ok || r.Err != nil {
			t.Fatalf("find transaction coordinator: %+v", co)
		} else {
			t.Logf("transaction coordinator: node %d", r.NodeID)
		}

		// Every partition's last stable offset reached its end: each got
		// its three markers, wherever it is led.
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			s, _ := stable.Lookup(topic, o.Partition)
			// per/3 records in each of three transactions plus a
			// marker after each.
			if o.Err != nil || s.Offset != o.Offset || o.Offset != int64(3*(per/3+1)) {
				t.Errorf("partition %d: last stable %d, end %d (%v), want both %d", o.Partition, s.Offset, o.Offset, o.Err, 3*(per/3+1))
			}
		})

		got := consumeN(t, nodes[2].kafka, topic, 2*per, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		last := map[int32]int{}
		seen := map[int]bool{}
		for _, r := range got {
			v, _ := strconv.Atoi(string(r.Value))
			if v >= per && v < 2*per {
				t.Fatalf("read_committed consumer saw aborted record %d", v)
			}
			if seen[v] {
				t.Fatalf("record %d served twice", v)
			}
			seen[v] = true
			if prev, ok := last[r.Partition]; ok && v <= prev {
				t.Fatalf("partition %d: record %d after %d", r.Partition, v, prev)
			}
			last[r.Partition] = v
		}
		consumeN(t, nodes[0].kafka, topic, 3*per, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	})

	t.Run("franz-go-consume-transform-produce", func(t *testing.T) {
		// A transactional ID and group coordinated by different nodes, so
		// the offsets' marker crosses to the group coordinator.
		adm := newAdmin(t, addr)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		prefix := ""
		for i := range 20 {
			p := "ceos" + strconv.Itoa(i)
			g := adm.FindGroupCoordinators(ctx, p+"-group")[p+"-group"]
			x := adm.FindTxnCoordinators(ctx, p+"-txn")[p+"-txn"]
			if g.Err == nil && x.Err == nil && g.NodeID != x.NodeID {
				t.Logf("%s: group coordinator node %d, transaction coordinator node %d", p, g.NodeID, x.NodeID)
				prefix = p
				break
			}
		}
		if prefix == "" {
			t.Fatal("no group and transactional ID pair with different coordinators in 20 tries")
		}
		createTopic(t, addr, prefix+"-in", 3, nil)
		createTopic(t, addr, prefix+"-out", 3, nil)
		spread(t, prefix+"-in")
		spread(t, prefix+"-out")
		transformExactlyOnce(t, nodes[0].kafka, nodes[2].kafka, prefix, 300)
	})

	t.Run("confluent-kafka", func(t *testing.T) {
		py := pythonWith(t, "confluent_kafka", "python3-confluent-kafka")
		runConfluentTransactions(t, addr, nodes[1].kafka, py, clientScript(t, "py_confluent.py"))
		spread(t, "py-txn")
	})

	t.Run("confluent-kafka-consume-transform-produce", func(t *testing.T) {
		py := pythonWith(t, "confluent_kafka", "python3-confluent-kafka")
		runConfluentConsumeTransformProduce(t, addr, nodes[2].kafka, py)
		spread(t, "ctp-out")
	})
}
