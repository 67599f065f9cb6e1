package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fillDisk writes to a file in dir until the filesystem refuses more.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	return filler
}

// TestReplicationFollowerDiskFull: one follower of an RF 3,
// min.insync.replicas=2 partition keeps its data on a small tmpfs, which
// fills up under an acks=all producer. The follower cannot store the
// leader's records, takes itself out of the ISR at once (not after
// replica.lag.time.max.ms, 30 s) so acknowledgements go on with the two
// others, and once space is freed it catches up and rejoins; nothing
// acknowledged is lost, duplicated, moved or reordered. Needs root to
// mount the tmpfs; skipped otherwise.
func TestReplicationFollowerDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	bin := strataBinary(t)
	nodes := newClusterNodes(t, 3)
	full := nodes[2]
	if err := os.MkdirAll(full.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", full.dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", full.dir).Run() })
	join := joinList(nodes)
	for _, c := range nodes {
		c.settings = map[string]string{"log.segment.bytes": "1048576"}
		c.start(t, bin, 3, join)
	}
	waitAllReady(t, nodes, 60*time.Second)
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	const topic = "diskfull"
	createAssigned(t, nodes[0].kafka, topic, 1, func(int32) []int32 { return []int32{nodes[0].id, nodes[1].id, full.id} })
	setTopicConfig(t, nodes[0].kafka, topic, "min.insync.replicas", "2")
	awaitFullISR(t, nodes[0].kafka, topic, 3, 30*time.Second)

	all := nodes[0].kafka + "," + nodes[1].kafka + "," + nodes[2].kafka
	prod := startProducing(t, all, topic, 256)
	time.Sleep(time.Second)
	filler := fillDisk(t, full.dir)
	filled := time.Now()
	t.Logf("node %d's disk filled", full.id)
	var left time.Duration
	for {
		if isr := isrOf(t, nodes[0].kafka, topic)[0]; !slices.Contains(isr, full.id) {
			left = time.Since(filled)
			t.Logf("node %d left the ISR %v after %v", full.id, isr, left.Round(time.Millisecond))
			break
		}
		if time.Since(filled) > 20*time.Second {
			t.Fatalf("node %d is still in the ISR %v after 20 s with a full disk", full.id, isrOf(t, nodes[0].kafka, topic)[0])
		}
		time.Sleep(50 * time.Millisecond)
	}
	before := prod.acked.count()
	time.Sleep(2 * time.Second)
	if after := prod.acked.count(); after <= before {
		t.Fatalf("no acknowledgement in the 2 s after node %d left the ISR (%d)", full.id, after)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	back := awaitFullISR(t, nodes[0].kafka, topic, 3, 60*time.Second)
	t.Logf("node %d back in the ISR %v after space was freed", full.id, back.Round(time.Millisecond))
	prod.Stop()
	read := checkAcked(t, nodes[0].kafka, topic, prod.acked)
	t.Logf("%d records acknowledged (%d produce failures), %d read back", prod.acked.count(), prod.acked.fails, read)
}
