package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// TestClientKafkajs: kafkajs creates a topic, produces idempotently with
// acks=-1 and gzip, consumes everything once in a group and commits; the
// commits show through the admin API, and a second consumer in the group
// resumes exactly after them.
func TestClientKafkajs(t *testing.T) {
	nodeBin, env := kafkajsEnv(t)
	runKafkajsRoundTrip(t, startNode(t, "", groupSettings()).KafkaAddr(), nodeBin, env)
}

// runKafkajsRoundTrip is TestClientKafkajs against the broker at addr.
func runKafkajsRoundTrip(t *testing.T, addr, nodeBin string, env []string) {
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
	// batches from one idempotent producer.
	checkLogRecords(t, addr, topic, "kafkajs", count, parts, 1, true)

	ev = run("consume", fmt.Sprint("EXPECT=", count))
	checkClientRecords(t, filterEvents(ev, "record"), "kafkajs", 0, count, parts)
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
	checkClientRecords(t, got, "kafkajs", count, more, parts)
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
