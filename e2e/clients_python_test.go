package e2e

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pythonWith returns a Python 3 interpreter that can import module: Debian's
// /usr/bin/python3 first (where python3-confluent-kafka and python3-kafka
// install), then python3 on PATH.
func pythonWith(t *testing.T, module, debianPkg string) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		p, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import "+module).Run() == nil {
			return p
		}
	}
	t.Skipf("python module %s not installed; run `make deps` as root (Debian package %s)", module, debianPkg)
	return ""
}

// runPythonGroupRoundTrip is the part the two Python clients share: the
// script produces count records to a fresh topic, Go checks them byte for
// byte, a group consumer reads them once and commits, and after more
// records a second consumer in the group resumes at the commit.
func runPythonGroupRoundTrip(t *testing.T, addr, py, script, src string, codec uint8, idempotent bool) {
	const parts, count, more = 3, 300, 30
	topic, group := "py-"+src, "py-group-"+src
	createTopic(t, addr, topic, parts, nil)
	env := []string{"BROKER=" + addr, "TOPIC=" + topic, "GROUP=" + group, fmt.Sprint("PARTITIONS=", parts)}
	run := func(phase string, extra ...string) []clientEvent {
		return runClient(t, 45*time.Second, append(append([]string{}, env...), extra...), py, script, phase)
	}

	ev := run("produce", fmt.Sprint("COUNT=", count), "FIRST=0")
	if acks := filterEvents(ev, "ack"); len(acks) != count {
		t.Fatalf("%d delivery reports, want %d", len(acks), count)
	}
	if p := filterEvents(ev, "produced"); len(p) == 1 && p[0].Value != "" {
		t.Logf("%s: %s", src, p[0].Value)
	}
	checkLogRecords(t, addr, topic, src, count, parts, codec, idempotent)

	want := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		want[p] = count / parts
	}
	ev = run("consume", fmt.Sprint("EXPECT=", count))
	checkClientRecords(t, filterEvents(ev, "record"), src, 0, count, parts)
	checkCommittedEvents(t, ev, want)
	checkGroupCaughtUp(t, addr, group, topic, want)

	run("produce", fmt.Sprint("COUNT=", more), fmt.Sprint("FIRST=", count))
	ev = run("consume", fmt.Sprint("EXPECT=", more))
	checkClientRecords(t, filterEvents(ev, "record"), src, count, more, parts)
	for p := range want {
		want[p] += more / parts
	}
	checkCommittedEvents(t, ev, want)
	checkGroupCaughtUp(t, addr, group, topic, want)
}

// checkCommittedEvents checks the offsets a script read back after its commit.
func checkCommittedEvents(t *testing.T, ev []clientEvent, want map[int32]int64) {
	t.Helper()
	got := map[int32]int64{}
	for _, c := range filterEvents(ev, "committed") {
		got[c.Partition] = c.Offset
	}
	for p, off := range want {
		if got[p] != off {
			t.Fatalf("client read back commit %d on partition %d, want %d (all: %v)", got[p], p, off, got)
		}
	}
}

// TestClientConfluentKafka: confluent-kafka (librdkafka) produces with keys,
// headers, zstd and idempotence, consumes in a group with manual commits, and
// a second group member resumes at the commit.
func TestClientConfluentKafka(t *testing.T) {
	py := pythonWith(t, "confluent_kafka", "python3-confluent-kafka")
	// zstd: librdkafka 2.0.2 sends gzip, snappy and lz4 uncompressed to a
	// broker whose lowest Produce version is above 0 (see docs/clients.md).
	addr := startNode(t, "", groupSettings()).KafkaAddr()
	runPythonGroupRoundTrip(t, addr, py, clientScript(t, "py_confluent.py"), "confluent", 4, true)
}

// TestClientKafkaPython: kafka-python produces gzip batches with keys and
// headers, consumes in a group with manual commits, and a second group
// member resumes at the commit.
func TestClientKafkaPython(t *testing.T) {
	py := pythonWith(t, "kafka", "python3-kafka")
	addr := startNode(t, "", groupSettings()).KafkaAddr()
	runPythonGroupRoundTrip(t, addr, py, clientScript(t, "py_kafka_python.py"), "kafka-python", 1, false)
}

// TestClientConfluentKafkaTransactions: a confluent-kafka transactional
// producer commits, aborts and commits again; a read_committed group
// consumer (librdkafka) and franz-go see only the committed records, a
// read_uncommitted franz-go consumer sees all of them.
func TestClientConfluentKafkaTransactions(t *testing.T) {
	py := pythonWith(t, "confluent_kafka", "python3-confluent-kafka")
	script := clientScript(t, "py_confluent.py")
	n := startNode(t, "", groupSettings())
	runConfluentTransactions(t, n.KafkaAddr(), n.KafkaAddr(), py, script)
}

