package main

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// partitionRow matches one row of the describe partition table.
var partitionRow = regexp.MustCompile(`(?m)^(\d+)\s+(-?\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$`)

func TestTopicLifecycle(t *testing.T) {
	bs := testBootstrap(t)
	topic := testTopicName(t)

	r := mustCLI(t, bs, "", "topic", "create", topic, "--partitions", "3", "--replication-factor", "1",
		"--config", "retention.ms=3600000", "--config", "max.message.bytes=2000000")
	if !strings.Contains(r.Stdout, "created topic "+topic+" (partitions 3, replication 1)") {
		t.Errorf("create output: %q", r.Stdout)
	}

	// Creating it again is a broker error, rendered with its Kafka name.
	r = runCLI(t, bs, "", "topic", "create", topic, "--partitions", "3")
	if !errors.Is(r.Err, kerr.TopicAlreadyExists) || !strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS") {
		t.Errorf("second create: got %v, want TOPIC_ALREADY_EXISTS", r.Err)
	}

	r = mustCLI(t, bs, "", "topic", "list")
	lines := strings.Split(r.Stdout, "\n")
	if !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "REPLICATION") {
		t.Errorf("list header: %q", lines[0])
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(topic) + `\s+3\s+1\s+false\s*$`).MatchString(r.Stdout) {
		t.Errorf("list lacks a row for %s with 3 partitions, replication 1:\n%s", topic, r.Stdout)
	}

	// Put two records in partition 1 so the offsets show in describe.
	mustCLI(t, bs, "a\nb\n", "produce", topic, "--partition", "1")
	r = mustCLI(t, bs, "", "topic", "describe", topic)
	rows := partitionRow.FindAllStringSubmatch(r.Stdout, -1)
	if len(rows) != 3 {
		t.Fatalf("describe: want 3 partition rows, got %d:\n%s", len(rows), r.Stdout)
	}
	for _, row := range rows {
		wantEnd := "0"
		if row[1] == "1" {
			wantEnd = "2"
		}
		if row[5] != "0" || row[6] != wantEnd {
			t.Errorf("partition %s: log start %s end %s, want 0 and %s", row[1], row[5], row[6], wantEnd)
		}
		if row[2] == "-1" || row[3] == "-" || row[4] == "-" {
			t.Errorf("partition %s: leader/replicas/ISR missing: %q", row[1], row[0])
		}
	}
	for _, want := range []string{"Partitions: 3", "retention.ms=3600000", "max.message.bytes=2000000"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("describe lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "segment.bytes") {
		t.Errorf("describe shows a default config without --all-configs:\n%s", r.Stdout)
	}
	r = mustCLI(t, bs, "", "topic", "describe", topic, "--all-configs")
	if !strings.Contains(r.Stdout, "retention.ms=3600000\t(dynamic-topic-config)") {
		t.Errorf("--all-configs lacks the source of retention.ms:\n%s", r.Stdout)
	}

	// Alter: set one config, remove another, grow to 5 partitions.
	r = mustCLI(t, bs, "", "topic", "alter", topic, "--config", "cleanup.policy=compact",
		"--delete-config", "retention.ms", "--partitions", "5")
	if !strings.Contains(r.Stdout, "altered 2 config(s)") || !strings.Contains(r.Stdout, "now has 5 partitions") {
		t.Errorf("alter output: %q", r.Stdout)
	}
	r = mustCLI(t, bs, "", "topic", "describe", topic)
	if n := len(partitionRow.FindAllString(r.Stdout, -1)); n != 5 {
		t.Errorf("after alter: %d partitions, want 5:\n%s", n, r.Stdout)
	}
	if !strings.Contains(r.Stdout, "cleanup.policy=compact") || strings.Contains(r.Stdout, "retention.ms=") {
		t.Errorf("after alter: configs not changed:\n%s", r.Stdout)
	}

	// Shrinking is refused by the broker.
	r = runCLI(t, bs, "", "topic", "alter", topic, "--partitions", "2")
	if !errors.Is(r.Err, kerr.InvalidPartitions) {
		t.Errorf("shrink: got %v, want INVALID_PARTITIONS", r.Err)
	}

	r = mustCLI(t, bs, "", "topic", "delete", topic)
	if !strings.Contains(r.Stdout, "deleted topic "+topic) {
		t.Errorf("delete output: %q", r.Stdout)
	}
	r = mustCLI(t, bs, "", "topic", "list")
	if strings.Contains(r.Stdout, topic) {
		t.Errorf("deleted topic still listed:\n%s", r.Stdout)
	}
	r = runCLI(t, bs, "", "topic", "describe", topic)
	if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) || !strings.Contains(r.Err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("describe deleted topic: got %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}
	r = runCLI(t, bs, "", "topic", "delete", topic)
	if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete deleted topic: got %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}
}

