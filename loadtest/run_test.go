package loadtest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kfakeWorkload is a short workload against a fresh in-process cluster.
func kfakeWorkload(t *testing.T) (*kfake.Cluster, Workload) {
	t.Helper()
	c, addrs, err := StartKfake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w := DefaultWorkload()
	w.Name = "test"
	w.Bootstrap = addrs
	w.Partitions = 4
	w.Producers, w.Consumers, w.ConsumerGroups = 2, 2, 1
	w.RecordSize = 512
	w.Warmup = Duration(300 * time.Millisecond)
	w.Duration = Duration(1500 * time.Millisecond)
	w.DrainTimeout = Duration(20 * time.Second)
	w.SampleInterval = Duration(250 * time.Millisecond)
	w.KeepTopics = true
	return c, w
}

// storedIn sums the high watermarks kfake holds for topics: the cluster's
// own count, independent of the harness's.
func storedIn(c *kfake.Cluster, topics []string) int64 {
	var n int64
	for _, t := range topics {
		for _, p := range c.PartitionInfos(t) {
			n += p.HighWatermark - p.LogStartOffset
		}
	}
	return n
}

func checkCounts(t *testing.T, c *kfake.Cluster, res *Result) {
	t.Helper()
	cn := res.Counts
	if cn.Acked == 0 || cn.Sent != cn.Acked || cn.ProduceFailed != 0 {
		t.Fatalf("counts %+v, errors %v", cn, res.Errors)
	}
	if got := storedIn(c, res.Topics); got != cn.Acked || cn.Stored != cn.Acked {
		t.Fatalf("broker stores %d (harness read %d), harness acked %d", got, cn.Stored, cn.Acked)
	}
	var ackedInGroups int64
	for _, g := range cn.Groups {
		if g.Position != g.AckedInTopics || g.Read < g.Position {
			t.Errorf("group %+v did not read everything acked", g)
		}
		ackedInGroups += g.AckedInTopics
	}
	if ackedInGroups != cn.Acked {
		t.Errorf("groups cover %d acked records, want %d", ackedInGroups, cn.Acked)
	}
}

