package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterClients: every real client of the suite produces and consumes
// against a three-node cluster whose topics have their partition leaders on
// three different nodes, each client bootstrapped on one node and routed
// to the others by metadata; the clients with group support consume in a
// group whose coordinator is wherever __consumer_offsets placed it.
func TestClusterClients(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestClusterWith(t, 3, groupSettings())
	spread := func(t *testing.T, topic string) {
		t.Helper()
		seen := map[int32]bool{}
		for _, l := range leaders(t, nodes[0].kafka, topic) {
			seen[l] = true
		}
		if len(seen) != 3 {
			t.Fatalf("%s: leaders on %d nodes, want 3", topic, len(seen))
		}
	}
	t.Run("franz-go", func(t *testing.T) {
		const topic, n = "cl-franz", 300
		createTopic(t, nodes[0].kafka, topic, 3, nil)
		spread(t, topic)
		p := newClient(t, nodes[0].kafka, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Value: []byte(fmt.Sprint(i))})
		}
		if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		got := consumeN(t, nodes[2].kafka, topic, n, kgo.ConsumerGroup("cl-franz-group"), kgo.FetchMaxWait(200*time.Millisecond))
		checkOncePerValue(t, got, n)
	})
	t.Run("sarama", func(t *testing.T) {
		saramaRoundTrip(t, nodes[1].kafka, "cl-sarama", 3, sarama.CompressionZSTD, 300)
		spread(t, "cl-sarama")
	})
	t.Run("kcat", func(t *testing.T) {
		kcatRoundTrip(t, kcatPath(t), nodes[2].kafka, "cl-kcat", 3)
		spread(t, "cl-kcat")
	})
	t.Run("confluent-kafka", func(t *testing.T) {
		py := pythonWith(t, "confluent_kafka", "python3-confluent-kafka")
		runPythonGroupRoundTrip(t, nodes[0].kafka, py, clientScript(t, "py_confluent.py"), "confluent", 4, true)
		spread(t, "py-confluent")
	})
	t.Run("kafka-python", func(t *testing.T) {
		py := pythonWith(t, "kafka", "python3-kafka")
		runPythonGroupRoundTrip(t, nodes[1].kafka, py, clientScript(t, "py_kafka_python.py"), "kafka-python", 1, false)
		spread(t, "py-kafka-python")
	})
	t.Run("kafkajs", func(t *testing.T) {
		nodeBin, env := kafkajsEnv(t)
		runKafkajsRoundTrip(t, nodes[2].kafka, nodeBin, env)
		spread(t, "kafkajs")
	})
}

// kcatRoundTrip creates topic, produces 300 keyed lines with kcat (keys
// spread over the partitions by librdkafka's partitioner) and reads every
// partition back with kcat: each line once, offsets rising per partition.
func kcatRoundTrip(t *testing.T, kcat, addr, topic string, parts int32) {
	t.Helper()
	createTopic(t, addr, topic, parts, nil)
	var in bytes.Buffer
	want := map[string]bool{}
	for i := range 300 {
		line := fmt.Sprintf("k-%d:kcat value %d", i, i)
		want[line] = true
		in.WriteString(line + "\n")
	}
	prod := exec.Command(kcat, "-b", addr, "-P", "-t", topic, "-K", ":", "-z", "lz4", "-X", "acks=all")
	prod.Stdin = &in
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
	out, err := exec.Command(kcat, "-b", addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %o %k:%s\n").Output()
	if err != nil {
		t.Fatalf("kcat consume: %v\n%s", err, out)
	}
	last := map[int32]int64{}
	used := map[int32]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		var p int32
		var off int64
		var kv string
		if _, err := fmt.Sscanf(l, "%d %d %s", &p, &off, &kv); err != nil {
			t.Fatalf("kcat line %q: %v", l, err)
		}
		kv = l[strings.Index(l, "k-"):]
		if !want[kv] {
			t.Fatalf("kcat read %q: not produced, or read twice", kv)
		}
		delete(want, kv)
		if o, ok := last[p]; ok && off <= o {
			t.Fatalf("partition %d: offset %d after %d", p, off, o)
		}
		last[p], used[p] = off, true
	}
	if len(want) > 0 {
		t.Fatalf("kcat did not read back %d lines", len(want))
	}
	if len(used) < 2 {
		t.Fatalf("kcat's keys landed on %d partition(s); the test needs several leaders", len(used))
	}
}
