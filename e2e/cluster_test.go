package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clusterNode is one `strata node` process of a test cluster.
type clusterNode struct {
	id                        int32
	kafka, http, gossip, raft string
	dir, logPath              string
	store                     string            // --object-store, shared by the nodes
	settings                  map[string]string // passed as --set
	args                      []string          // further node flags
	netns                     string            // network namespace to run in (netns_test.go), "" for the test's own
	cmd                       *exec.Cmd
}

func (c *clusterNode) alive() bool { return c.cmd != nil && c.cmd.ProcessState == nil }

func (c *clusterNode) log(t testing.TB) string {
	b, _ := os.ReadFile(c.logPath)
	return string(b)
}

// newClusterNodes allocates addresses and directories for n nodes whose
// --join lists every one of them (their own address included).
func newClusterNodes(t testing.TB, n int) []*clusterNode {
	var out []*clusterNode
	store := "file://" + t.TempDir() // the bucket the nodes share
	for i := range n {
		out = append(out, &clusterNode{
			id: int32(i + 1), kafka: freeAddr(t), http: freeAddr(t), gossip: freeAddr(t), raft: freeAddr(t),
			dir: t.TempDir(), logPath: filepath.Join(t.TempDir(), "node.log"), store: store,
		})
	}
	return out
}

func joinList(nodes []*clusterNode) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.gossip)
	}
	return strings.Join(s, ",")
}

// start runs the node with --bootstrap-expect expect (0: a broker that
// only joins) and the given seeds; it does not wait for readiness.
func (c *clusterNode) start(t testing.TB, bin string, expect int, join string) {
	t.Helper()
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"node", "--node-id", strconv.Itoa(int(c.id)), "--data-dir", c.dir,
		"--http-addr", c.http, "--gossip-addr", c.gossip, "--raft-addr", c.raft,
		"--join", join, "--log-level", "debug"}
	if !slices.Contains(c.args, "--listeners") {
		args = append(args, "--kafka-addr", c.kafka)
	}
	if c.store != "" {
		args = append(args, "--object-store", c.store)
	}
	if expect > 0 {
		args = append(args, "--bootstrap-expect", strconv.Itoa(expect))
	}
	for k, v := range c.settings {
		args = append(args, "--set", k+"="+v)
	}
	args = append(args, c.args...)
	cmd := exec.Command(bin, args...)
	if c.netns != "" {
		// ip netns exec enters the namespace and execs the node: the
		// process (and so every signal sent to it) is the node's own.
		cmd = exec.Command("ip", append([]string{"netns", "exec", c.netns, bin}, args...)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.cmd = cmd
	go func() { _ = cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		if c.alive() {
			_ = cmd.Process.Kill()
		}
	})
}

func (c *clusterNode) waitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + c.http + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if !c.alive() {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("node %d not ready; log:\n%s", c.id, c.log(t))
}

// waitAllReady waits until every node answers /readyz, failing with the
// log of the first node that exits meanwhile (not of whichever waits on
// it) or, at the timeout, of every node not ready.
func waitAllReady(t testing.TB, nodes []*clusterNode, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	ready := map[int32]bool{}
	for time.Now().Before(deadline) {
		for _, c := range nodes {
			if ready[c.id] {
				continue
			}
			if resp, err := http.Get("http://" + c.http + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					ready[c.id] = true
					continue
				}
			}
			if !c.alive() {
				t.Fatalf("node %d exited before the cluster formed; log:\n%s", c.id, c.log(t))
			}
		}
		if len(ready) == len(nodes) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	var b strings.Builder
	for _, c := range nodes {
		if !ready[c.id] {
			fmt.Fprintf(&b, "node %d not ready; log:\n%s\n", c.id, c.log(t))
		}
	}
	t.Fatalf("cluster not formed in %v:\n%s", timeout, b.String())
}

func (c *clusterNode) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

func (c *clusterNode) waitExit(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for c.alive() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c.alive() {
		t.Fatalf("node %d did not exit", c.id)
	}
}

func startTestCluster(t testing.TB, n int) []*clusterNode {
	t.Helper()
	return startTestClusterWith(t, n, nil)
}

// startTestClusterWith starts n nodes with the same broker settings.
func startTestClusterWith(t testing.TB, n int, settings map[string]string) []*clusterNode {
	t.Helper()
	bin := strataBinary(t)
	nodes := newClusterNodes(t, n)
	for _, c := range nodes {
		c.settings = settings
	}
	join := joinList(nodes)
	began := time.Now()
	for _, c := range nodes {
		c.start(t, bin, n, join)
	}
	waitAllReady(t, nodes, 60*time.Second)
	t.Logf("%d-node cluster formed in %v", n, time.Since(began))
	return nodes
}

// leaders maps each partition of topic to its leader, as seen through addr.
func leaders(t testing.TB, addr, topic string) map[int32]int32 {
	t.Helper()
	adm := newAdmin(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatalf("metadata via %s: %v", addr, err)
	}
	out := map[int32]int32{}
	for _, p := range md.Topics[topic].Partitions {
		out[p.Partition] = p.Leader
	}
	return out
}

