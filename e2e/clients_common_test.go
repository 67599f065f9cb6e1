package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Helpers shared by the client-compatibility tests (clients_*_test.go). Each
// test runs a real, non-Go Kafka client as a subprocess with a script from
// testdata/clients; the script prints one JSON object per line on stdout and
// the test checks those lines, and the log itself, from Go.

// clientScript copies testdata/clients/name into a fresh temporary directory
// and returns its path, so a script run never writes next to the sources.
func clientScript(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "clients", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// clientEvent is one JSON line a client script printed. Fields are the union
// of what the scripts print; values and keys travel base64-free as strings
// because every script uses printable payloads.
type clientEvent struct {
	Event     string            `json:"event"`
	Topic     string            `json:"topic"`
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers"`
	Count     int               `json:"count"`
	Error     string            `json:"error"`
}

// runClient runs cmd (a client script) with a deadline and returns the JSON
// events it printed. A non-zero exit or an "error" event fails the test with
// the script's stderr.
func runClient(t *testing.T, timeout time.Duration, env []string, name string, args ...string) []clientEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	var shown []string
	for _, a := range args {
		shown = append(shown, filepath.Base(a))
	}
	t.Logf("%s %s: %v", filepath.Base(name), strings.Join(shown, " "), time.Since(start).Round(time.Millisecond))
	if os.Getenv("STRATA_TEST_LOG") != "" {
		t.Logf("%s stderr:\n%s", filepath.Base(name), stderr.Bytes())
	}
	events, perr := parseEvents(stdout.Bytes())
	if err != nil || perr != nil {
		t.Fatalf("%s %v: %v %v\nstdout:\n%s\nstderr:\n%s", name, args, err, perr, stdout.Bytes(), tail(stderr.Bytes(), 4000))
	}
	for _, e := range events {
		if e.Event == "error" {
			t.Fatalf("%s reported: %s\nstderr:\n%s", name, e.Error, tail(stderr.Bytes(), 4000))
		}
	}
	return events
}

func parseEvents(out []byte) ([]clientEvent, error) {
	var events []clientEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var e clientEvent
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, sc.Err()
}

func filterEvents(events []clientEvent, kind string) []clientEvent {
	var out []clientEvent
	for _, e := range events {
		if e.Event == kind {
			out = append(out, e)
		}
	}
	return out
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// checkGroupCaughtUp checks, the way `strata group describe` does (describe,
// committed offsets, end offsets), that group has left the Empty group with
// commits equal to want on every partition of topic and no lag.
func checkGroupCaughtUp(t *testing.T, addr, group, topic string, want map[int32]int64) {
	t.Helper()
	adm := newAdmin(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		t.Fatalf("lag %s: %v", group, err)
	}
	l := lags[group]
	if err := l.Error(); err != nil {
		t.Fatalf("lag %s: %v", group, err)
	}
	if l.State != "Empty" || l.ProtocolType != "consumer" {
		t.Fatalf("group %s: state %q protocol type %q, want Empty consumer", group, l.State, l.ProtocolType)
	}
	for p, off := range want {
		ml, ok := l.Lag.Lookup(topic, p)
		if !ok {
			t.Fatalf("group %s: no lag entry for %s[%d]", group, topic, p)
		}
		if ml.Err != nil || ml.Commit.At != off || ml.End.Offset != off || ml.Lag != 0 {
			t.Fatalf("group %s %s[%d]: commit %d end %d lag %d err %v, want commit %d lag 0",
				group, topic, p, ml.Commit.At, ml.End.Offset, ml.Lag, ml.Err, off)
		}
	}
	if got := len(l.Lag[topic]); got != len(want) {
		t.Fatalf("group %s: lag for %d partitions, want %d", group, got, len(want))
	}
}

// clientValue is the value every client script writes for record i: it
// names the client and compresses well, so batches really are compressed.
func clientValue(src string, i int) string {
	return fmt.Sprintf("%s value %d ", src, i) + strings.Repeat(fmt.Sprintf("padding-%d ", i%10), 20)
}

// checkClientRecords checks records a script consumed against the ones a
// produce phase wrote: indexes first..first+n-1, record i on partition
// i%parts under key "k-i", each exactly once and in offset order per
// partition, with its value and headers idx=i and src=src.
func checkClientRecords(t *testing.T, recs []clientEvent, src string, first, n, parts int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("consumed %d records, want %d", len(recs), n)
	}
	seen := map[int]bool{}
	last := map[int32]int64{}
	for _, r := range recs {
		var i int
		if _, err := fmt.Sscanf(r.Key, "k-%d", &i); err != nil {
			t.Fatalf("record key %q: %v", r.Key, err)
		}
		if i < first || i >= first+n || seen[i] {
			t.Fatalf("record %d outside [%d,%d) or seen twice", i, first, first+n)
		}
		seen[i] = true
		if r.Partition != int32(i%parts) || r.Value != clientValue(src, i) ||
			r.Headers["idx"] != fmt.Sprint(i) || r.Headers["src"] != src {
			t.Fatalf("record %d mangled: %+v", i, r)
		}
		if o, ok := last[r.Partition]; ok && r.Offset <= o {
			t.Fatalf("partition %d offsets out of order: %d after %d", r.Partition, r.Offset, o)
		}
		last[r.Partition] = r.Offset
	}
}

// checkLogRecords reads topic from the start with franz-go and checks the
// n records a script produced, byte for byte: record i at partition i%parts,
// offset i/parts, its key, value and headers, the batch codec (kgo's
// numbering: 1 gzip, 2 snappy, 3 lz4, 4 zstd) and, when idempotent, a single
// producer ID.
func checkLogRecords(t *testing.T, addr, topic, src string, n, parts int, codec uint8, idempotent bool) {
	t.Helper()
	pids := map[int64]bool{}
	for _, r := range consumeN(t, addr, topic, n) {
		var i int
		if _, err := fmt.Sscanf(string(r.Key), "k-%d", &i); err != nil {
			t.Fatal(err)
		}
		if r.Partition != int32(i%parts) || r.Offset != int64(i/parts) || string(r.Value) != clientValue(src, i) {
			t.Fatalf("record %d at %d/%d: %q", i, r.Partition, r.Offset, r.Value)
		}
		if len(r.Headers) != 2 || r.Headers[0].Key != "idx" || string(r.Headers[0].Value) != fmt.Sprint(i) ||
			r.Headers[1].Key != "src" || string(r.Headers[1].Value) != src {
			t.Fatalf("record %d headers %+v", i, r.Headers)
		}
		if c := r.Attrs.CompressionType(); c != codec {
			t.Fatalf("record %d compression %d, want %d", i, c, codec)
		}
		pids[r.ProducerID] = true
	}
	if idempotent && (len(pids) != 1 || pids[-1]) {
		t.Fatalf("producer ids %v, want one idempotent producer", pids)
	}
}
