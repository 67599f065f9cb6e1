package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceLines produces v<from>..v<to-1>, one per line, to one partition.
func produceLines(t *testing.T, bs, topic string, partition, from, to int) {
	t.Helper()
	var in strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&in, "v%d\n", i)
	}
	mustCLI(t, bs, in.String(), "produce", topic, "--partition", strconv.Itoa(partition))
}

// outputLines splits command output into lines, dropping the final newline.
func outputLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func valueRange(from, to int) string {
	var parts []string
	for i := from; i < to; i++ {
		parts = append(parts, fmt.Sprintf("v%d", i))
	}
	return strings.Join(parts, ",")
}

func TestConsumeFrom(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 1)
	produceLines(t, bs, topic, 0, 0, 5)
	time.Sleep(20 * time.Millisecond)
	split := time.Now()
	time.Sleep(20 * time.Millisecond)
	produceLines(t, bs, topic, 0, 5, 10)

	for _, c := range []struct {
		from string
		want string
	}{
		{"earliest", valueRange(0, 10)},
		{"3", valueRange(3, 10)},
		{"0", valueRange(0, 10)},
		{"-2", valueRange(8, 10)},
		{"@" + strconv.FormatInt(split.UnixMilli(), 10), valueRange(5, 10)},
		{split.UTC().Format(time.RFC3339Nano), valueRange(5, 10)},
		{"@0", valueRange(0, 10)},
		{"25", ""}, // past the end: starts at the end
	} {
		r := mustCLI(t, bs, "", "consume", topic, "--from="+c.from, "--timeout", "400ms")
		if got := strings.Join(outputLines(r.Stdout), ","); got != c.want {
			t.Errorf("--from %s: got %s, want %s", c.from, got, c.want)
		}
		if !strings.Contains(r.Stderr, fmt.Sprintf("consumed %d records", len(outputLines(r.Stdout)))) {
			t.Errorf("--from %s: summary %q", c.from, r.Stderr)
		}
	}

	// --count stops early.
	r := mustCLI(t, bs, "", "consume", topic, "--count", "3")
	if got := strings.Join(outputLines(r.Stdout), ","); got != valueRange(0, 3) {
		t.Errorf("--count 3: got %s", got)
	}

	// latest: only records produced after the consumer started.
	done := make(chan cliResult, 1)
	go func() { done <- runCLI(t, bs, "", "consume", topic, "--from", "latest", "--count", "1") }()
	var res cliResult
	for i := 0; ; i++ {
		produceLines(t, bs, topic, 0, 100+i, 101+i)
		select {
		case res = <-done:
		case <-time.After(100 * time.Millisecond):
			if i < 100 {
				continue
			}
			t.Fatal("latest consumer saw nothing")
		}
		break
	}
	if res.Err != nil || !strings.HasPrefix(res.Stdout, "v1") || len(outputLines(res.Stdout)) != 1 {
		t.Errorf("latest: got %q, %v; want one record produced after start", res.Stdout, res.Err)
	}
}

func TestConsumePartitions(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 3)
	for p := range 3 {
		produceLines(t, bs, topic, p, p*10, p*10+3)
	}
	r := mustCLI(t, bs, "", "consume", topic, "--partition", "0", "-p", "2", "--timeout", "400ms", "--format", `%p:%v\n`)
	got := outputLines(r.Stdout)
	sort.Strings(got)
	if want := "0:v0,0:v1,0:v2,2:v20,2:v21,2:v22"; strings.Join(got, ",") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	// Whole topic.
	r = mustCLI(t, bs, "", "consume", topic, "--count", "9")
	if n := len(outputLines(r.Stdout)); n != 9 {
		t.Errorf("whole topic: %d records, want 9", n)
	}
}