func TestClusterFormsRoutesAndFailsOver(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Create from node 2; every node lists every partition at once.
	adm := newAdmin(t, nodes[1].kafka)
	resp, err := adm.CreateTopic(ctx, 6, 3, nil, "rf3")
	if err != nil || resp.Err != nil {
		t.Fatalf("create rf3: %v %v", err, resp.Err)
	}
	for _, c := range nodes {
		got := leaders(t, c.kafka, "rf3")
		if len(got) != 6 {
			t.Fatalf("node %d lists %d partitions of rf3 right after CreateTopics, want 6", c.id, len(got))
		}
		seen := map[int32]bool{}
		for _, l := range got {
			seen[l] = true
		}
		if len(seen) != 3 {
			t.Fatalf("node %d: leaders %v do not spread over the 3 brokers", c.id, got)
		}
	}

	// RF 1: each partition's data lives on its leader only, so this checks
	// routing: a client bootstrapped on node 1 reaches all three leaders.
	if resp, err := adm.CreateTopic(ctx, 6, 1, nil, "rf1"); err != nil || resp.Err != nil {
		t.Fatalf("create rf1: %v %v", err, resp.Err)
	}
	cl := newClient(t, nodes[0].kafka, kgo.DefaultProduceTopic("rf1"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	const records = 600
	rf1At := map[string]int32{} // value -> partition it was acknowledged in
	for i := range records {
		res := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))})
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		rf1At[fmt.Sprint(i)] = res[0].Record.Partition
	}
	rf1Leaders := leaders(t, nodes[0].kafka, "rf1")
	got := consumeN(t, nodes[2].kafka, "rf1", records)
	checkOncePerValue(t, got, records)

	// SIGKILL the raft leader (it is also a broker): metadata writes resume
	// on a new leader and its partition leaderships move.
	ctrl := newAdmin(t, nodes[0].kafka)
	dc, err := ctrl.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	victim := nodes[dc.Controller-1]
	before := leaders(t, nodes[0].kafka, "rf3")
	victim.signal(t, syscall.SIGKILL)
	victim.waitExit(t, 5*time.Second)
	killed := time.Now()
	survivor := nodes[(dc.Controller)%3]
	sadm := newAdmin(t, survivor.kafka)
	wrote := awaitMetadataWrite(t, sadm, "after-kill", killed)
	moved := awaitLeadersMoved(t, survivor.kafka, "rf3", victim.id, before, killed)
	t.Logf("raft leader %d killed: next metadata write after %v, its leaderships moved after %v", victim.id, wrote, moved)

	// The operator's view says the same: a new raft leader, the killed
	// node fenced and leading nothing.
	out, err := exec.Command(strataBinary(t), "cluster", "status", "--bootstrap", survivor.kafka).CombinedOutput()
	if err != nil {
		t.Fatalf("strata cluster status: %v\n%s", err, out)
	}
	if m := regexp.MustCompile(`(?m)^raft leader:\s+(\d+) `).FindSubmatch(out); m == nil || string(m[1]) == fmt.Sprint(victim.id) {
		t.Fatalf("cluster status names no new raft leader:\n%s", out)
	}
	if !regexp.MustCompile(fmt.Sprintf(`(?m)^%d\s+\S+\s+-\s+voter\s+fenced\s+-\s+-\s+0\s+\d+$`, victim.id)).Match(out) {
		t.Fatalf("cluster status does not show node %d fenced and leading nothing:\n%s", victim.id, out)
	}

	// Routing follows: produce to every rf3 partition through a survivor.
	pc := newClient(t, survivor.kafka, kgo.DefaultProduceTopic("rf3"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	for i := range 60 {
		if err := pc.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatalf("produce to rf3 after failover %d: %v", i, err)
		}
	}
	// RF 1 partitions of the survivors kept every acknowledged record, in
	// order, and serve them through a survivor.
	var keep []*clusterNode
	for _, c := range nodes {
		if c != victim {
			keep = append(keep, c)
		}
	}
	live := map[int32]kgo.Offset{}
	want := map[string]bool{}
	for p, l := range rf1Leaders {
		if l != victim.id {
			live[p] = kgo.NewOffset().AtStart()
		}
	}
	for v, p := range rf1At {
		if _, ok := live[p]; ok {
			want[v] = true
		}
	}
	rc := newClient(t, survivor.kafka, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"rf1": live}))
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	defer rcancel()
	var back []*kgo.Record
	for len(back) < len(want) && rctx.Err() == nil {
		fs := rc.PollFetches(rctx)
		back = append(back, fs.Records()...)
	}
	lastOff := map[int32]int64{}
	for _, r := range back {
		if !want[string(r.Value)] || rf1At[string(r.Value)] != r.Partition {
			t.Fatalf("after failover read %q from partition %d, acknowledged in %d", r.Value, r.Partition, rf1At[string(r.Value)])
		}
		if prev, ok := lastOff[r.Partition]; ok && r.Offset <= prev {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
		}
		lastOff[r.Partition] = r.Offset
		delete(want, string(r.Value))
	}
	if len(want) > 0 {
		t.Fatalf("after failover %d acknowledged records on live RF1 partitions were not served (read %d)", len(want), len(back))
	}

	// A fourth node joins as a non-voter and gets new partitions.
	bin := strataBinary(t)
	n4 := newClusterNodes(t, 1)[0]
	n4.id, n4.store = 4, keep[0].store
	n4.start(t, bin, 3, joinList(append(keep, n4)))
	n4.waitReady(t, 60*time.Second)
	if r, err := sadm.CreateTopic(ctx, 8, 1, nil, "spread4"); err != nil || r.Err != nil {
		t.Fatalf("create spread4: %v %v", err, r.Err)
	}
	on4 := 0
	for _, l := range leaders(t, n4.kafka, "spread4") {
		if l == 4 {
			on4++
		}
	}
	if on4 == 0 {
		t.Fatalf("the new node leads none of spread4's partitions")
	}
	if !strings.Contains(keepLogs(t, keep), "add-nonvoter 4") {
		t.Fatalf("node 4 was not added as a non-voter")
	}

	// SIGTERM node 4: it hands its leaderships over before it exits.
	n4.signal(t, syscall.SIGTERM)
	n4.waitExit(t, 30*time.Second)
	if !strings.Contains(n4.log(t), "controlled shutdown: leaderships moved") {
		t.Fatalf("node 4 exited without a controlled shutdown; log:\n%s", n4.log(t))
	}
	for p, l := range leaders(t, survivor.kafka, "spread4") {
		if l == 4 {
			t.Fatalf("partition %d still led by stopped node 4", p)
		}
	}

	// SIGKILL a broker that is not the controller (node 4 again, back on
	// its data directory): its lease lapses and the controller moves its
	// leaderships to live replicas, leaving the others where they are.
	n4.start(t, bin, 3, joinList(append(keep, n4)))
	n4.waitReady(t, 60*time.Second)
	if r, err := sadm.CreateTopic(ctx, 8, 3, nil, "rf3k"); err != nil || r.Err != nil {
		t.Fatalf("create rf3k: %v %v", err, r.Err)
	}
	before4 := leaders(t, survivor.kafka, "rf3k")
	led4 := 0
	for _, l := range before4 {
		if l == 4 {
			led4++
		}
	}
	if led4 == 0 {
		t.Fatalf("node 4 leads none of rf3k's partitions: %v", before4)
	}
	n4.signal(t, syscall.SIGKILL)
	n4.waitExit(t, 5*time.Second)
	killed = time.Now()
	moved = awaitLeadersMoved(t, survivor.kafka, "rf3k", 4, before4, killed)
	t.Logf("broker 4 (not the controller) killed: its %d leaderships moved after %v", led4, moved)
}

