package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// kcatMember is one `kcat -G` balanced consumer process and the records it
// printed, as "partition offset key value" lines.
type kcatMember struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	recs []kcatRecord
	done chan struct{}
	errb bytes.Buffer
}

type kcatRecord struct {
	partition int32
	offset    int64
	key, val  string
}

func startKcatMember(t *testing.T, ctx context.Context, kcat, addr, group, topic string) *kcatMember {
	t.Helper()
	m := &kcatMember{done: make(chan struct{})}
	m.cmd = exec.CommandContext(ctx, kcat, "-b", addr, "-G", group, "-u", "-q",
		"-f", "%p\t%o\t%k\t%s\n",
		"-X", "auto.offset.reset=earliest",
		"-X", "session.timeout.ms=6000",
		"-X", "heartbeat.interval.ms=300",
		"-X", "auto.commit.interval.ms=200",
		"-X", "fetch.wait.max.ms=100",
		topic)
	m.cmd.Stderr = &m.errb
	m.cmd.WaitDelay = 5 * time.Second
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go m.read(out)
	t.Cleanup(func() {
		if m.cmd.ProcessState == nil {
			_ = m.cmd.Process.Kill()
			_ = m.cmd.Wait()
		}
	})
	return m
}

func (m *kcatMember) read(r io.Reader) {
	defer close(m.done)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 4)
		if len(f) != 4 {
			continue
		}
		p, _ := strconv.Atoi(f[0])
		o, _ := strconv.ParseInt(f[1], 10, 64)
		m.mu.Lock()
		m.recs = append(m.recs, kcatRecord{int32(p), o, f[2], f[3]})
		m.mu.Unlock()
	}
}

func (m *kcatMember) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

// stop interrupts kcat, which leaves the group after committing what it has
// consumed, and waits for it to exit.
func (m *kcatMember) stop(t *testing.T) {
	t.Helper()
	if err := m.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	<-m.done
	if err := m.cmd.Wait(); err != nil {
		t.Fatalf("kcat member: %v\n%s", err, tail(m.errb.Bytes(), 4000))
	}
}

// TestKcatBalancedGroupAndIdempotence: two `kcat -G` members split a topic's
// partitions between them; kcat produces with enable.idempotence=true; the
// members read every record exactly once and commit on leaving, and the
// group shows no lag.
func TestKcatBalancedGroupAndIdempotence(t *testing.T) {
	kcat := kcatPath(t)
	n := startNode(t, "", groupSettings())
	addr := n.KafkaAddr()
	const topic, group, parts, count = "kcat-group", "kcat-group", 4, 400
	createTopic(t, addr, topic, parts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	members := []*kcatMember{
		startKcatMember(t, ctx, kcat, addr, group, topic),
		startKcatMember(t, ctx, kcat, addr, group, topic),
	}
	adm := newAdmin(t, addr)
	waitAssignment(t, adm, group, topic, parts, 2)
	for _, m := range describeGroup(t, adm, group).Members {
		ca, _ := m.Assigned.AsConsumer()
		if len(ca.Topics) != 1 || len(ca.Topics[0].Partitions) != parts/2 {
			t.Fatalf("member %s assigned %+v, want %d partitions", m.MemberID, ca.Topics, parts/2)
		}
	}

	var in bytes.Buffer
	for i := 0; i < count; i++ {
		fmt.Fprintf(&in, "k-%d:%s\n", i, clientValue("kcat", i))
	}
	prod := exec.CommandContext(ctx, kcat, "-b", addr, "-P", "-t", topic, "-K", ":", "-z", "zstd",
		"-X", "enable.idempotence=true", "-X", "acks=all", "-X", "linger.ms=5")
	prod.Stdin = &in
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}

	// From Go: every record once, from one idempotent producer, zstd, in key
	// order within each partition.
	pids := map[int64]bool{}
	lastKey := map[int32]int{}
	for _, r := range consumeN(t, addr, topic, count) {
		var i int
		if _, err := fmt.Sscanf(string(r.Key), "k-%d", &i); err != nil || string(r.Value) != clientValue("kcat", i) {
			t.Fatalf("record %q=%q (%v)", r.Key, r.Value, err)
		}
		if prev, ok := lastKey[r.Partition]; ok && i <= prev {
			t.Fatalf("partition %d: k-%d after k-%d", r.Partition, i, prev)
		}
		lastKey[r.Partition] = i
		if r.Attrs.CompressionType() != 4 {
			t.Fatalf("record %s codec %d, want zstd", r.Key, r.Attrs.CompressionType())
		}
		pids[r.ProducerID] = true
	}
	if len(pids) != 1 || pids[-1] {
		t.Fatalf("producer ids %v, want one idempotent producer", pids)
	}

	deadline := time.Now().Add(30 * time.Second)
	for members[0].count()+members[1].count() < count && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a duplicate would show up by now
	for _, m := range members {
		m.stop(t)
	}

	seen := map[string]bool{}
	owner := map[int32]int{}
	end := map[int32]int64{}
	for mi, m := range members {
		if len(m.recs) == 0 {
			t.Fatalf("member %d consumed nothing", mi)
		}
		for _, r := range m.recs {
			if seen[r.key] {
				t.Fatalf("record %s consumed twice", r.key)
			}
			seen[r.key] = true
			var i int
			if _, err := fmt.Sscanf(r.key, "k-%d", &i); err != nil || r.val != clientValue("kcat", i) {
				t.Fatalf("member %d record %q=%q", mi, r.key, r.val)
			}
			if o, ok := owner[r.partition]; ok && o != mi {
				t.Fatalf("partition %d consumed by both members", r.partition)
			}
			owner[r.partition] = mi
			end[r.partition] = max(end[r.partition], r.offset+1)
		}
	}
	if len(seen) != count || len(owner) != parts {
		t.Fatalf("members consumed %d records over %d partitions, want %d over %d", len(seen), len(owner), count, parts)
	}
	checkGroupCaughtUp(t, addr, group, topic, end)
}
