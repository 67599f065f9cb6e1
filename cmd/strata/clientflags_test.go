package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The client-command tests run against franz-go's in-process fake cluster,
// or against a real broker when STRATA_TEST_BOOTSTRAP names one. Every test
// creates its own uniquely named topics so that both targets behave alike.

const testBootstrapEnv = "STRATA_TEST_BOOTSTRAP"

// testBootstrap returns the address of the cluster a test talks to.
func testBootstrap(t *testing.T) string {
	t.Helper()
	if addr := os.Getenv(testBootstrapEnv); addr != "" {
		return addr
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1))
	if err != nil {
		t.Fatalf("start fake cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

// testTopicName is a topic name unique to this test run.
func testTopicName(t *testing.T) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	return "cli-" + name + "-" + hex.EncodeToString(b[:])
}

// testAdmin is an admin client for checking what the commands did.
func testAdmin(t *testing.T, bootstrap string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(splitList(bootstrap)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// cliResult is what one command invocation produced.
type cliResult struct {
	Stdout, Stderr string
	Err            error
}

// runCLI executes `strata ARGS... --bootstrap BOOTSTRAP` in-process with
// stdin as input, through the same cobra commands the binary registers.
func runCLI(t *testing.T, bootstrap, stdin string, args ...string) cliResult {
	t.Helper()
	root := &cobra.Command{Use: "strata", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newTopicCmd(), newProduceCmd(), newConsumeCmd(), newClusterCmd())
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--bootstrap", bootstrap))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return cliResult{Stdout: out.String(), Stderr: errOut.String(), Err: err}
}

// mustCLI is runCLI that fails the test on a command error.
func mustCLI(t *testing.T, bootstrap, stdin string, args ...string) cliResult {
	t.Helper()
	r := runCLI(t, bootstrap, stdin, args...)
	if r.Err != nil {
		t.Fatalf("strata %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r
}

func TestParseKeyValues(t *testing.T) {
	got, err := parseKeyValues("--config", []string{"a=1", "b=", "c=x=y", " d =z"})
	if err != nil {
		t.Fatal(err)
	}
	want := []keyValue{{"a", "1"}, {"b", ""}, {"c", "x=y"}, {"d", "z"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("item %d: got %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"novalue", "=v", " =v", ""} {
		if _, err := parseKeyValues("--config", []string{bad}); !errors.Is(err, errBadKeyValue) {
			t.Errorf("%q: got %v, want errBadKeyValue", bad, err)
		}
	}
}

func TestBrokerErrorRendering(t *testing.T) {
	err := newBrokerError(kerr.TopicAlreadyExists, "Topic 'x' already exists.")
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Errorf("errors.Is lost the kerr value: %v", err)
	}
	s := err.Error()
	if !strings.HasPrefix(s, "TOPIC_ALREADY_EXISTS: ") || !strings.Contains(s, "(Topic 'x' already exists.)") {
		t.Errorf("rendering %q lacks the error name or the broker message", s)
	}
	if newBrokerError(nil, "ignored") != nil {
		t.Error("nil error must stay nil")
	}
}

func TestBootstrapFlagDefaults(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want []string
	}{
		{"", []string{defaultBootstrap}},
		{"h1:1, h2:2", []string{"h1:1", "h2:2"}},
	} {
		t.Setenv(bootstrapEnv, tc.env)
		cmd := newConsumeCmd()
		got, err := cmd.Flags().GetStringSlice("bootstrap")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("env %q: bootstrap default %v, want %v", tc.env, got, tc.want)
		}
	}
	if _, err := (clientOptions{Bootstrap: []string{"h:1"}, LogLevel: "loud"}).kgoOpts(); err == nil || !strings.Contains(err.Error(), `--log-level "loud"`) {
		t.Errorf("bad log level: got %v", err)
	}
	if _, err := (clientOptions{Bootstrap: []string{" ", ""}}).kgoOpts(); !errors.Is(err, errNoBootstrap) {
		t.Errorf("empty bootstrap: got %v, want errNoBootstrap", err)
	}
}