func TestConsumeGroup(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 2)
	produceLines(t, bs, topic, 0, 0, 6)
	produceLines(t, bs, topic, 1, 6, 10)
	group := testTopicName(t)

	first := runCLI(t, bs, "", "consume", topic, "--group", group, "--count", "4")
	if errors.Is(first.Err, errGroupsUnsupported) {
		// Only a real broker can lack the group APIs; kfake serves them.
		t.Skipf("target broker: %v", first.Err)
	}
	if first.Err != nil {
		t.Fatalf("first member: %v\n%s", first.Err, first.Stderr)
	}
	if n := len(outputLines(first.Stdout)); n != 4 {
		t.Fatalf("first member: %d records, want 4", n)
	}
	ctx := context.Background()
	committed, err := testAdmin(t, bs).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	committed.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 4 {
		t.Errorf("committed offsets sum to %d after 4 records, want 4", total)
	}

	// The next member of the group resumes where the first stopped.
	second := mustCLI(t, bs, "", "consume", topic, "--group", group, "--timeout", "1s")
	all := append(outputLines(first.Stdout), outputLines(second.Stdout)...)
	sort.Slice(all, func(i, j int) bool { return len(all[i]) < len(all[j]) || len(all[i]) == len(all[j]) && all[i] < all[j] })
	if got := strings.Join(all, ","); got != valueRange(0, 10) {
		t.Errorf("two members together read %s, want each record once", got)
	}
	third := mustCLI(t, bs, "", "consume", topic, "--group", group, "--from", "earliest", "--timeout", "500ms")
	if third.Stdout != "" {
		t.Errorf("fully committed group read again: %q", third.Stdout)
	}

	// --from applies only where the group has no commit: a new group at
	// latest sees only what is produced after it joined.
	produceLines(t, bs, topic, 1, 10, 11)
	fresh := mustCLI(t, bs, "", "consume", topic, "--group", group+"-new", "--from", "latest", "--timeout", "1s")
	if fresh.Stdout != "" {
		t.Errorf("new group at latest read %q", fresh.Stdout)
	}
	resumed := mustCLI(t, bs, "", "consume", topic, "--group", group, "--from", "latest", "--timeout", "1s")
	if resumed.Stdout != "v10\n" {
		t.Errorf("committed group at latest read %q, want v10 (its commit wins over --from)", resumed.Stdout)
	}
}

func TestConsumeFormatAndJSON(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 1)
	before := time.Now().UnixMilli()
	mustCLI(t, bs, "k1=hello\n=nokey\n", "produce", topic, "-K", "=", "-H", "h1=x", "-H", "h2=y")
	after := time.Now().UnixMilli()

	r := mustCLI(t, bs, "", "consume", topic, "--count", "2", "--format", `%t|%p|%o|%k|%v|%h|%T|100%%\n`)
	lines := outputLines(r.Stdout)
	if len(lines) != 2 {
		t.Fatalf("got %q", r.Stdout)
	}
	for i, want := range []string{topic + "|0|0|k1|hello|h1=x,h2=y|", topic + "|0|1||nokey|h1=x,h2=y|"} {
		ts, ok := strings.CutPrefix(lines[i], want)
		if !ok {
			t.Errorf("line %d %q, want prefix %q", i, lines[i], want)
			continue
		}
		ms, err := strconv.ParseInt(strings.TrimSuffix(ts, "|100%"), 10, 64)
		if err != nil || ms < before-1000 || ms > after+1000 {
			t.Errorf("line %d timestamp %q not near the produce time", i, ts)
		}
	}
	// Formats without a newline run records together, as kcat does.
	r = mustCLI(t, bs, "", "consume", topic, "--count", "2", "-F", `[%v]\t`)
	if r.Stdout != "[hello]\t[nokey]\t" {
		t.Errorf("tab format: %q", r.Stdout)
	}

	r = mustCLI(t, bs, "", "consume", topic, "--count", "2", "--json")
	var got []jsonRecord
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	for sc.Scan() {
		var j jsonRecord
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, j)
	}
	if len(got) != 2 {
		t.Fatalf("json: %d objects, want 2", len(got))
	}
	j := got[0]
	if j.Topic != topic || j.Partition != 0 || j.Offset != 0 || j.Key == nil || *j.Key != "k1" ||
		j.Value == nil || *j.Value != "hello" || len(j.Headers) != 2 || j.Headers[1].Key != "h2" ||
		*j.Headers[1].Value != "y" || j.Encoding != "" || j.Timestamp < before-1000 {
		t.Errorf("json record 0: %+v", j)
	}
	if got[1].Key == nil || *got[1].Key != "" || got[1].Offset != 1 {
		t.Errorf("json record 1: %+v", got[1])
	}
}

func TestConsumeJSONBinary(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 1)
	mustCLI(t, bs, "k\t\xff\xfe\x00bin\n", "produce", topic, "-K", "\t")
	r := mustCLI(t, bs, "", "consume", topic, "--count", "1", "--json")
	var j jsonRecord
	if err := json.Unmarshal([]byte(r.Stdout), &j); err != nil {
		t.Fatal(err)
	}
	if j.Encoding != "base64" || j.Value == nil || j.Key == nil {
		t.Fatalf("binary record: %+v", j)
	}
	v, err := base64.StdEncoding.DecodeString(*j.Value)
	if err != nil || !bytes.Equal(v, []byte("\xff\xfe\x00bin")) {
		t.Errorf("value decodes to %q, %v", v, err)
	}
	if k, _ := base64.StdEncoding.DecodeString(*j.Key); string(k) != "k" {
		t.Errorf("key decodes to %q", k)
	}
}

