package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/node"
)

// startGroupNode starts a Strata node in-process: the group commands need a
// broker with a real group coordinator.
func startGroupNode(t *testing.T) string {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	cfg.Settings = map[string]string{"group.initial.rebalance.delay.ms": "0"}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n.KafkaAddr()
}

func groupCLI(t *testing.T, bootstrap string, args ...string) cliResult {
	t.Helper()
	root := &cobra.Command{Use: "strata", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newGroupCmd())
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--bootstrap", bootstrap))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return cliResult{Stdout: out.String(), Stderr: errOut.String(), Err: err}
}

func TestGroupCommands(t *testing.T) {
	bs := startGroupNode(t)
	adm := testAdmin(t, bs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic, group := "orders", "billing"
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	// 10 records per partition; each pair of records is a minute later.
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.Now().Add(-time.Hour)
	var recs []*kgo.Record
	for i := 0; i < 20; i++ {
		ts := base.Add(time.Duration(i/2) * time.Minute)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 2), Value: []byte(fmt.Sprint(i)), Timestamp: ts})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A live member that committed 4 and 7.
	member, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	for len(member.PollRecords(ctx, 1).Records()) == 0 {
	}
	// Commit through the member's session (its member ID and generation).
	member.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: {0: {Epoch: -1, Offset: 4}, 1: {Epoch: -1, Offset: 7}}}, nil)

	r := groupCLI(t, bs, "group", "list")
	if r.Err != nil || !regexp.MustCompile(`(?m)^billing\s+Stable\s+consumer\s+1\s*$`).MatchString(r.Stdout) {
		t.Fatalf("list: %v\n%s", r.Err, r.Stdout)
	}
	r = groupCLI(t, bs, "group", "describe", group)
	if r.Err != nil {
		t.Fatalf("describe: %v", r.Err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`State: Stable .*Members: 1 .*Total lag: 9`),
		regexp.MustCompile(`(?m)^orders\s+0\s+4\s+10\s+6\s+\S+-[0-9a-f-]{36}\s`),
		regexp.MustCompile(`(?m)^orders\s+1\s+7\s+10\s+3\s`),
	} {
		if !want.MatchString(r.Stdout) {
			t.Fatalf("describe lacks %s:\n%s", want, r.Stdout)
		}
	}
	// Resetting a live group is refused; so is deleting it.
	if r := groupCLI(t, bs, "group", "reset-offsets", group, "--all-topics", "--to-earliest"); !errors.Is(r.Err, errGroupActive) {
		t.Fatalf("reset of a live group: %v", r.Err)
	}
	if r := groupCLI(t, bs, "group", "delete", group); !errors.Is(r.Err, kerr.NonEmptyGroup) || !strings.Contains(r.Err.Error(), "NON_EMPTY_GROUP") {
		t.Fatalf("delete of a live group: %v", r.Err)
	}
	member.Close()

	// Dry run prints and changes nothing.
	r = groupCLI(t, bs, "group", "reset-offsets", group, "--topic", topic, "--to-earliest")
	if r.Err != nil || !strings.Contains(r.Stdout, "dry run") || !regexp.MustCompile(`(?m)^orders\s+1\s+7\s+0\s*$`).MatchString(r.Stdout) {
		t.Fatalf("dry run: %v\n%s", r.Err, r.Stdout)
	}
	committed := func() (int64, int64) {
		t.Helper()
		o, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := o.Lookup(topic, 0)
		b, _ := o.Lookup(topic, 1)
		return a.At, b.At
	}
	if a, b := committed(); a != 4 || b != 7 {
		t.Fatalf("dry run committed: %d %d", a, b)
	}
	for _, tc := range []struct {
		args []string
		a, b int64
	}{
		{[]string{"--topic", topic, "--to-earliest"}, 0, 0},
		{[]string{"--all-topics", "--to-latest"}, 10, 10},
		{[]string{"--topic", topic + ":1", "--to-offset", "3"}, 10, 3},
		{[]string{"--topic", topic, "--to-offset", "99"}, 10, 10}, // clamped to the log end
		{[]string{"--topic", topic, "--to-datetime", fmt.Sprint(base.Add(5 * time.Minute).UnixMilli())}, 5, 5},
		{[]string{"--topic", topic, "--to-datetime", base.Add(-time.Hour).UTC().Format(time.RFC3339)}, 0, 0},
	} {
		args := append([]string{"group", "reset-offsets", group, "--execute"}, tc.args...)
		if r := groupCLI(t, bs, args...); r.Err != nil || !strings.Contains(r.Stdout, "committed") {
			t.Fatalf("%v: %v\n%s", tc.args, r.Err, r.Stdout)
		}
		if a, b := committed(); a != tc.a || b != tc.b {
			t.Fatalf("%v: committed %d %d, want %d %d", tc.args, a, b, tc.a, tc.b)
		}
	}
	for _, bad := range [][]string{
		{"--topic", topic},
		{"--topic", topic, "--to-earliest", "--to-latest"},
		{"--to-earliest"},
		{"--topic", "missing-topic", "--to-earliest"},
		{"--topic", topic + ":9", "--to-earliest"},
		{"--topic", topic, "--to-datetime", "yesterday"},
	} {
		if r := groupCLI(t, bs, append([]string{"group", "reset-offsets", group}, bad...)...); r.Err == nil {
			t.Errorf("%v: no error", bad)
		}
	}

	r = groupCLI(t, bs, "group", "delete", group)
	if r.Err != nil || !strings.Contains(r.Stdout, "deleted group billing") {
		t.Fatalf("delete: %v %s", r.Err, r.Stdout)
	}
	if r := groupCLI(t, bs, "group", "describe", group); !errors.Is(r.Err, kerr.GroupIDNotFound) {
		t.Fatalf("describe after delete: %v", r.Err)
	}
	if r := groupCLI(t, bs, "group", "delete", group); !errors.Is(r.Err, kerr.GroupIDNotFound) {
		t.Fatalf("second delete: %v", r.Err)
	}
}
