package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/node"
)

// testNode is an in-process node on ephemeral ports.
type testNode struct {
	*node.Node
	cfg node.Config
}

func startNode(t testing.TB, dir string, settings map[string]string) *testNode {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Settings = settings
	cfg.Logger = testLogger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	tn := &testNode{Node: n, cfg: cfg}
	t.Cleanup(func() { _ = n.Close() })
	return tn
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("STRATA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t testing.TB, addr string) *kadm.Client {
	return kadm.NewClient(newClient(t, addr))
}

func createTopic(t testing.TB, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := newAdmin(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if resp.Err != nil {
		t.Fatalf("create topic %s: %v (%s)", topic, resp.Err, resp.ErrMessage)
	}
}

// consumeN reads exactly n records from the topic starting at the earliest
// offset, or fails after the timeout.
func consumeN(t testing.TB, addr, topic string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	opts = append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)
	cl := newClient(t, addr, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before timeout", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Fatalf("fetch error %s[%d]: %v", topic, p, err)
		})
		out = append(out, fs.Records()...)
	}
	if len(out) > n {
		t.Fatalf("consumed %d records, want %d", len(out), n)
	}
	return out
}

// repoRoot finds the directory holding go.mod.
func repoRoot(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// strataBinary builds cmd/strata once per test binary run.
func strataBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "strata-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "strata")
		cmd := exec.Command("go", "build", "-o", builtBin, "./cmd/strata")
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// freeAddr returns a loopback address whose port is free now and lies
// below the kernel's ephemeral range (32768 and up on Linux), so that no
// outgoing connection of this or another process can take it while a
// test restarts a killed node on the same address. Ports are tried at
// random so parallel test binaries rarely pick the same one.
func freeAddr(t testing.TB) string {
	t.Helper()
	const lo, hi = 20000, 32768
	portsMu.Lock()
	defer portsMu.Unlock()
	for i := 0; i < 200; i++ {
		port := lo + rand.Intn(hi-lo)
		if portsGiven[port] {
			// Handed out before in this process: a node not started yet
			// (or killed, to be restarted) may be about to bind it.
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		// Gossip binds the same port for UDP too.
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		portsGiven[port] = true
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// procReadyTimeout bounds how long startProcNode waits for /readyz.
var procReadyTimeout = 30 * time.Second

// procNode is a node running as a subprocess of the built binary.
type procNode struct {
	cmd       *exec.Cmd
	kafkaAddr string
	httpAddr  string
	dir       string
	logPath   string
}

func startProcNode(t testing.TB, bin, dir, kafkaAddr, httpAddr string, settings ...string) *procNode {
	t.Helper()
	return startProcNodeWrapped(t, nil, bin, dir, kafkaAddr, httpAddr, settings...)
}

// startProcNodeWrapped runs the node under a wrapper command (wrap, then
// the binary and its arguments), e.g. prlimit to lower its fd limit.
func startProcNodeWrapped(t testing.TB, wrap []string, bin, dir, kafkaAddr, httpAddr string, settings ...string) *procNode {
	t.Helper()
	return startProcNodeArgs(t, wrap, nil, bin, dir, kafkaAddr, httpAddr, settings...)
}

// startProcNodeArgs is startProcNodeWrapped with extra node flags (args).
func startProcNodeArgs(t testing.TB, wrap, extra []string, bin, dir, kafkaAddr, httpAddr string, settings ...string) *procNode {
	t.Helper()
	args := []string{"node", "--node-id", "1", "--data-dir", dir, "--http-addr", httpAddr}
	if !slices.Contains(extra, "--listeners") {
		args = append(args, "--kafka-addr", kafkaAddr)
	}
	args = append(args, extra...)
	for _, s := range settings {
		args = append(args, "--set", s)
	}
	logPath := filepath.Join(t.TempDir(), "node.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	if len(wrap) > 0 {
		cmd = exec.Command(wrap[0], append(append(wrap[1:len(wrap):len(wrap)], bin), args...)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &procNode{cmd: cmd, kafkaAddr: kafkaAddr, httpAddr: httpAddr, dir: dir, logPath: logPath}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	deadline := time.Now().Add(procReadyTimeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, _ := os.ReadFile(logPath)
	t.Fatalf("node did not become ready; log:\n%s", out)
	return nil
}

func (p *procNode) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}
