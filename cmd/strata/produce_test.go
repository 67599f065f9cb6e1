package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// createTestTopic creates a topic with n partitions through the CLI.
func createTestTopic(t *testing.T, bootstrap string, partitions int) string {
	t.Helper()
	topic := testTopicName(t)
	mustCLI(t, bootstrap, "", "topic", "create", topic, "--partitions", fmt.Sprint(partitions), "--replication-factor", "1")
	return topic
}

// readAll consumes every record of topic currently in the log with a plain
// franz-go client, independent of the consume command.
func readAll(t *testing.T, bootstrap, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := testAdmin(t, bootstrap).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	cl, err := kgo.NewClient(kgo.SeedBrokers(splitList(bootstrap)...), kgo.ConsumeTopics(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for int64(len(recs)) < want {
		f := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %s: got %d of %d records: %v", topic, len(recs), want, err)
		}
		f.EachError(func(_ string, _ int32, err error) { t.Fatalf("read back %s: %v", topic, err) })
		recs = append(recs, f.Records()...)
	}
	return recs
}

func TestProduceKeysAndHeaders(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 1)

	in := "k1:v1\nk2:v2:x\nnokey\n\n:emptykey\r\n"
	r := mustCLI(t, bs, in, "produce", topic, "--key-separator", ":", "--header", "a=1", "-H", "b=", "--header", "a=2")
	if !strings.Contains(r.Stderr, "produced 4 records (23 bytes) to "+topic) || !strings.Contains(r.Stderr, ", 0 errors") {
		t.Errorf("summary: %q", r.Stderr)
	}
	recs := readAll(t, bs, topic)
	want := []struct {
		key   []byte
		value string
	}{{[]byte("k1"), "v1"}, {[]byte("k2"), "v2:x"}, {nil, "nokey"}, {[]byte{}, "emptykey"}}
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i, w := range want {
		got := recs[i]
		if !bytes.Equal(got.Key, w.key) || (got.Key == nil) != (w.key == nil) || string(got.Value) != w.value {
			t.Errorf("record %d: key %q value %q, want key %q value %q", i, got.Key, got.Value, w.key, w.value)
		}
		if h := headerString(got.Headers); h != "a=1,b=,a=2" {
			t.Errorf("record %d headers %q", i, h)
		}
	}
}

// headerString renders headers as k=v,k=v.
func headerString(hs []kgo.RecordHeader) string {
	parts := make([]string, len(hs))
	for i, h := range hs {
		parts[i] = h.Key + "=" + string(h.Value)
	}
	return strings.Join(parts, ",")
}

func TestProduceOptions(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 3)
	cases := []struct{ compression, acks string }{
		{"none", "all"}, {"gzip", "1"}, {"snappy", "0"}, {"lz4", "all"}, {"zstd", "1"},
	}
	line := strings.Repeat("compressible ", 20)
	var in strings.Builder
	for range 50 {
		in.WriteString(line + "\n")
	}
	for _, c := range cases {
		mustCLI(t, bs, in.String(), "produce", topic, "--partition", "2", "--compression", c.compression,
			"--acks", c.acks, "--linger", "5ms")
	}
	ends, err := testAdmin(t, bs).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 0, 1: 0, 2: int64(50 * len(cases))} {
		if o, _ := ends.Lookup(topic, p); o.Offset != want {
			t.Errorf("partition %d end offset %d, want %d", p, o.Offset, want)
		}
	}
	for _, r := range readAll(t, bs, topic) {
		if string(r.Value) != line {
			t.Fatalf("record at %d/%d has value %q", r.Partition, r.Offset, r.Value)
		}
	}
}

func TestProduceFileStreams(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 3)
	const lines = 20000
	path := filepath.Join(t.TempDir(), "in.txt")
	var buf bytes.Buffer
	for i := range lines {
		fmt.Fprintf(&buf, "key-%d\tvalue number %d\n", i%97, i)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := mustCLI(t, bs, "", "produce", topic, "--file", path, "--key-separator", `\t`, "--compression", "zstd", "--linger", "2ms")
	elapsed := time.Since(start)
	t.Logf("%d lines (%d bytes) in %s: %s", lines, buf.Len(), elapsed, strings.TrimSpace(r.Stderr))
	if !strings.Contains(r.Stderr, fmt.Sprintf("produced %d records", lines)) {
		t.Errorf("summary: %q", r.Stderr)
	}
	recs := readAll(t, bs, topic)
	if len(recs) != lines {
		t.Fatalf("read back %d records, want %d", len(recs), lines)
	}
	// Records with the same key land in the same partition.
	keyPart := map[string]int32{}
	for _, rec := range recs {
		if !strings.HasPrefix(string(rec.Key), "key-") || !strings.HasPrefix(string(rec.Value), "value number ") {
			t.Fatalf("record split wrongly: key %q value %q", rec.Key, rec.Value)
		}
		if p, ok := keyPart[string(rec.Key)]; ok && p != rec.Partition {
			t.Fatalf("key %q in partitions %d and %d", rec.Key, p, rec.Partition)
		}
		keyPart[string(rec.Key)] = rec.Partition
	}
}

