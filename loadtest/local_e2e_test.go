package loadtest

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestLocalEndToEnd builds the strata binary and runs short workloads with
// --local 1: a real node started, loaded and torn down by the harness. The
// counts in results.json must match what the broker reports storing, and
// the wire MB/s read from the node's byte counters must show what the
// codec did to the payload: nothing for random values with lz4, about half
// for half-compressible values with zstd.
func TestLocalEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the strata binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "strata")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../cmd/strata")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("strata node is not available yet: the binary does not build:\n%s", out)
	}
	if out, err := exec.CommandContext(ctx, bin, "node", "--help").CombinedOutput(); err != nil {
		t.Skipf("strata node is not available yet (strata node --help: %v):\n%s", err, out)
	}
	// groups is the number of consumer groups (of 2); without one the run
	// skips the group join and checks only the produce side.
	run := func(t *testing.T, name string, groups int, extra ...string) *Result {
		t.Helper()
		out := filepath.Join(dir, name)
		consumers := 2 * min(groups, 1)
		args := []string{"loadtest", "--local", "1", "--quiet",
			"--duration", "3s", "--warmup", "500ms", "--out", out,
			"--set", "partitions=4", "--set", "producers=2",
			"--set", "consumers=" + strconv.Itoa(consumers), "--set", "consumer_groups=" + strconv.Itoa(groups),
			"--set", "sample_interval=500ms", "--set", "drain_timeout=20s"}
		args = append(append(args, extra...), "workloads/max-throughput.yaml")
		logs, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("strata loadtest --local 1: %v\n%s", err, logs)
		}
		res, err := ReadResult(filepath.Join(out, "results.json"))
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		cn := res.Counts
		if cn.Acked < 1000 || cn.Sent != cn.Acked || cn.ProduceFailed != 0 {
			t.Fatalf("counts %+v errors %v\n%s", cn, res.Errors, logs)
		}
		if cn.Stored != cn.Acked {
			t.Errorf("broker stores %d records, harness acked %d", cn.Stored, cn.Acked)
		}
		if len(cn.Groups) != groups {
			t.Fatalf("want %d consumer groups in the counts, got %+v", groups, cn.Groups)
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
		s := res.Summary
		if s.ProduceWireMBPerS == nil || s.ConsumeWireMBPerS == nil || *s.ProduceWireMBPerS <= 0 || (groups > 0 && *s.ConsumeWireMBPerS <= 0) {
			t.Fatalf("no wire MB/s from a node with metrics: %v %v (%s)", s.ProduceWireMBPerS, s.ConsumeWireMBPerS, s.WireSource)
		}
		// results.json carries the figures as numbers.
		raw, err := os.ReadFile(filepath.Join(out, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Summary map[string]any `json:"summary"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		if _, ok := doc.Summary["produce_wire_mb_per_sec"].(float64); !ok {
			t.Errorf("results.json summary: produce_wire_mb_per_sec is %v", doc.Summary["produce_wire_mb_per_sec"])
		}
		return res
	}
	wireRatio := func(res *Result) float64 { return *res.Summary.ProduceWireMBPerS / res.Summary.ProduceMBPerS }

	var random float64
	t.Run("random-lz4", func(t *testing.T) {
		res := run(t, "random-lz4", 1, "--rate", "2000", "--set", "record_size=1024", "--compression", "lz4")
		// Requests carry the values uncompressed plus framing: never less.
		random = wireRatio(res)
		t.Logf("lz4, random values: wire/logical produce bytes %.3f", random)
		if random < 0.98 || random > 2 {
			t.Errorf("wire/logical produce bytes %.3f with lz4 on random values, want 0.98–2", random)
		}
	})
	t.Run("half-compressible-zstd", func(t *testing.T) {
		res := run(t, "half-zstd", 0, "--rate", "1000", "--set", "record_size=8KiB", "--compression", "zstd",
			"--set", "payload.compressibility=0.5")
		got := wireRatio(res)
		t.Logf("zstd, compressibility 0.5: wire/logical produce bytes %.3f", got)
		if got < 0.4 || got > 0.8 || (random > 0 && got > 0.8*random) {
			t.Errorf("wire/logical produce bytes %.3f with zstd on half-compressible values (random lz4: %.3f), want 0.4–0.8", got, random)
		}
	})
}
