package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// StartKfake starts franz-go's in-process fake Kafka cluster on a loopback
// port: running a workload against it measures the harness's own ceiling
// on this machine. Close the cluster when done.
func StartKfake() (*kfake.Cluster, []string, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.ListenFn(func(network, _ string) (net.Listener, error) {
		return net.Listen(network, "127.0.0.1:0")
	}))
	if err != nil {
		return nil, nil, fmt.Errorf("start kfake: %w", err)
	}
	return c, c.ListenAddrs(), nil
}

// ErrLocalSize is returned for a --local cluster size that cannot be
// started yet.
var ErrLocalSize = errors.New("local cluster size not supported")

// LocalCluster is a throwaway Strata cluster of subprocesses in a
// temporary directory.
type LocalCluster struct {
	Bootstrap []string
	HTTPAddr  string
	dir       string
	cmds      []*exec.Cmd
	exited    []chan struct{} // closed when the node exits
}

// LocalConfig configures StartLocal.
type LocalConfig struct {
	// Nodes is the cluster size; only 1 is supported until nodes can form
	// a cluster.
	Nodes int
	// Binary is the strata executable (os.Executable() when empty).
	Binary string
	// Log receives the nodes' output (discarded when nil).
	Log io.Writer
	// ReadyTimeout bounds the wait for /readyz.
	ReadyTimeout time.Duration
}

// StartLocal starts `strata node` in a temporary directory on free
// loopback ports and waits until it reports ready.
func StartLocal(ctx context.Context, cfg LocalConfig) (*LocalCluster, error) {
	if cfg.Nodes != 1 {
		return nil, fmt.Errorf("%w: --local %d (only --local 1 until multi-node clusters are available)", ErrLocalSize, cfg.Nodes)
	}
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find strata binary: %w", err)
		}
		cfg.Binary = exe
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	dir, err := os.MkdirTemp("", "strata-loadtest-local-")
	if err != nil {
		return nil, fmt.Errorf("local cluster dir: %w", err)
	}
	c := &LocalCluster{dir: dir}
	ports, err := freePorts(2)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	kafkaAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	c.HTTPAddr = "127.0.0.1:" + strconv.Itoa(ports[1])
	c.Bootstrap = []string{kafkaAddr}
	cmd := exec.Command(cfg.Binary, "node", "--node-id", "1", "--data-dir", dir+"/node1",
		"--kafka-addr", kafkaAddr, "--http-addr", c.HTTPAddr)
	cmd.Stdout, cmd.Stderr = cfg.Log, cfg.Log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start strata node: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.cmds, c.exited = append(c.cmds, cmd), append(c.exited, exited)
	if err := waitReady(ctx, "http://"+c.HTTPAddr+"/readyz", cfg.ReadyTimeout, exited); err != nil {
		c.Stop(5 * time.Second)
		return nil, err
	}
	return c, nil
}

// MetricsURL is the node's Prometheus endpoint.
func (c *LocalCluster) MetricsURL() string { return "http://" + c.HTTPAddr + "/metrics" }

// Stop sends SIGTERM to every node, SIGKILL after grace, and removes the
// temporary directory.
func (c *LocalCluster) Stop(grace time.Duration) {
	for _, cmd := range c.cmds {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	for i, cmd := range c.cmds {
		select {
		case <-c.exited[i]:
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-c.exited[i]
		}
	}
	_ = os.RemoveAll(c.dir)
}

// waitReady polls url until it answers 200, the process exits, or timeout.
func waitReady(ctx context.Context, url string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("strata node exited before it was ready (see its log)")
		case <-ctx.Done():
			return fmt.Errorf("strata node not ready at %s: %w", url, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts picks n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