func TestRunLiveAgainstKfake(t *testing.T) {
	c, w := kfakeWorkload(t)
	w.Rate = Rate{Value: 4000}
	w.Payload, w.Keys, w.DistinctKeys = Payload{Kind: PayloadJSON}, KeysDistinct, 10
	w.Compression = "zstd"
	var progress bytes.Buffer
	res, err := Run(context.Background(), Options{Workload: w, Target: "kfake", Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, c, res)
	s := res.Summary
	// A fixed rate is held: 4,000/s within 20%.
	if s.ProduceRecordsPerS < 3200 || s.ProduceRecordsPerS > 4800 {
		t.Errorf("produce rate %v, want ~4000", s.ProduceRecordsPerS)
	}
	if s.ProduceLatency.Count == 0 || s.EndToEndLatency.Count == 0 || s.EndToEndLatency.P99 <= 0 || s.EndToEndLatency.P99 > 2000 {
		t.Errorf("latencies %+v %+v", s.ProduceLatency, s.EndToEndLatency)
	}
	var names []string
	for _, p := range res.Phases {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "warmup,measure,drain" {
		t.Errorf("phases %v", names)
	}
	if len(res.Series) < 4 || !strings.Contains(progress.String(), "phase measure") || !strings.Contains(progress.String(), "rec/s") {
		t.Errorf("%d samples; progress:\n%s", len(res.Series), progress.String())
	}
	if res.Distributions["end_to_end"] == nil || res.Histograms["produce_ack"] == "" {
		t.Error("distributions missing")
	}
	dir := t.TempDir()
	jp, hp, err := WriteResults(dir, res)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(jp)
	if err != nil || back.Counts.Acked != res.Counts.Acked || back.Workload.Rate != w.Rate {
		t.Fatalf("results.json round trip: %v %+v", err, back)
	}
	if html, _ := os.ReadFile(hp); !bytes.Contains(html, []byte("<svg")) {
		t.Error("report has no chart")
	}
	// kfake exposes no metrics: the wire figures are absent, not 0.
	if s.ProduceWireMBPerS != nil || s.ConsumeWireMBPerS != nil || !strings.HasPrefix(s.WireSource, "n/a") {
		t.Errorf("wire figures against kfake: %v %v %q", s.ProduceWireMBPerS, s.ConsumeWireMBPerS, s.WireSource)
	}
	if raw, _ := os.ReadFile(jp); !bytes.Contains(raw, []byte(`"produce_wire_mb_per_sec": null`)) {
		t.Error("results.json does not say the wire rate is unknown")
	}
	var sum bytes.Buffer
	if err := FormatSummary(&sum, res); err != nil || !strings.Contains(sum.String(), "n/a MB/s wire") {
		t.Errorf("summary: %v\n%s", err, sum.String())
	}
	if res.FirstProduce <= 0 || res.FirstProduce > res.Phases[0].Start+1 {
		t.Errorf("first record at %.2fs, warm-up starts at %.2fs", res.FirstProduce, res.Phases[0].Start)
	}
}

func TestRunTransactionsMaxRate(t *testing.T) {
	c, w := kfakeWorkload(t)
	w.Transactions = true
	w.TransactionInterval = Duration(50 * time.Millisecond)
	w.Duration = Duration(time.Second)
	w.MaxBytes = 4 << 20 // bounded by bytes too
	res, err := Run(context.Background(), Options{Workload: w, Target: "kfake"})
	if err != nil {
		t.Fatal(err)
	}
	cn := res.Counts
	if cn.Acked == 0 || cn.ProduceFailed != 0 || len(res.Errors) != 0 {
		t.Fatalf("counts %+v errors %v", cn, res.Errors)
	}
	// Read-committed consumers see every committed record; the broker
	// also stores one commit marker per transaction and partition.
	for g, n := range cn.Consumed {
		if n != cn.Acked {
			t.Errorf("group %s read %d of %d", g, n, cn.Acked)
		}
	}
	if stored := storedIn(c, res.Topics); stored <= cn.Acked {
		t.Errorf("stored %d should exceed acked %d by the commit markers", stored, cn.Acked)
	}
	if cn.AckedBytes > int64(w.MaxBytes)+int64(w.Producers)*int64(w.RecordSize) {
		t.Errorf("max_bytes %d exceeded: %d", w.MaxBytes, cn.AckedBytes)
	}
}

func TestRunBacklogAgainstKfake(t *testing.T) {
	c, w := kfakeWorkload(t)
	w.Mode = ModeBacklog
	w.BacklogBytes = 8 << 20
	w.Duration = Duration(30 * time.Second)
	res, err := Run(context.Background(), Options{Workload: w, Target: "kfake"})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, c, res)
	if want := int64(w.BacklogBytes) / int64(w.RecordSize); res.Counts.Acked != want {
		t.Errorf("wrote %d records, want %d", res.Counts.Acked, want)
	}
	s := res.Summary
	if s.CaughtUp == nil || !*s.CaughtUp || s.CatchUpSeconds <= 0 || s.ConsumeMBPerS <= 0 || s.ProducePhase != PhaseWrite {
		t.Errorf("summary %+v", s)
	}
}

func TestRunMixedAgainstKfake(t *testing.T) {
	c, w := kfakeWorkload(t)
	w.Mode = ModeMixed
	w.BacklogBytes = 4 << 20
	w.Rate = Rate{Value: 2000}
	w.Warmup = 0
	w.Duration = Duration(time.Second)
	res, err := Run(context.Background(), Options{Workload: w, Target: "kfake"})
	if err != nil {
		t.Fatal(err)
	}
	checkCounts(t, c, res)
	s := res.Summary
	if s.HotE2EP99Baseline <= 0 || s.HotE2EP99Replay <= 0 || s.CaughtUp == nil {
		t.Errorf("mixed summary %+v", s)
	}
	if len(res.Counts.Consumed) != 2 {
		t.Errorf("want a hot and a replay group: %v", res.Counts.Consumed)
	}
	var sum bytes.Buffer
	if err := FormatSummary(&sum, res); err != nil || !strings.Contains(sum.String(), "without replay") {
		t.Errorf("summary text: %v\n%s", err, sum.String())
	}
}

func TestRunRefusesRemoteAndInvalid(t *testing.T) {
	w := DefaultWorkload()
	w.Bootstrap = []string{"192.0.2.10:9092"}
	if _, err := Run(context.Background(), Options{Workload: w}); !errors.Is(err, ErrRemoteTarget) {
		t.Fatalf("remote target: %v", err)
	}
	w.Partitions = 0
	if _, err := Run(context.Background(), Options{Workload: w, AllowRemote: true}); !errors.Is(err, ErrInvalidWorkload) {
		t.Fatalf("invalid workload: %v", err)
	}
}

func TestRunCancelled(t *testing.T) {
	_, w := kfakeWorkload(t)
	w.Duration = Duration(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, Options{Workload: w})
	if !errors.Is(err, errStopped) || res == nil {
		t.Fatalf("cancelled run: %v", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("cancel took %v", time.Since(start))
	}
	_ = filepath.Join
}

// TestRunPayloadFilesAgainstKfake produces from two payload files and
// reads the topic back with a separate client: every stored value is one
// of the files, byte for byte, and both are used.
func TestRunPayloadFilesAgainstKfake(t *testing.T) {
	c, w := kfakeWorkload(t)
	dir := t.TempDir()
	bodies := map[string]bool{`{"order":1,"items":["a","b"]}`: true, strings.Repeat("x", 2000): true}
	i := 0
	for body := range bodies {
		if err := os.WriteFile(filepath.Join(dir, "p"+string(rune('a'+i))+".json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		i++
	}
	w.Payload = Payload{Kind: PayloadFile, Files: []string{filepath.Join(dir, "*.json")}}
	w.Rate = Rate{Value: 1000}
	w.Consumers, w.ConsumerGroups = 0, 0
	res, err := Run(context.Background(), Options{Workload: w, Target: "kfake"})
	if err != nil {
		t.Fatal(err)
	}
	if cn := res.Counts; cn.Acked == 0 || cn.Sent != cn.Acked || cn.Stored != cn.Acked || storedIn(c, res.Topics) != cn.Acked {
		t.Fatalf("counts %+v, errors %v", cn, res.Errors)
	}
	if res.Workload.RecordSize != ByteSize((29+2000)/2) {
		t.Errorf("record_size %d, want the files' mean", res.Workload.RecordSize)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(res.Topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := map[string]int64{}
	var n int64
	for n < res.Counts.Acked && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			if !bodies[string(r.Value)] {
				t.Fatalf("stored value %.40q is none of the files", r.Value)
			}
			seen[string(r.Value)]++
			n++
		})
	}
	if n != res.Counts.Acked || len(seen) != 2 {
		t.Fatalf("read %d of %d records, %d distinct values", n, res.Counts.Acked, len(seen))
	}
}
