package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClusterRefusesBadJoins: a process that joins with a node ID already
// in use, another cluster's gossip key, no key where the cluster uses one,
// or the cluster ID of another cluster is refused and exits with the
// reason in its log, and the established cluster carries on unchanged.
func TestClusterRefusesBadJoins(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	keyDir := t.TempDir()
	writeKey := func(name, b64 string) string {
		p := filepath.Join(keyDir, name)
		if err := os.WriteFile(p, []byte(b64+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := writeKey("key", "cg8StVXbQJ0gPvMd9o7yrg==")
	otherKey := writeKey("other", "HvY8ubRZMgafUOWvrOadwQ==")
	bin := strataBinary(t)

	nodes := newClusterNodes(t, 2)
	a := nodes[0]
	a.args = []string{"--gossip-key-file", key}
	a.start(t, bin, 1, a.gossip)
	waitAllReady(t, []*clusterNode{a}, 60*time.Second)

	refused := func(t *testing.T, c *clusterNode, want string) {
		t.Helper()
		c.start(t, bin, 0, a.gossip)
		deadline := time.Now().Add(30 * time.Second)
		for c.alive() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if c.alive() {
			t.Fatalf("node %d was not refused; its log:\n%s\nthe cluster's log:\n%s", c.id, c.log(t), a.log(t))
		}
		if c.cmd.ProcessState.ExitCode() == 0 {
			t.Fatalf("node %d exited 0 after a refused join", c.id)
		}
		if log := c.log(t); !strings.Contains(log, want) {
			t.Fatalf("node %d log does not name the reason %q:\n%s", c.id, want, log)
		}
		// The established node is undisturbed and still alone.
		waitAllReady(t, []*clusterNode{a}, 10*time.Second)
		adm := newAdmin(t, a.kafka)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		md, err := adm.BrokerMetadata(ctx)
		if err != nil || len(md.Brokers) != 1 || md.Brokers[0].NodeID != 1 {
			t.Fatalf("brokers after the refused join: %+v %v", md.Brokers, err)
		}
	}

	t.Run("duplicate-node-id", func(t *testing.T) {
		dup := newClusterNodes(t, 1)[0]
		dup.id = 1
		dup.args = []string{"--gossip-key-file", key}
		refused(t, dup, "duplicate node id")
	})
	t.Run("other-gossip-key", func(t *testing.T) {
		c := newClusterNodes(t, 1)[0]
		c.id = 2
		c.args = []string{"--gossip-key-file", otherKey}
		refused(t, c, "gossip key mismatch")
	})
	t.Run("no-gossip-key", func(t *testing.T) {
		c := newClusterNodes(t, 1)[0]
		c.id = 3
		refused(t, c, "gossip key mismatch")
	})
	t.Run("other-cluster-id", func(t *testing.T) {
		// A node that formed a cluster of its own, restarted with a join
		// list pointing at the first cluster.
		b := nodes[1]
		b.id = 5
		// Its own store too: the shared one belongs to the first cluster,
		// and a node of another cluster is refused there first.
		b.args = []string{"--gossip-key-file", key, "--object-store", "file://" + t.TempDir()}
		b.start(t, bin, 1, b.gossip)
		waitAllReady(t, []*clusterNode{b}, 60*time.Second)
		b.signal(t, 15)
		deadline := time.Now().Add(30 * time.Second)
		for b.alive() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if b.alive() {
			t.Fatalf("node 5 did not exit on SIGTERM; log:\n%s", b.log(t))
		}
		refused(t, b, "incompatible cluster id")
	})
}
