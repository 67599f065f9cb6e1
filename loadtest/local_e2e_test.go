package loadtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestLocalEndToEnd builds the strata binary and runs a short workload with
// --local 1: a real node started, loaded and torn down by the harness. The
// counts in results.json must match what the broker reports storing.
func TestLocalEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the strata binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "strata")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/strata")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("strata node is not available yet: the binary does not build:\n%s", out)
	}
	if out, err := exec.CommandContext(ctx, bin, "node", "--help").CombinedOutput(); err != nil {
		t.Skipf("strata node is not available yet (strata node --help: %v):\n%s", err, out)
	}
	out := filepath.Join(dir, "results")
	cmd := exec.CommandContext(ctx, bin, "loadtest", "--local", "1", "--quiet",
		"--duration", "2s", "--warmup", "500ms", "--rate", "2000", "--out", out,
		"--set", "partitions=4", "--set", "producers=2", "--set", "consumers=2", "--set", "consumer_groups=1",
		"--set", "record_size=512", "--set", "sample_interval=500ms", "--set", "drain_timeout=20s",
		"workloads/max-throughput.yaml")
	logs, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("strata loadtest --local 1: %v\n%s", err, logs)
	}
	res, err := ReadResult(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	cn := res.Counts
	if cn.Acked < 2000 || cn.Sent != cn.Acked || cn.ProduceFailed != 0 {
		t.Fatalf("counts %+v errors %v\n%s", cn, res.Errors, logs)
	}
	if cn.Stored != cn.Acked {
		t.Errorf("broker stores %d records, harness acked %d", cn.Stored, cn.Acked)
	}
	if len(cn.Groups) != 1 {
		t.Fatalf("want one consumer group in the counts, got %+v", cn.Groups)
	}
	for _, g := range cn.Groups {
		if g.Position != g.AckedInTopics {
			t.Errorf("group %+v did not read everything", g)
		}
	}
	if res.Broker == nil || len(res.Broker.Series) == 0 {
		t.Errorf("no broker metrics read from the local node")
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err != nil {
		t.Error(err)
	}
}
