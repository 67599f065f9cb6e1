package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkajsEnv finds node and the kafkajs package `make deps` installs into
// bin/tools/node_modules, and returns the environment that lets a script
// require it.
func kafkajsEnv(t *testing.T) (string, []string) {
	t.Helper()
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed; install Node.js and run `make deps` to test kafkajs")
	}
	mods := filepath.Join(repoRoot(t), "bin", "tools", "node_modules")
	if _, err := os.Stat(filepath.Join(mods, "kafkajs", "package.json")); err != nil {
		t.Skip("kafkajs not installed in bin/tools/node_modules; run `make deps` (needs npm)")
	}
	return nodeBin, []string{"NODE_PATH=" + mods, "KAFKAJS_NO_PARTITIONER_WARNING=1"}
}

func kafkajsValue(i int) string {
	return fmt.Sprintf("kafkajs value %d ", i) + strings.Repeat(fmt.Sprintf("padding-%d ", i%10), 20)
}

// checkKafkajsRecords checks consumed script records against the ones the
// produce phase wrote: indexes first..first+n-1, record i on partition i%parts,
// each exactly once, with its key, value and headers.
func checkKafkajsRecords(t *testing.T, recs []clientEvent, first, n, parts int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("consumed %d records, want %d", len(recs), n)
	}
	seen := map[int]bool{}
	next := map[int32]int64{}
	for _, r := range recs {
		var i int
		if _, err := fmt.Sscanf(r.Key, "k-%d", &i); err != nil {
			t.Fatalf("record key %q: %v", r.Key, err)
		}
		if i < first || i >= first+n || seen[i] {
			t.Fatalf("record %d outside [%d,%d) or seen twice", i, first, first+n)
		}
		seen[i] = true
		if r.Partition != int32(i%parts) || r.Value != kafkajsValue(i) ||
			r.Headers["idx"] != fmt.Sprint(i) || r.Headers["src"] != "kafkajs" {
			t.Fatalf("record %d mangled: %+v", i, r)
		}
		if o, ok := next[r.Partition]; ok && r.Offset <= o {
			t.Fatalf("partition %d offsets out of order: %d after %d", r.Partition, r.Offset, o)
		}
		next[r.Partition] = r.Offset
	}
}

// TestClientKafkajs: kafkajs creates a topic, produces idempotently with
// acks=-1 and gzip, consumes everything once in a group and commits; the
// commits show through the admin API, and a second consumer in the group
// resumes exactly after them.
func TestClientKafkajs(t *testing.T) {
	nodeBin, env := kafkajsEnv(t)
	n := startNode(t, "", groupSettings())
	addr := n.KafkaAddr()
	script := clientScript(t, "kafkajs.js")
	const topic, group, parts, count, more = "kafkajs", "kafkajs-group", 3, 300, 30
	env = append(env, "BROKER="+addr, "TOPIC="+topic, "GROUP="+group, fmt.Sprint("PARTITIONS=", parts))
	run := func(phase string, extra ...string) []clientEvent {
		return runClient(t, 45*time.Second, append(append([]string{}, env...), extra...), nodeBin, script, phase)
	}

	ev := run("admin")
	if c := filterEvents(ev, "created"); len(c) != 1 || c[0].Count != parts || c[0].Value != "true" {
		t.Fatalf("admin: %+v", ev)
	}

	ev = run("produce", fmt.Sprint("COUNT=", count), "FIRST=0")
	acked := map[int32]int64{}
	for _, a := range filterEvents(ev, "ack") {
		if a.Offset < acked[a.Partition] {
			t.Fatalf("ack base offset %d on partition %d went backwards", a.Offset, a.Partition)
		}
		acked[a.Partition] = a.Offset
	}
	if len(acked) != parts {
		t.Fatalf("acks for %d partitions: %+v", len(acked), ev)
	}

	// Byte-exact check from franz-go: keys, values, headers, offsets, gzip
	// batches from an idempotent producer.
	recs := consumeN(t, addr, topic, count)
	pids := map[int64]bool{}
	for _, r := range recs {
		var i int
		if _, err := fmt.Sscanf(string(r.Key), "k-%d", &i); err != nil {
			t.Fatal(err)
		}
		if r.Partition != int32(i%parts) || r.Offset != int64(i/parts) || string(r.Value) != kafkajsValue(i) {
			t.Fatalf("record %d at %d/%d: %q", i, r.Partition, r.Offset, r.Value)
		}
		if len(r.Headers) != 2 || r.Headers[0].Key != "idx" || string(r.Headers[0].Value) != fmt.Sprint(i) ||
			r.Headers[1].Key != "src" || string(r.Headers[1].Value) != "kafkajs" {
			t.Fatalf("record %d headers %+v", i, r.Headers)
		}
		if c := r.Attrs.CompressionType(); c != 1 {
			t.Fatalf("record %d compression %d, want gzip (1)", i, c)
		}
		if r.ProducerID < 0 {
			t.Fatalf("record %d has no producer id: not idempotent", i)
		}
		pids[r.ProducerID] = true
	}
	if len(pids) != 1 {
		t.Fatalf("producer ids %v, want one", pids)
	}

	ev = run("consume", fmt.Sprint("EXPECT=", count))
	checkKafkajsRecords(t, filterEvents(ev, "record"), 0, count, parts)
	want := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		want[p] = count / parts
	}
	checkGroupCaughtUp(t, addr, group, topic, want)

	// More records, from a new idempotent producer; a second consumer in the
	// group must read only those.
	run("produce", fmt.Sprint("COUNT=", more), fmt.Sprint("FIRST=", count))
	ev = run("consume", fmt.Sprint("EXPECT=", more))
	got := filterEvents(ev, "record")
	checkKafkajsRecords(t, got, count, more, parts)
	for _, r := range got {
		if r.Offset < count/parts {
			t.Fatalf("second consumer re-read offset %d on partition %d", r.Offset, r.Partition)
		}
	}
	for p := range want {
		want[p] += more / parts
	}
	checkGroupCaughtUp(t, addr, group, topic, want)

	// franz-go reads the second batch too.
	all := consumeN(t, addr, topic, count+more, kgo.FetchMaxWait(200*time.Millisecond))
	if len(all) != count+more {
		t.Fatalf("franz-go read %d records", len(all))
	}
}