func TestProduceBadInput(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 1)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--acks", "2"}, `--acks "2"`},
		{[]string{"--compression", "brotli"}, `--compression "brotli"`},
		{[]string{"--header", "novalue"}, `--header "novalue"`},
		{[]string{"--partition", "-2"}, "--partition -2"},
		{[]string{"--max-line-bytes", "0"}, "--max-line-bytes 0"},
	} {
		r := runCLI(t, bs, "x\n", append([]string{"produce", topic}, c.args...)...)
		if r.Err == nil || !strings.Contains(r.Err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error mentioning %s", c.args, r.Err, c.want)
		}
	}

	// A line over the limit stops the run; the lines before it are sent.
	r := runCLI(t, bs, "short\n"+strings.Repeat("x", 101)+"\nafter\n", "produce", topic, "--max-line-bytes", "100")
	if !errors.Is(r.Err, errLineTooLong) || !strings.Contains(r.Err.Error(), "line 2") {
		t.Errorf("long line: got %v, want errLineTooLong at line 2", r.Err)
	}
	if !strings.Contains(r.Stderr, "produced 1 records") {
		t.Errorf("long line summary: %q", r.Stderr)
	}
	// Exactly at the limit is accepted.
	mustCLI(t, bs, strings.Repeat("y", 100)+"\n", "produce", topic, "--max-line-bytes", "100")

	// A partition that does not exist is refused before any input is read.
	r = runCLI(t, bs, "a\nb\n", "produce", topic, "--partition", "7")
	if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) || !strings.Contains(r.Err.Error(), "partition 7 (topic has 1)") {
		t.Errorf("missing partition: got %v", r.Err)
	}
}

func TestProduceUnknownTopic(t *testing.T) {
	bs := testBootstrap(t)
	missing := testTopicName(t)
	start := time.Now()
	r := runCLI(t, bs, "a\nb\nc\n", "produce", missing)
	t.Logf("failed after %s", time.Since(start))
	if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) || !strings.Contains(r.Err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") ||
		!strings.Contains(r.Err.Error(), missing) {
		t.Fatalf("got %v, want UNKNOWN_TOPIC_OR_PARTITION naming the topic", r.Err)
	}
	// The broker did not create the topic as a side effect.
	topics, err := testAdmin(t, bs).ListTopics(context.Background(), missing)
	if err != nil {
		t.Fatal(err)
	}
	if d := topics[missing]; d.Err == nil {
		t.Errorf("topic %s exists after the failed produce", missing)
	}
}

// A record the broker refuses is counted, reported once, and makes the
// command fail.
func TestProduceRecordErrors(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 1)
	mustCLI(t, bs, "", "topic", "alter", topic, "--config", "max.message.bytes=200")
	big := strings.Repeat("z", 1000)
	r := runCLI(t, bs, big+"\n"+big+"\n", "produce", topic, "--max-line-bytes", "2000", "--delivery-timeout", "10s")
	if !errors.Is(r.Err, errProduceFailed) || !strings.Contains(r.Err.Error(), "MESSAGE_TOO_LARGE") {
		t.Fatalf("got %v, want errProduceFailed with MESSAGE_TOO_LARGE\nstderr:\n%s", r.Err, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "produced 0 records (0 bytes)") || !strings.Contains(r.Stderr, ", 2 errors") {
		t.Errorf("summary: %q", r.Stderr)
	}
	if n := strings.Count(r.Stderr, "produce error:"); n != 1 {
		t.Errorf("%d error lines, want 1:\n%s", n, r.Stderr)
	}
}

func TestProduceInterrupted(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 1)
	// A reader that yields two lines and then blocks, like a terminal.
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("one\ntwo\n")) }()
	ctx, cancel := context.WithCancel(context.Background())
	o := defaultProduceOptions()
	o.Client.Bootstrap = splitList(bs)
	o.Topic = topic
	done := make(chan error, 1)
	var errOut bytes.Buffer
	go func() { done <- runProduce(ctx, o, pr, nil, &errOut) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ends, err := testAdmin(t, bs).ListEndOffsets(context.Background(), topic)
		if err == nil {
			if o, _ := ends.Lookup(topic, 0); o.Offset == 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the two lines were not produced")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("interrupted produce: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("produce did not return after cancel while its input was blocked")
	}
	if !strings.Contains(errOut.String(), "produced 2 records") {
		t.Errorf("summary: %q", errOut.String())
	}
}
