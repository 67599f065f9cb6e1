package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ackedAt is what a producer was told: for each value, the partition and
// offset its acknowledgement named.
type ackedAt struct {
	mu    sync.Mutex
	at    map[string]kgo.Record
	fails int
}

func (a *ackedAt) add(r *kgo.Record, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.fails++
		return
	}
	a.at[string(r.Value)] = kgo.Record{Partition: r.Partition, Offset: r.Offset}
}

func (a *ackedAt) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.at)
}

// produceUntil produces unique values with acks=all (idempotent) to topic
// until stop closes, at most inflight outstanding.
func produceUntil(t *testing.T, addr, topic string, acked *ackedAt, stop <-chan struct{}, done *sync.WaitGroup) {
	produceUntilPadded(t, addr, topic, 0, acked, stop, done)
}

// produceUntilPadded is produceUntil with values padded to pad bytes.
func produceUntilPadded(t *testing.T, addr, topic string, pad int, acked *ackedAt, stop <-chan struct{}, done *sync.WaitGroup) {
	cl := newClient(t, addr, kgo.SeedBrokers(strings.Split(addr, ",")...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2*time.Millisecond), kgo.RecordDeliveryTimeout(60*time.Second))
	done.Add(1)
	go func() {
		defer done.Done()
		sem := make(chan struct{}, 64)
		for i := 0; ; i++ {
			select {
			case <-stop:
				cl.Flush(context.Background())
				return
			case sem <- struct{}{}:
			}
			v := fmt.Sprintf("v%07d", i)
			if len(v) < pad {
				v += strings.Repeat(".", pad-len(v))
			}
			cl.Produce(context.Background(), &kgo.Record{Value: []byte(v)}, func(r *kgo.Record, err error) {
				acked.add(r, err)
				<-sem
			})
		}
	}()
}

// producer is a background acks=all producer (produceUntilPadded) and the
// acknowledgements it collected.
type producer struct {
	acked *ackedAt
	stop  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// startProducing starts a producer of pad-byte values to topic through
// addr; it is stopped at the end of the test if Stop was not called.
func startProducing(t *testing.T, addr, topic string, pad int) *producer {
	p := &producer{acked: &ackedAt{at: map[string]kgo.Record{}}, stop: make(chan struct{})}
	produceUntilPadded(t, addr, topic, pad, p.acked, p.stop, &p.wg)
	t.Cleanup(p.Stop)
	return p
}

// Stop ends the producer and waits until its last records are answered.
func (p *producer) Stop() {
	p.once.Do(func() { close(p.stop) })
	p.wg.Wait()
}

// checkAcked reads every partition of topic through addr and checks that
// each acknowledged value is there exactly once, at the partition and
// offset its acknowledgement named, and that offsets only grow.
func checkAcked(t *testing.T, addr, topic string, acked *ackedAt) int {
	t.Helper()
	acked.mu.Lock()
	want := make(map[string]kgo.Record, len(acked.at))
	for v, r := range acked.at {
		want[v] = r
	}
	acked.mu.Unlock()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	remaining := 0
	ends.Each(func(o kadm.ListedOffset) { remaining += int(o.Offset) })
	seen := map[string]bool{}
	last := map[int32]int64{}
	read := 0
	for read < remaining && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch %d: %v", p, err) })
		for _, r := range fs.Records() {
			read++
			v := string(r.Value)
			if seen[v] {
				t.Fatalf("value %s read twice (partition %d offset %d)", v, r.Partition, r.Offset)
			}
			seen[v] = true
			if prev, ok := last[r.Partition]; ok && r.Offset <= prev {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
			}
			last[r.Partition] = r.Offset
			if w, ok := want[v]; ok && (w.Partition != r.Partition || w.Offset != r.Offset) {
				t.Fatalf("value %s acknowledged at %d/%d, read at %d/%d", v, w.Partition, w.Offset, r.Partition, r.Offset)
			}
		}
	}
	lost := 0
	for v := range want {
		if !seen[v] {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged value %s (partition %d offset %d) is gone", v, want[v].Partition, want[v].Offset)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged records lost", lost, len(want))
	}
	return read
}

