package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// nemesis drives faults against a three-node cluster while one idempotent
// acks=all producer writes to an RF 3 topic with min.insync.replicas=2.
type nemesis struct {
	t      *testing.T
	bin    string
	nodes  []*clusterNode
	topic  string
	acked  *ackedAt
	paused map[int32]bool // SIGSTOPped nodes: alive but unable to answer
	net    *netTopo       // nil: nodes on loopback, no network faults
}

// usable returns the nodes that are running and not stopped, skipping
// those in except.
func (n *nemesis) usable(except ...*clusterNode) []*clusterNode {
	var out []*clusterNode
	for _, c := range n.nodes {
		if c.alive() && !n.paused[c.id] && !slices.Contains(except, c) {
			out = append(out, c)
		}
	}
	return out
}

func (n *nemesis) node(id int32) *clusterNode { return n.nodes[id-1] }

// queryAddr is a node that can answer metadata queries right now.
func (n *nemesis) queryAddr(except ...*clusterNode) string {
	u := n.usable(except...)
	if len(u) == 0 {
		n.t.Fatal("no node left to ask")
	}
	return u[0].kafka
}

// leaderOf returns the current leader of partition p.
func (n *nemesis) leaderOf(p int32) *clusterNode {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if id := leaders(n.t, n.queryAddr(), n.topic)[p]; id > 0 {
			return n.node(id)
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("partition %d has no leader", p)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// controller returns the raft leader.
func (n *nemesis) controller() *clusterNode {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		md, err := newAdmin(n.t, n.queryAddr()).BrokerMetadata(ctx)
		cancel()
		if err == nil && md.Controller > 0 {
			return n.node(md.Controller)
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("no controller: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// followerOf returns a replica of p that leads neither p nor the raft
// quorum, so that faulting it exercises only the follower side.
func (n *nemesis) followerOf(p int32) *clusterNode {
	lead, ctl := n.leaderOf(p), n.controller()
	for _, c := range n.nodes {
		if c != lead && c != ctl {
			return c
		}
	}
	for _, c := range n.nodes {
		if c != lead {
			return c
		}
	}
	n.t.Fatal("no follower")
	return nil
}

func (n *nemesis) kill(c *clusterNode) {
	n.t.Helper()
	c.signal(n.t, syscall.SIGKILL)
	c.waitExit(n.t, 10*time.Second)
}

func (n *nemesis) restart(cs ...*clusterNode) {
	n.t.Helper()
	for _, c := range cs {
		c.start(n.t, n.bin, 3, joinList(n.nodes))
	}
	for _, c := range cs {
		c.waitReady(n.t, 90*time.Second)
	}
}

// awaitAcks waits until more records than have been acknowledged at the
// call are acknowledged: liveness after a fault heals.
func (n *nemesis) awaitAcks(more int, timeout time.Duration) time.Duration {
	n.t.Helper()
	start, want := time.Now(), n.acked.count()+more
	for n.acked.count() < want {
		if time.Since(start) > timeout {
			n.t.Fatalf("only %d of %d records acknowledged within %v", n.acked.count(), want, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// heal waits for every ISR to hold all three brokers again and for the
// producer to make progress.
func (n *nemesis) heal(name string) {
	n.t.Helper()
	// Every node's view, not one: a node just back from a partition may
	// still hold the ISRs it last knew.
	var isr time.Duration
	for _, c := range n.usable() {
		isr = max(isr, awaitFullISR(n.t, c.kafka, n.topic, 3, 120*time.Second))
	}
	took := n.awaitAcks(500, 60*time.Second)
	n.t.Logf("nemesis %s: healed; full ISRs after %v, 500 more acks %v later (%d acknowledged)", name, isr.Round(time.Millisecond), took.Round(time.Millisecond), n.acked.count())
}

// isolate cuts v off from the other nodes while the producer goes on,
// for a few seconds, then heals the links (nothing without namespaces).
func (n *nemesis) isolate(v *clusterNode, rng *rand.Rand) {
	if n.net == nil {
		return
	}
	n.net.Isolate(int(v.id))
	defer n.net.Rejoin(int(v.id))
	n.awaitAcks(1000, 60*time.Second)
	time.Sleep(time.Duration(1+rng.IntN(3)) * time.Second)
}

// The faults. Each injects one fault, lets the cluster run with it, then
// undoes it and returns once the cluster has healed.
var nemesisFaults = []struct {
	name string
	run  func(n *nemesis, rng *rand.Rand)
}{
	{"kill-partition-leader", func(n *nemesis, rng *rand.Rand) {
		v := n.leaderOf(int32(rng.IntN(6)))
		n.kill(v)
		n.awaitAcks(1000, 60*time.Second) // two replicas of three keep acks=all going
		n.restart(v)
	}},
	{"kill-follower", func(n *nemesis, rng *rand.Rand) {
		v := n.followerOf(int32(rng.IntN(6)))
		n.kill(v)
		n.awaitAcks(1000, 60*time.Second)
		n.restart(v)
	}},
	{"kill-raft-leader", func(n *nemesis, rng *rand.Rand) {
		v := n.controller()
		n.kill(v)
		n.awaitAcks(1000, 60*time.Second)
		n.restart(v)
	}},
	{"pause-leader", func(n *nemesis, rng *rand.Rand) {
		// SIGSTOP a partition leader past its controller lease: the others
		// take over its partitions while it is frozen; when it resumes it
		// must not acknowledge anything (its writes fail) and it truncates
		// whatever it wrote past the new leaders' epochs.
		p := int32(rng.IntN(6))
		v := n.leaderOf(p)
		v.signal(n.t, syscall.SIGSTOP)
		n.paused[v.id] = true
		defer func() {
			if v.alive() {
				v.signal(n.t, syscall.SIGCONT)
			}
			delete(n.paused, v.id)
		}()
		deadline := time.Now().Add(30 * time.Second)
		for n.leaderOf(p) == v {
			if time.Now().After(deadline) {
				n.t.Fatalf("partition %d still led by frozen node %d", p, v.id)
			}
			time.Sleep(100 * time.Millisecond)
		}
		n.awaitAcks(1000, 60*time.Second)
		time.Sleep(time.Duration(1+rng.IntN(3)) * time.Second)
	}},
	{"kill-two", func(n *nemesis, rng *rand.Rand) {
		// With min.insync.replicas=2 and one replica left, acks=all must
		// stall with a retriable error, not acknowledge unsafe writes,
		// and resume once the nodes return. The raft quorum is lost too.
		survivor := n.nodes[rng.IntN(3)]
		var victims []*clusterNode
		for _, c := range n.nodes {
			if c != survivor {
				victims = append(victims, c)
			}
		}
		for _, v := range victims {
			v.signal(n.t, syscall.SIGKILL)
		}
		for _, v := range victims {
			v.waitExit(n.t, 10*time.Second)
		}
		// Acknowledgements already on the wire may still arrive; after
		// that there must be none.
		time.Sleep(2 * time.Second)
		before := n.acked.count()
		time.Sleep(3 * time.Second)
		if after := n.acked.count(); after != before {
			n.t.Errorf("nemesis kill-two: %d records acknowledged with a single replica alive", after-before)
		}
		n.restart(victims...)
	}},
	// Cut a partition leader's links to both other nodes; clients still
	// reach it. The majority elects new leaders; the isolated node,
	// stranded, refuses writes; healed, it truncates what only it had and
	// catches up.
	{"isolate-leader", func(n *nemesis, rng *rand.Rand) { n.isolate(n.leaderOf(int32(rng.IntN(6))), rng) }},
	{"isolate-follower", func(n *nemesis, rng *rand.Rand) { n.isolate(n.followerOf(int32(rng.IntN(6))), rng) }},
	{"torn-tail", func(n *nemesis, rng *rand.Rand) {
		// Kill a follower and damage the end of its logs as a crash in
		// mid-write would: garbage past the last batch in every partition,
		// and one partition cut inside its last batch. Recovery truncates
		// both; the replica catches up from the leaders.
		v := n.followerOf(int32(rng.IntN(6)))
		n.kill(v)
		tearTails(n.t, v, n.topic, int32(rng.IntN(6)), rng)
		n.awaitAcks(500, 60*time.Second)
		n.restart(v)
	}},
}

// tearTails appends garbage to the newest segment of every partition of
// topic on c, and cuts partition cut's newest segment a few bytes short.
func tearTails(t *testing.T, c *clusterNode, topic string, cut int32, rng *rand.Rand) {
	t.Helper()
	for p := int32(0); p < 6; p++ {
		files, _ := filepath.Glob(filepath.Join(c.dir, "kafka", fmt.Sprintf("%s-%d", topic, p), "*.log"))
		if len(files) == 0 {
			continue
		}
		slices.Sort(files)
		newest := files[len(files)-1]
		st, err := os.Stat(newest)
		if err != nil {
			t.Fatal(err)
		}
		if p == cut && st.Size() > 16 {
			if err := os.Truncate(newest, st.Size()-int64(1+rng.IntN(16))); err != nil {
				t.Fatal(err)
			}
			continue
		}
		garbage := make([]byte, 20+rng.IntN(200))
		for i := range garbage {
			garbage[i] = byte(rng.UintN(256))
		}
		f, err := os.OpenFile(newest, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Write(garbage)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// nemesisReport counts what a read-back of the whole topic found wrong.
type nemesisReport struct {
	acked, read                      int
	lost, duplicated, moved, reorder int
	examples                         []string
}

func (r *nemesisReport) bad(kind *int, format string, args ...any) {
	*kind++
	if len(r.examples) < 10 {
		r.examples = append(r.examples, fmt.Sprintf(format, args...))
	}
}

// checkNemesis reads every partition of topic to its end and compares it
// with what the producer was told: every acknowledged value present once,
// at the partition and offset its acknowledgement named, and within a
// partition values in the order the (single) producer sent them.
func checkNemesis(t *testing.T, addr, topic string, acked *ackedAt) nemesisReport {
	t.Helper()
	acked.mu.Lock()
	want := make(map[string]kgo.Record, len(acked.at))
	for v, r := range acked.at {
		want[v] = r
	}
	acked.mu.Unlock()
	rep := nemesisReport{acked: len(want)}
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var ends kadm.ListedOffsets
	for {
		var err error
		ends, err = kadm.NewClient(cl).ListEndOffsets(ctx, topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("listing end offsets: %v", err)
		}
		t.Logf("listing end offsets (retrying): %v", err)
		time.Sleep(200 * time.Millisecond)
	}
	end := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
	next := map[int32]int64{}  // next offset expected per partition
	lastSeq := map[int32]int{} // last value sequence number per partition
	seen := map[string]bool{}
	done := func() bool {
		for p, e := range end {
			if next[p] < e {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read back stopped at %v of %v: %v", next, end, ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch %d: %v", p, err) })
		for _, r := range fs.Records() {
			rep.read++
			v := string(r.Value)
			if r.Offset < next[r.Partition] {
				rep.bad(&rep.reorder, "partition %d: offset %d after %d", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			if seen[v] {
				rep.bad(&rep.duplicated, "value %s again at %d/%d", v, r.Partition, r.Offset)
			}
			seen[v] = true
			if seq, err := strconv.Atoi(strings.TrimPrefix(v, "v")); err == nil {
				if prev, ok := lastSeq[r.Partition]; ok && seq <= prev {
					rep.bad(&rep.reorder, "partition %d offset %d: value %s after v%07d", r.Partition, r.Offset, v, prev)
				}
				lastSeq[r.Partition] = seq
			}
			if w, ok := want[v]; ok && (w.Partition != r.Partition || w.Offset != r.Offset) {
				rep.bad(&rep.moved, "value %s acknowledged at %d/%d, read at %d/%d", v, w.Partition, w.Offset, r.Partition, r.Offset)
			}
		}
	}
	for v, w := range want {
		if !seen[v] {
			rep.bad(&rep.lost, "acknowledged value %s (%d/%d) is gone", v, w.Partition, w.Offset)
		}
	}
	return rep
}

// TestNemesis runs one fault of each kind against three real nodes under
// an idempotent acks=all producer (STRATA_SOAK=1: random faults for
// STRATA_NEMESIS_MINUTES, default 10, seeded by STRATA_NEMESIS_SEED or the
// clock), healing after each, then reads everything back and reports lost,
// duplicated, moved and reordered records: zero of each.
func TestNemesis(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	soak := os.Getenv("STRATA_SOAK") == "1"
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STRATA_NEMESIS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("nemesis seed %d (STRATA_NEMESIS_SEED=%d replays the same choices)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	// In network namespaces where they can be made, so that links can be
	// cut; on loopback otherwise, without the network faults.
	var nodes []*clusterNode
	var nt *netTopo
	if why := netnsUnavailable(); why != "" {
		t.Logf("network faults skipped: %s", why)
		nodes = startTestCluster(t, 3)
	} else {
		nt = newNetTopo(t, 3)
		nodes = startNetCluster(t, nt)
	}
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	n := &nemesis{t: t, bin: strataBinary(t), nodes: nodes, topic: "nemesis", acked: &ackedAt{at: map[string]kgo.Record{}}, paused: map[int32]bool{}, net: nt}
	t.Cleanup(func() { // never leave a frozen process behind
		for _, c := range nodes {
			if c.alive() {
				_ = c.cmd.Process.Signal(syscall.SIGCONT)
			}
		}
	})
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

	if soak {
		minutes := 10
		if m, err := strconv.Atoi(os.Getenv("STRATA_NEMESIS_MINUTES")); err == nil && m > 0 {
			minutes = m
		}
		until := time.Now().Add(time.Duration(minutes) * time.Minute)
		ran := map[string]int{}
		for time.Now().Before(until) {
			i := rng.IntN(len(nemesisFaults))
			f := nemesisFaults[i]
			ran[f.name]++
			t.Logf("nemesis %s (#%d)", f.name, ran[f.name])
			f.run(n, rng)
			n.heal(f.name)
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Millisecond)
		}
		t.Logf("nemesis faults run: %v", ran)
	} else {
		for _, i := range rng.Perm(len(nemesisFaults)) {
			f := nemesisFaults[i]
			t.Logf("nemesis %s", f.name)
			f.run(n, rng)
			n.heal(f.name)
		}
	}
	close(stop)
	producing.Wait()

	logs := keepLogs(t, nodes)
	t.Logf("ISR changes asked by leaders: %d; follower truncations: %d; torn tails cut at recovery: %d",
		strings.Count(logs, `msg="ISR changed"`), strings.Count(logs, `msg="follower log truncated"`), strings.Count(logs, `msg="truncating torn or corrupt segment tail"`))
	rep := checkNemesis(t, nodes[0].kafka, n.topic, n.acked)
	t.Logf("nemesis: %d acknowledged (%d produce failures reported to the client), %d read back; lost %d, duplicated %d, moved %d, reordered %d",
		rep.acked, n.acked.fails, rep.read, rep.lost, rep.duplicated, rep.moved, rep.reorder)
	for _, e := range rep.examples {
		t.Log(e)
	}
	if rep.lost+rep.duplicated+rep.moved+rep.reorder > 0 {
		t.Fatalf("nemesis found lost %d, duplicated %d, moved %d, reordered %d", rep.lost, rep.duplicated, rep.moved, rep.reorder)
	}
}
