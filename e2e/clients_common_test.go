package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