// runConfluentTransactions creates py-txn (3 partitions) through addr and
// runs confluent-kafka's transactional producer (commit, abort, commit)
// and read_committed group consumer bootstrapped at clientAddr, then
// checks with franz-go that each isolation level sees what it must.
func runConfluentTransactions(t *testing.T, addr, clientAddr, py, script string) {
	t.Helper()
	const topic, parts, count = "py-txn", 3, 30
	createTopic(t, addr, topic, parts, nil)
	env := []string{"BROKER=" + clientAddr, "TOPIC=" + topic, fmt.Sprint("PARTITIONS=", parts), "TXN_ID=py-txn-producer"}

	ev := runClient(t, 45*time.Second, append(env, fmt.Sprint("COUNT=", count)), py, script, "txn")
	if txns := filterEvents(ev, "txn"); len(txns) != 3 {
		t.Fatalf("transactions: %+v", ev)
	}

	// Records 0..count-1 and 2count..3count-1 are committed, count..2count-1
	// aborted. Each transaction leaves one marker per partition.
	ev = runClient(t, 45*time.Second, append(env, "GROUP=py-txn-group", "ISOLATION=read_committed",
		fmt.Sprint("EXPECT=", 2*count)), py, script, "consume")
	var low, high []clientEvent
	for _, r := range filterEvents(ev, "record") {
		var i int
		if _, err := fmt.Sscanf(r.Key, "k-%d", &i); err != nil {
			t.Fatal(err)
		}
		switch {
		case i < count:
			low = append(low, r)
		case i >= 2*count:
			high = append(high, r)
		default:
			t.Fatalf("read_committed consumer saw aborted record %d: %+v", i, r)
		}
	}
	checkClientRecords(t, low, "confluent-commit", 0, count, parts)
	checkClientRecords(t, high, "confluent-commit", 2*count, count, parts)
	end := int64(3 * (count/parts + 1))
	for _, c := range filterEvents(ev, "committed") {
		// The committed position is past the last committed record; whether
		// it is also past that transaction's marker is the client's choice.
		if c.Offset < end-1 || c.Offset > end {
			t.Fatalf("committed offset %d on partition %d, want %d or %d", c.Offset, c.Partition, end-1, end)
		}
	}

	committed := consumeN(t, addr, topic, 2*count, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for _, r := range committed {
		if !r.Attrs.IsTransactional() || r.Attrs.CompressionType() != 4 {
			t.Fatalf("record %s: transactional %v codec %d", r.Key, r.Attrs.IsTransactional(), r.Attrs.CompressionType())
		}
		if h := string(r.Headers[1].Value); h != "confluent-commit" {
			t.Fatalf("read_committed franz-go saw %s from %s", r.Key, h)
		}
	}
	all := consumeN(t, addr, topic, 3*count, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	aborted := 0
	for _, r := range all {
		if string(r.Headers[1].Value) == "confluent-abort" {
			aborted++
		}
	}
	if aborted != count {
		t.Fatalf("read_uncommitted franz-go saw %d aborted records, want %d", aborted, count)
	}
}

// TestClientConfluentKafkaConsumeTransformProduce: a confluent-kafka
// consumer and transactional producer copy a topic, committing the group's
// offsets inside the transaction (AddOffsetsToTxn, TxnOffsetCommit) with the
// consumer's group metadata (generation and member, KIP-447); the
// copy is visible to read_committed readers and the group is caught up.
func TestClientConfluentKafkaConsumeTransformProduce(t *testing.T) {
	py := pythonWith(t, "confluent_kafka", "python3-confluent-kafka")
	n := startNode(t, "", groupSettings())
	runConfluentConsumeTransformProduce(t, n.KafkaAddr(), n.KafkaAddr(), py)
}

// runConfluentConsumeTransformProduce creates ctp-in and ctp-out (3
// partitions each) through addr, fills ctp-in and has confluent-kafka,
// bootstrapped at clientAddr, copy it transactionally with the group's
// offsets in each transaction.
func runConfluentConsumeTransformProduce(t *testing.T, addr, clientAddr, py string) {
	t.Helper()
	const in, out, group, parts, count = "ctp-in", "ctp-out", "ctp-group", 3, 30
	createTopic(t, addr, in, parts, nil)
	createTopic(t, addr, out, parts, nil)
	produceN(t, addr, in, parts, count)

	ev := runClient(t, 45*time.Second, []string{"BROKER=" + clientAddr, "TOPIC=" + in, "OUT_TOPIC=" + out,
		"GROUP=" + group, "TXN_ID=ctp-producer", fmt.Sprint("EXPECT=", count)}, py, clientScript(t, "py_confluent.py"), "ctp")
	if c := filterEvents(ev, "consumed"); len(c) != 1 || c[0].Count != count {
		t.Fatalf("ctp: %+v", ev)
	}
	want := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		want[p] = count / parts
	}
	checkCommittedEvents(t, ev, want)
	checkGroupCaughtUp(t, addr, group, in, want)

	copied := map[string]bool{}
	for _, r := range consumeN(t, addr, out, count, kgo.FetchIsolationLevel(kgo.ReadCommitted())) {
		if !r.Attrs.IsTransactional() {
			t.Fatalf("copied record %q is not transactional", r.Value)
		}
		copied[string(r.Value)] = true
	}
	for i := 0; i < count; i++ {
		if !copied[fmt.Sprint("copied:", i)] {
			t.Fatalf("record %d not copied: %v", i, copied)
		}
	}
}