// isrOf returns each partition's ISR as the cluster reports it.
func isrOf(t *testing.T, addr, topic string) map[int32][]int32 {
	t.Helper()
	adm := newAdmin(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32][]int32{}
	for _, p := range md.Topics[topic].Partitions {
		out[p.Partition] = slices.Sorted(slices.Values(p.ISR))
	}
	return out
}

// awaitFullISR waits until every partition's ISR holds all n brokers.
func awaitFullISR(t *testing.T, addr, topic string, n int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		full := true
		isr := isrOf(t, addr, topic)
		for _, members := range isr {
			full = full && len(members) == n
		}
		if full && len(isr) > 0 {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("ISRs did not return to %d members within %v: %v", n, timeout, isr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReplicationSurvivesSIGKILL produces acks=all to an RF3 topic with
// min.insync.replicas=2 while partition leaders are SIGKILLed one after
// the other (the second time the raft leader), restarting each: no
// acknowledged record is lost, duplicated, moved or reordered, and a
// restarted broker catches up and rejoins every ISR.
func TestReplicationSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestCluster(t, 3)
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	bin := strataBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := newAdmin(t, nodes[0].kafka)
	two := "2"
	if r, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": &two}, "repl"); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	acked := &ackedAt{at: map[string]kgo.Record{}}
	stop := make(chan struct{})
	var producing sync.WaitGroup
	produceUntil(t, nodes[0].kafka+","+nodes[1].kafka+","+nodes[2].kafka, "repl", acked, stop, &producing)
	waitAcked := func(n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for acked.count() < n {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d records acknowledged in time", acked.count(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitAcked(2000)

	for round, pick := range []string{"partition leader", "raft leader"} {
		var victim *clusterNode
		if pick == "raft leader" {
			md, err := newAdmin(t, nodes[0].kafka).BrokerMetadata(ctx)
			if err != nil {
				t.Fatal(err)
			}
			victim = nodes[md.Controller-1]
		} else {
			victim = nodes[leaders(t, nodes[0].kafka, "repl")[0]-1]
		}
		var live *clusterNode
		for _, c := range nodes {
			if c != victim {
				live = c
				break
			}
		}
		before := acked.count()
		victim.signal(t, syscall.SIGKILL)
		victim.waitExit(t, 5*time.Second)
		killed := time.Now()
		// With two of three replicas left, acks=all writes go on.
		waitAcked(before + 2000)
		t.Logf("round %d: %s %d killed; 2000 more records acknowledged %v later", round, pick, victim.id, time.Since(killed))
		victim.start(t, bin, 3, joinList(nodes))
		victim.waitReady(t, 60*time.Second)
		took := awaitFullISR(t, live.kafka, "repl", 3, 60*time.Second)
		t.Logf("round %d: node %d back in every ISR %v after its restart", round, victim.id, took)
		waitAcked(acked.count() + 1000)
	}
	close(stop)
	producing.Wait()
	logs := keepLogs(t, nodes)
	t.Logf("ISR changes asked by leaders: %d; follower truncations: %d",
		strings.Count(logs, `msg="ISR changed"`), strings.Count(logs, `msg="follower log truncated"`))
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `msg="ISR changed"`) || strings.Contains(l, `msg="follower log truncated"`) {
			t.Log(l)
		}
	}
	read := checkAcked(t, nodes[2].kafka, "repl", acked)
	t.Logf("%d records acknowledged (%d produce failures reported to the client), %d read back", acked.count(), acked.fails, read)
}

// dumpLogsOnFailure prints the tail of each node's log when t failed.
func dumpLogsOnFailure(t *testing.T, nodes []*clusterNode) {
	if !t.Failed() {
		return
	}
	for _, c := range nodes {
		l := c.log(t)
		if len(l) > 6000 {
			l = l[len(l)-6000:]
		}
		t.Logf("node %d log tail:\n%s", c.id, l)
	}
}

// replicaBytes returns the concatenated segment files of a partition in a
// node's data directory.
func replicaBytes(t *testing.T, c *clusterNode, topic string, part int32) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(c.dir, "kafka", fmt.Sprintf("%s-%d", topic, part), "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var out []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// TestReplicationTruncatesDivergentTail makes a leader write records its
// followers never get (acks=1 while both are stopped), kills it, lets a
// follower take over and restarts the old leader: it cuts the divergent
// tail at the new leader's epoch boundary (OffsetForLeaderEpoch), not at
// its high watermark, catches up, rejoins the ISR, and ends with a log
// byte-identical to the other replicas'. Every acks=all record survives at
// its offset.
func TestReplicationTruncatesDivergentTail(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestCluster(t, 3)
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	bin := strataBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	md, err := newAdmin(t, nodes[0].kafka).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The leader is not the raft leader, so metadata keeps a quorum while
	// it is dead and the followers are stopped.
	var leader *clusterNode
	var followers []*clusterNode
	for _, c := range nodes {
		if leader == nil && c.id != md.Controller {
			leader = c
		} else {
			followers = append(followers, c)
		}
	}
	createAssigned(t, nodes[0].kafka, "div", 1, func(int32) []int32 {
		return []int32{leader.id, followers[0].id, followers[1].id}
	})
	all := strings.Join([]string{nodes[0].kafka, nodes[1].kafka, nodes[2].kafka}, ",")
	acked := &ackedAt{at: map[string]kgo.Record{}}
	pc := newClient(t, all, kgo.SeedBrokers(strings.Split(all, ",")...), kgo.DefaultProduceTopic("div"), kgo.RequiredAcks(kgo.AllISRAcks()))
	produceSome := func(prefix string, n int) {
		t.Helper()
		for i := range n {
			r := &kgo.Record{Value: []byte(fmt.Sprintf("%s%05d", prefix, i))}
			res := pc.ProduceSync(ctx, r)
			if err := res.FirstErr(); err != nil {
				t.Fatalf("produce %s %d: %v", prefix, i, err)
			}
			acked.add(res[0].Record, nil)
		}
	}
	produceSome("a", 300)

	// Followers stopped (shorter than the broker session timeout, so they
	// stay in the ISR): the leader takes acks=1 writes nobody copies.
	one := newClient(t, leader.kafka, kgo.DefaultProduceTopic("div"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	for _, f := range followers {
		f.signal(t, syscall.SIGSTOP)
	}
	for i := range 20 {
		if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("x%05d", i))}).FirstErr(); err != nil {
			t.Fatalf("acks=1 produce %d: %v", i, err)
		}
	}
	before := leaders(t, leader.kafka, "div")
	leader.signal(t, syscall.SIGKILL)
	for _, f := range followers {
		f.signal(t, syscall.SIGCONT)
	}
	leader.waitExit(t, 5*time.Second)
	killed := time.Now()
	moved := awaitLeadersMoved(t, followers[0].kafka, "div", leader.id, before, killed)
	t.Logf("leader %d killed with an unreplicated tail; a follower leads after %v", leader.id, moved)
	produceSome("b", 300)

	leader.start(t, bin, 3, joinList(nodes))
	leader.waitReady(t, 60*time.Second)
	took := awaitFullISR(t, followers[0].kafka, "div", 3, 60*time.Second)
	t.Logf("old leader back in the ISR %v after its restart", took)
	if l := leader.log(t); !strings.Contains(l, `msg="follower log truncated"`) || !strings.Contains(l, "reason=\"divergent tail\"") {
		t.Fatalf("the old leader did not truncate its divergent tail; log:\n%s", l)
	}
	produceSome("c", 100)

	// Every replica ends with the same bytes.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ref := replicaBytes(t, nodes[0], "div", 0)
		same := true
		for _, c := range nodes[1:] {
			same = same && slices.Equal(ref, replicaBytes(t, c, "div", 0))
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica logs differ: %d/%d/%d bytes", len(ref), len(replicaBytes(t, nodes[1], "div", 0)), len(replicaBytes(t, nodes[2], "div", 0)))
		}
		time.Sleep(100 * time.Millisecond)
	}
	read := checkAcked(t, followers[1].kafka, "div", acked)
	t.Logf("%d acks=all records acknowledged, %d read back; replicas byte-identical", acked.count(), read)
}

// TestReplicationMinInsyncReplicas kills two of an RF 3 partition's
// replicas (in a five-node cluster, so the metadata quorum survives): with
// min.insync.replicas=2 the leader refuses acks=all writes with
// NOT_ENOUGH_REPLICAS, takes acks=1 writes but does not expose them (the
// high watermark holds below min.insync, KIP-966), and both resume once a
// replica returns and rejoins the ISR.
func TestReplicationMinInsyncReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestCluster(t, 5)
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	bin := strataBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	md, err := newAdmin(t, nodes[0].kafka).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rs []*clusterNode
	for _, c := range nodes {
		if c.id != md.Controller && len(rs) < 3 {
			rs = append(rs, c)
		}
	}
	leader, f1, f2 := rs[0], rs[1], rs[2]
	createAssigned(t, nodes[0].kafka, "minisr", 1, func(int32) []int32 { return []int32{leader.id, f1.id, f2.id} })
	adm := newAdmin(t, leader.kafka)
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.insync.replicas", Value: kadm.StringPtr("2")}}, "minisr"); err != nil {
		t.Fatal(err)
	}
	all := newClient(t, leader.kafka, kgo.DefaultProduceTopic("minisr"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(), kgo.RecordRetries(0), kgo.RecordDeliveryTimeout(5*time.Second))
	one := newClient(t, leader.kafka, kgo.DefaultProduceTopic("minisr"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	hw := func() int64 {
		t.Helper()
		ends, err := adm.ListEndOffsets(ctx, "minisr")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := ends.Lookup("minisr", 0)
		return o.Offset
	}
	if err := all.ProduceSync(ctx, &kgo.Record{Value: []byte("three")}).FirstErr(); err != nil {
		t.Fatalf("acks=all with 3 in sync: %v", err)
	}
	f1.signal(t, syscall.SIGKILL)
	f1.waitExit(t, 5*time.Second)
	if err := all.ProduceSync(ctx, &kgo.Record{Value: []byte("two")}).FirstErr(); err != nil {
		t.Fatalf("acks=all with 2 in sync: %v", err)
	}
	f2.signal(t, syscall.SIGKILL)
	f2.waitExit(t, 5*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for len(isrOf(t, leader.kafka, "minisr")[0]) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("ISR did not shrink to the leader: %v", isrOf(t, leader.kafka, "minisr"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	err = all.ProduceSync(ctx, &kgo.Record{Value: []byte("refused")}).FirstErr()
	if !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("acks=all with the ISR below min.insync.replicas: %v, want NOT_ENOUGH_REPLICAS", err)
	}
	before := hw()
	if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("hidden")}).FirstErr(); err != nil {
		t.Fatalf("acks=1 with the ISR below min.insync.replicas: %v", err)
	}
	time.Sleep(500 * time.Millisecond)
	if got := hw(); got != before {
		t.Fatalf("high watermark moved from %d to %d with the ISR below min.insync.replicas", before, got)
	}
	f1.start(t, bin, 5, joinList(nodes))
	f1.waitReady(t, 60*time.Second)
	deadline = time.Now().Add(30 * time.Second)
	for hw() != before+1 {
		if time.Now().After(deadline) {
			t.Fatalf("high watermark %d after a replica returned, want %d", hw(), before+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := all.ProduceSync(ctx, &kgo.Record{Value: []byte("again")}).FirstErr(); err != nil {
		t.Fatalf("acks=all after a replica rejoined: %v", err)
	}
	recs := consumeN(t, leader.kafka, "minisr", 4)
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Value))
	}
	if want := []string{"three", "two", "hidden", "again"}; !slices.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
}

// TestReplicationUncleanElection: with unclean.leader.election.enable on a
// topic, a partition whose only in-sync replica is dead goes to the live
// out-of-sync one (the controller warns and counts it), which takes writes
// at once; the old leader, back, truncates what the new leader never had
// and rejoins the ISR. Without the setting the partition stays leaderless.
func TestReplicationUncleanElection(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestCluster(t, 3)
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	bin := strataBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	md, err := newAdmin(t, nodes[0].kafka).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rs []*clusterNode
	var ctrl *clusterNode
	for _, c := range nodes {
		if c.id == md.Controller {
			ctrl = c
		} else {
			rs = append(rs, c)
		}
	}
	a, b := rs[0], rs[1]
	for _, topic := range []string{"unclean", "clean"} {
		createAssigned(t, ctrl.kafka, topic, 1, func(int32) []int32 { return []int32{a.id, b.id} })
	}
	adm := newAdmin(t, ctrl.kafka)
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "unclean.leader.election.enable", Value: kadm.StringPtr("true")}}, "unclean"); err != nil {
		t.Fatal(err)
	}
	produce := func(addr, topic, v string) error {
		cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(10*time.Second))
		return cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr()
	}
	for _, topic := range []string{"unclean", "clean"} {
		if err := produce(ctrl.kafka, topic, "both"); err != nil {
			t.Fatal(err)
		}
	}
	// b dies: a alone is in sync and takes a write b never sees.
	b.signal(t, syscall.SIGKILL)
	b.waitExit(t, 5*time.Second)
	for _, topic := range []string{"unclean", "clean"} {
		if err := produce(ctrl.kafka, topic, "a-only"); err != nil {
			t.Fatal(err)
		}
	}
	// a dies, b returns: only an out-of-sync replica is live.
	a.signal(t, syscall.SIGKILL)
	a.waitExit(t, 5*time.Second)
	b.start(t, bin, 3, joinList(nodes))
	b.waitReady(t, 60*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for leaders(t, ctrl.kafka, "unclean")[0] != b.id {
		if time.Now().After(deadline) {
			t.Fatalf("unclean topic not given to out-of-sync replica %d: leaders %v", b.id, leaders(t, ctrl.kafka, "unclean"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if l := leaders(t, ctrl.kafka, "clean")[0]; l != -1 {
		t.Fatalf("clean topic led by %d with no in-sync replica live, want leaderless", l)
	}
	if !strings.Contains(ctrl.log(t), "unclean leader election") {
		t.Fatal("the controller did not log the unclean election")
	}
	if err := produce(ctrl.kafka, "unclean", "b-leads"); err != nil {
		t.Fatalf("produce after unclean election: %v", err)
	}
	// a returns: it cuts "a-only" and follows b.
	a.start(t, bin, 3, joinList(nodes))
	a.waitReady(t, 60*time.Second)
	awaitFullISR(t, ctrl.kafka, "unclean", 2, 30*time.Second)
	if !strings.Contains(a.log(t), `msg="follower log truncated"`) {
		t.Fatal("the old leader did not truncate the records the new leader never had")
	}
	var got []string
	for _, r := range consumeN(t, ctrl.kafka, "unclean", 2) {
		got = append(got, string(r.Value))
	}
	if want := []string{"both", "b-leads"}; !slices.Equal(got, want) {
		t.Fatalf("unclean topic reads %v, want %v", got, want)
	}
	// The clean topic waited for its in-sync replica and kept everything.
	var clean []string
	for _, r := range consumeN(t, ctrl.kafka, "clean", 2) {
		clean = append(clean, string(r.Value))
	}
	if want := []string{"both", "a-only"}; !slices.Equal(clean, want) {
		t.Fatalf("clean topic reads %v, want %v", clean, want)
	}
}