func TestTopicDescribeSeveral(t *testing.T) {
	bs := testBootstrap(t)
	a, b, missing := testTopicName(t), testTopicName(t), testTopicName(t)
	mustCLI(t, bs, "", "topic", "create", a, "--partitions", "1")
	mustCLI(t, bs, "", "topic", "create", b, "--partitions", "2")

	// The existing topics are printed even though one name is unknown, and
	// the command still fails.
	r := runCLI(t, bs, "", "topic", "describe", a, missing, b)
	if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) || !strings.Contains(r.Err.Error(), missing) {
		t.Errorf("got %v, want UNKNOWN_TOPIC_OR_PARTITION naming %s", r.Err, missing)
	}
	for _, want := range []string{"Topic: " + a, "Topic: " + b} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if n := len(partitionRow.FindAllString(r.Stdout, -1)); n != 3 {
		t.Errorf("%d partition rows, want 3:\n%s", n, r.Stdout)
	}
	mustCLI(t, bs, "", "topic", "delete", a, b)
}

func TestTopicBadInput(t *testing.T) {
	bs := testBootstrap(t)
	topic := testTopicName(t)

	r := runCLI(t, bs, "", "topic", "create", topic, "--config", "retention.ms")
	if !errors.Is(r.Err, errBadKeyValue) || !strings.Contains(r.Err.Error(), `"retention.ms"`) {
		t.Errorf("bad --config: got %v, want errBadKeyValue naming the argument", r.Err)
	}
	r = runCLI(t, bs, "", "topic", "alter", topic)
	if !errors.Is(r.Err, errNothingToAlter) {
		t.Errorf("empty alter: got %v", r.Err)
	}
	r = runCLI(t, bs, "", "topic", "alter", topic, "--config", "retention.ms=1")
	if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("alter unknown topic: got %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}
	if os.Getenv(testBootstrapEnv) != "" {
		// kfake stores any topic config; a real broker refuses unknown ones.
		r = runCLI(t, bs, "", "topic", "create", topic, "--config", "no.such.config=1")
		if r.Err == nil || !strings.Contains(r.Err.Error(), "INVALID_CONFIG") {
			t.Errorf("unknown config: got %v, want INVALID_CONFIG", r.Err)
		}
	}
	r = runCLI(t, bs, "", "topic", "create")
	if r.Err == nil {
		t.Error("create without a name succeeded")
	}
}

func TestTopicCommandUnreachableBroker(t *testing.T) {
	// Nothing listens on a just-closed port: the command must fail within
	// its --timeout rather than hang.
	r := runCLI(t, "127.0.0.1:1", "", "topic", "list", "--timeout", "2s")
	if r.Err == nil {
		t.Fatal("list against no broker succeeded")
	}
	if msg := r.Err.Error(); !strings.Contains(msg, "dial") && !strings.Contains(msg, "deadline") {
		t.Errorf("error %q names neither the dial failure nor the deadline", msg)
	}
}
