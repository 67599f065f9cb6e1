package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// netTopo is a network made of Linux network namespaces for cluster
// tests that need real network partitions: node i runs in its own
// namespace with the address 10.213.K.i on its loopback, reaches every
// other node over a veth pair of its own (one per pair of nodes) and the
// test process over one more. Cutting a node-to-node link partitions
// exactly those two nodes while clients still reach both; Cut and Heal
// set the link down and up. Needs root (CAP_NET_ADMIN) and iproute2;
// tests skip without them.
type netTopo struct {
	t      testing.TB
	tag    string // unique prefix of this topology's names
	subnet int    // K
	n      int
}

// netnsUnavailable says why network namespaces cannot be made here, or "".
func netnsUnavailable() string {
	if os.Geteuid() != 0 {
		return "network namespaces need root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "network namespaces need iproute2's ip"
	}
	return ""
}

// newNetTopo builds the namespaces for n nodes, removed at cleanup; the
// test skips where they cannot be made.
func newNetTopo(t testing.TB, n int) *netTopo {
	t.Helper()
	if why := netnsUnavailable(); why != "" {
		t.Skip(why)
	}
	nt := &netTopo{t: t, tag: fmt.Sprintf("st%03d", rand.IntN(1000)), subnet: 1 + rand.IntN(250), n: n}
	t.Cleanup(nt.remove)
	nt.ip("addr", "add", nt.clientAddr()+"/32", "dev", "lo")
	for i := 1; i <= n; i++ {
		ns := nt.ns(i)
		nt.ip("netns", "add", ns)
		nt.ip("-n", ns, "link", "set", "lo", "up")
		nt.ip("-n", ns, "addr", "add", nt.addr(i)+"/32", "dev", "lo")
		// The test process's link: host end in the root namespace.
		host := fmt.Sprintf("%sc%d", nt.tag, i)
		nt.ip("link", "add", host, "type", "veth", "peer", "name", "cl", "netns", ns)
		nt.ip("link", "set", host, "up")
		nt.ip("-n", ns, "link", "set", "cl", "up")
		nt.ip("route", "add", nt.addr(i)+"/32", "dev", host, "src", nt.clientAddr())
		nt.ip("-n", ns, "route", "add", nt.clientAddr()+"/32", "dev", "cl", "src", nt.addr(i))
	}
	for i := 1; i <= n; i++ {
		for j := i + 1; j <= n; j++ {
			nt.ip("link", "add", "name", fmt.Sprintf("p%d", j), "netns", nt.ns(i), "type", "veth", "peer", "name", fmt.Sprintf("p%d", i), "netns", nt.ns(j))
			nt.Heal(i, j)
		}
	}
	return nt
}

func (nt *netTopo) ns(i int) string             { return fmt.Sprintf("%sn%d", nt.tag, i) }
func (nt *netTopo) addr(i int) string           { return fmt.Sprintf("10.213.%d.%d", nt.subnet, i) }
func (nt *netTopo) clientAddr() string          { return fmt.Sprintf("10.213.%d.254", nt.subnet) }
func (nt *netTopo) hostPort(i, port int) string { return fmt.Sprintf("%s:%d", nt.addr(i), port) }

func (nt *netTopo) ip(args ...string) {
	nt.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		nt.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Cut takes down the link between nodes i and j (both directions).
func (nt *netTopo) Cut(i, j int) {
	nt.t.Helper()
	nt.ip("-n", nt.ns(i), "link", "set", fmt.Sprintf("p%d", j), "down")
	nt.ip("-n", nt.ns(j), "link", "set", fmt.Sprintf("p%d", i), "down")
}

// Heal brings the link between nodes i and j up again, with its routes.
func (nt *netTopo) Heal(i, j int) {
	nt.t.Helper()
	for _, e := range [][2]int{{i, j}, {j, i}} {
		dev := fmt.Sprintf("p%d", e[1])
		nt.ip("-n", nt.ns(e[0]), "link", "set", dev, "up")
		nt.ip("-n", nt.ns(e[0]), "route", "replace", nt.addr(e[1])+"/32", "dev", dev, "src", nt.addr(e[0]))
	}
}

// Isolate cuts node i from every other node; clients still reach it.
func (nt *netTopo) Isolate(i int) {
	for j := 1; j <= nt.n; j++ {
		if j != i {
			nt.Cut(i, j)
		}
	}
}

// Rejoin heals every link of node i.
func (nt *netTopo) Rejoin(i int) {
	for j := 1; j <= nt.n; j++ {
		if j != i {
			nt.Heal(i, j)
		}
	}
}

func (nt *netTopo) remove() {
	for i := 1; i <= nt.n; i++ {
		_ = exec.Command("ip", "netns", "del", nt.ns(i)).Run() // takes its veth ends, and so their peers, with it
	}
	_ = exec.Command("ip", "addr", "del", nt.clientAddr()+"/32", "dev", "lo").Run()
}

// newNetClusterNodes allocates n cluster nodes, node i in namespace i
// with fixed ports on its own address.
func newNetClusterNodes(t testing.TB, nt *netTopo) []*clusterNode {
	store := "file://" + t.TempDir()
	var out []*clusterNode
	for i := 1; i <= nt.n; i++ {
		out = append(out, &clusterNode{
			id: int32(i), kafka: nt.hostPort(i, 9092), http: nt.hostPort(i, 9644), gossip: nt.hostPort(i, 7946), raft: nt.hostPort(i, 7947),
			dir: t.TempDir(), logPath: filepath.Join(t.TempDir(), "node.log"), store: store, netns: nt.ns(i),
		})
	}
	return out
}

// startNetCluster starts a cluster of nt.n nodes, one per namespace.
func startNetCluster(t testing.TB, nt *netTopo) []*clusterNode {
	t.Helper()
	nodes := newNetClusterNodes(t, nt)
	for _, c := range nodes {
		c.start(t, strataBinary(t), nt.n, joinList(nodes))
	}
	waitAllReady(t, nodes, 60*time.Second)
	return nodes
}
