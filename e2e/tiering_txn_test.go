package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTieringKeepsAbortedTransactions checks that read_committed consumers
// of the cold tier still skip aborted transactions: after the segments that
// hold them (and their .txnindex files) have left local disk, after a
// restart, and after a restore from an empty data directory.
func TestTieringKeepsAbortedTransactions(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	addr := n.KafkaAddr()
	topic := "tier-txn"
	seg, segMs, local := "1024", "300", "0"
	createTopic(t, addr, topic, 1, map[string]*string{"segment.bytes": &seg, "segment.ms": &segMs, "local.retention.bytes": &local})
	cl := txnClient(t, addr, "tier-txn-producer")
	// Ten transactions of 10 records, every other one aborted.
	for i := 0; i < 10; i++ {
		produceTxn(t, cl, topic, i*10, 10, i%2 == 1) // commit the odd ones
	}
	cl.Close()
	raw := newClient(t, addr)
	end := endOffset(t, raw, topic, false)
	waitUntil(t, "the transactions in the cold tier and off local disk", 30*time.Second, func() bool {
		st := tierStatus(n, topic)
		return st.RemoteEndOffset >= end-1 && st.PendingSegments == 0 && st.LocalStartOffset > 50
	})
	check := func(stage, addr string) {
		t.Helper()
		got := consumeN(t, addr, topic, 50, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		for _, r := range got {
			v, _ := strconv.Atoi(string(r.Value))
			if (v/10)%2 == 0 {
				t.Fatalf("%s: read_committed returned record %d of an aborted transaction (offset %d)", stage, v, r.Offset)
			}
		}
	}
	check("cold tier", addr)

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, dir, nil)
	check("after restart", n2.KafkaAddr())

	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "kafka")); err != nil {
		t.Fatal(err)
	}
	n3 := startNode(t, dir, nil)
	check("after restore from an empty data directory", n3.KafkaAddr())
}