func keepLogs(t testing.TB, nodes []*clusterNode) string {
	var b strings.Builder
	for _, c := range nodes {
		b.WriteString(c.log(t))
	}
	return b.String()
}

// checkOncePerValue checks records carry the values 0..n-1 exactly once.
func checkOncePerValue(t testing.TB, recs []*kgo.Record, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range recs {
		seen[string(r.Value)]++
	}
	for i := range n {
		if seen[fmt.Sprint(i)] != 1 {
			t.Fatalf("value %d seen %d times", i, seen[fmt.Sprint(i)])
		}
	}
}

// awaitMetadataWrite retries CreateTopics of name through adm, in 300 ms
// attempts, until one commits, and returns the time since from. An
// attempt that timed out may have committed: the retry then finds the
// topic.
func awaitMetadataWrite(t testing.TB, adm *kadm.Client, name string, from time.Time) time.Duration {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		r, err := adm.CreateTopic(ctx, 1, 1, nil, name)
		cancel()
		if (err == nil && r.Err == nil) || errors.Is(err, kerr.TopicAlreadyExists) || errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return time.Since(from)
		}
		if time.Since(from) > 30*time.Second {
			t.Fatalf("no metadata write within 30 s: %v %v", err, r.Err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitLeadersMoved polls Metadata through addr until no partition of
// topic is led by victim or leaderless, and returns the time since from.
// A partition that a live broker led in before keeps that leader.
func awaitLeadersMoved(t testing.TB, addr, topic string, victim int32, before map[int32]int32, from time.Time) time.Duration {
	t.Helper()
	for {
		now := leaders(t, addr, topic)
		ok := true
		for p, l := range now {
			if l == victim || l < 0 {
				ok = false
			}
			if before[p] != victim && l != before[p] {
				t.Fatalf("%s partition %d moved from live leader %d to %d", topic, p, before[p], l)
			}
		}
		if ok {
			return time.Since(from)
		}
		if time.Since(from) > 30*time.Second {
			t.Fatalf("%s: leaderships still on killed node %d: %v", topic, victim, now)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