func TestConsumeBadInput(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 1)
	missing := testTopicName(t)

	r := runCLI(t, bs, "", "consume", missing, "--timeout", "5s")
	if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) || !strings.Contains(r.Err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("unknown topic: got %v", r.Err)
	}
	r = runCLI(t, bs, "", "consume", topic, "--partition", "4")
	if !errors.Is(r.Err, kerr.UnknownTopicOrPartition) || !strings.Contains(r.Err.Error(), "partition 4") {
		t.Errorf("unknown partition: got %v", r.Err)
	}
	for _, c := range []struct {
		args []string
		want error
		msg  string
	}{
		{[]string{"--from", "yesterday"}, errBadFrom, `--from "yesterday"`},
		{[]string{"--from", "@soon"}, errBadFrom, `--from "@soon"`},
		{[]string{"--from", "@-5"}, errBadFrom, `--from "@-5"`},
		{[]string{"--format", "%x"}, errBadFormat, "%x"},
		{[]string{"--format", "%v%"}, errBadFormat, "lone %"},
		{[]string{"--group", "g", "--partition", "0"}, nil, "cannot be combined"},
		{[]string{"--count", "-1"}, nil, "--count -1"},
	} {
		r := runCLI(t, bs, "", append([]string{"consume", topic}, c.args...)...)
		if r.Err == nil || (c.want != nil && !errors.Is(r.Err, c.want)) || !strings.Contains(r.Err.Error(), c.msg) {
			t.Errorf("%v: got %v, want %v mentioning %q", c.args, r.Err, c.want, c.msg)
		}
	}
}

func TestConsumeCancelIsClean(t *testing.T) {
	bs := testBootstrap(t)
	topic := createTestTopic(t, bs, 1)
	produceLines(t, bs, topic, 0, 0, 2)
	o := defaultConsumeOptions()
	o.Client.Bootstrap = splitList(bs)
	o.Topic = topic
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- runConsume(ctx, o, &out, &errOut) }()
	time.Sleep(500 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("cancelled consume returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("consume did not stop on cancel")
	}
	if out.String() != "v0\nv1\n" || !strings.Contains(errOut.String(), "consumed 2 records") {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestParseFrom(t *testing.T) {
	for in, want := range map[string]kgo.Offset{
		"earliest":                    kgo.NewOffset().AtStart(),
		"":                            kgo.NewOffset().AtStart(),
		"LATEST":                      kgo.NewOffset().AtEnd(),
		"42":                          kgo.NewOffset().At(42),
		"-3":                          kgo.NewOffset().AtEnd().Relative(-3),
		"@1700000000000":              kgo.NewOffset().AfterMilli(1700000000000),
		"2023-11-14T22:13:20Z":        kgo.NewOffset().AfterMilli(1700000000000),
		"2023-11-14T23:13:20.5+01:00": kgo.NewOffset().AfterMilli(1700000000500),
	} {
		got, err := parseFrom(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got.String() != want.String() {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"soon", "@", "@x", "@-1", "1.5", "2023-11-14"} {
		if _, err := parseFrom(bad); !errors.Is(err, errBadFrom) {
			t.Errorf("%q: got %v, want errBadFrom", bad, err)
		}
	}
}

func TestParseFormat(t *testing.T) {
	rec := &kgo.Record{
		Topic: "t", Partition: 2, Offset: 17, Key: []byte("k"), Value: []byte("v"),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b"}},
		Timestamp: time.UnixMilli(1700000000123),
	}
	for format, want := range map[string]string{
		`%v\n`:              "v\n",
		`%t %p %o %k %v %T`: "t 2 17 k v 1700000000123",
		`[%h]`:              "[a=1,b=]",
		`%%v \\n \q`:        `%v \n \q`,
		`plain\ttext\r`:     "plain\ttext\r",
		``:                  "",
	} {
		w, err := parseFormat(format)
		if err != nil {
			t.Errorf("%q: %v", format, err)
			continue
		}
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		if err := w(bw, rec); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		if buf.String() != want {
			t.Errorf("%q: got %q, want %q", format, buf.String(), want)
		}
	}
	for _, bad := range []string{"%", "%z", "ok %Q"} {
		if _, err := parseFormat(bad); !errors.Is(err, errBadFormat) {
			t.Errorf("%q: got %v, want errBadFormat", bad, err)
		}
	}
}
