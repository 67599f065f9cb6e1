package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompactionOffsetsLoadTimes commits 1,000,000 offsets for 1,000
// groups (STRATA_COMPACTION_BENCH=1; `make bench-compaction`), then
// restarts the node and reports how long the group coordinator took to
// load __consumer_offsets and how big it is, with the log cleaner off (the
// offsets topic grows with every commit) and on.
func TestCompactionOffsetsLoadTimes(t *testing.T) {
	if os.Getenv("STRATA_COMPACTION_BENCH") == "" {
		t.Skip("set STRATA_COMPACTION_BENCH=1 (make bench-compaction)")
	}
	commits := 1_000_000
	if s := os.Getenv("STRATA_COMPACTION_COMMITS"); s != "" {
		commits, _ = strconv.Atoi(s)
	}
	const groups, parts = 1000, 10
	bin := strataBinary(t)
	for _, cleaner := range []string{"false", "true"} {
		dir := t.TempDir()
		kafka, httpAddr := freeAddr(t), freeAddr(t)
		settings := []string{"log.cleaner.enable=" + cleaner, "log.cleaner.backoff.ms=1000", "offsets.topic.segment.bytes=1048576"}
		p := startProcNode(t, bin, dir, kafka, httpAddr, settings...)
		createTopic(t, kafka, "orders", parts, nil)
		cl := newClient(t, kafka)
		started := time.Now()
		commitOffsets(t, cl, groups, parts, commits)
		took := time.Since(started)
		if cleaner == "true" {
			// Let the cleaner catch up: the offsets topic stops shrinking.
			prev := int64(-1)
			for i := 0; i < 120; i++ {
				time.Sleep(2 * time.Second)
				cur := dirBytes(t, filepath.Join(dir, "kafka"), "__consumer_offsets-")
				if cur == prev {
					break
				}
				prev = cur
			}
		}
		size := dirBytes(t, filepath.Join(dir, "kafka"), "__consumer_offsets-")
		cleaned := metricValue(t, httpAddr, "strata_log_cleaner_records_removed_total")
		p.stopClean(t)
		p2 := startProcNode(t, bin, dir, kafka, httpAddr, settings...)
		loadLog, _ := os.ReadFile(p2.logPath)
		groupsPhase := regexp.MustCompile(`msg="start-up phases".* groups=(\S+)`).FindSubmatch(loadLog)
		var records int64
		for _, m := range regexp.MustCompile(`msg="loaded __consumer_offsets partition".* records=(\d+)`).FindAllSubmatch(loadLog, -1) {
			n, _ := strconv.ParseInt(string(m[1]), 10, 64)
			records += n
		}
		phase := "?"
		if groupsPhase != nil {
			phase = string(groupsPhase[1])
		}
		t.Logf("cleaner %-5s: %d offset commits for %d groups in %v (%.0f/s); __consumer_offsets %.1f MiB on disk, %d records removed by the cleaner; restart loaded %d records, groups phase %s",
			cleaner, commits, groups, took.Round(time.Millisecond), float64(commits)/took.Seconds(), float64(size)/(1<<20), int64(cleaned), records, phase)
		// The offsets read back after the restart.
		adm := newAdmin(t, kafka)
		off, err := adm.FetchOffsets(context.Background(), "group-0007")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := off.Lookup("orders", 3); !ok || o.At != int64(commits/groups/parts-1) {
			t.Fatalf("group-0007 orders[3] at %v %v, want %d", o.At, ok, commits/groups/parts-1)
		}
		p2.stopClean(t)
	}
}

// commitOffsets commits offsets 0, 1, ... of every partition of "orders"
// for groups simple (memberless) groups until n offsets are committed.
func commitOffsets(t *testing.T, cl *kgo.Client, groups, parts, n int) {
	t.Helper()
	ctx := context.Background()
	rounds := n / groups / parts
	work := make(chan int)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				for r := 0; r < rounds; r++ {
					req := kmsg.NewPtrOffsetCommitRequest()
					req.Group = fmt.Sprintf("group-%04d", g)
					req.Generation = -1
					rt := kmsg.NewOffsetCommitRequestTopic()
					rt.Topic = "orders"
					for p := 0; p < parts; p++ {
						rp := kmsg.NewOffsetCommitRequestTopicPartition()
						rp.Partition, rp.Offset = int32(p), int64(r)
						rt.Partitions = append(rt.Partitions, rp)
					}
					req.Topics = append(req.Topics, rt)
					resp, err := req.RequestWith(ctx, cl)
					if err == nil {
						for _, p := range resp.Topics[0].Partitions {
							if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
								err = e
							}
						}
					}
					if err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
				}
			}
		}()
	}
	for g := 0; g < groups; g++ {
		work <- g
	}
	close(work)
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
}

// dirBytes sums the sizes of the files under dir's subdirectories whose
// names start with prefix.
func dirBytes(t *testing.T, dir, prefix string) int64 {
	t.Helper()
	var total int64
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		files, _ := os.ReadDir(filepath.Join(dir, e.Name()))
		for _, f := range files {
			if info, err := f.Info(); err == nil {
				total += info.Size()
			}
		}
	}
	return total
}

// TestCompactionColdTierCost writes STRATA_COMPACTION_MB (default 256) MiB
// of 1 KiB values under 20,000 keys to a tiered compacted topic with the
// default min.cleanable.dirty.ratio (0.5), lets the cleaner and the
// uploader settle, and reports what the cold tier's compaction cost in
// store requests and bytes per GB ingested.
func TestCompactionColdTierCost(t *testing.T) {
	if os.Getenv("STRATA_COMPACTION_BENCH") == "" {
		t.Skip("set STRATA_COMPACTION_BENCH=1 (make bench-compaction)")
	}
	mb := 256
	if s := os.Getenv("STRATA_COMPACTION_MB"); s != "" {
		mb, _ = strconv.Atoi(s)
	}
	const keys, valueSize = 20000, 1024
	bin := strataBinary(t)
	dir := t.TempDir()
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	settings := append([]string{"log.cleaner.backoff.ms=1000"}, restoreSettings...)
	p := startProcNode(t, bin, dir, kafka, httpAddr, settings...)
	seg := "4194304"
	createTopic(t, kafka, "state", 1, map[string]*string{"cleanup.policy": ptr("compact"), "segment.bytes": &seg})
	cl := newClient(t, kafka, kgo.DefaultProduceTopic("state"), kgo.ProducerLinger(5*time.Millisecond))
	ctx := context.Background()
	total := mb << 20 / valueSize
	started := time.Now()
	for i := 0; i < total; i += 1000 {
		var recs []*kgo.Record
		for j := i; j < i+1000 && j < total; j++ {
			v := make([]byte, valueSize)
			rand.Read(v)
			recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("key-%05d", (j*7919)%keys)), Value: v})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	produceTook := time.Since(started)
	// Settle: no upload pending and the cold tier's size unchanged for 10 s.
	prev, stable := -1.0, 0
	for i := 0; i < 300 && stable < 5; i++ {
		time.Sleep(2 * time.Second)
		cur := partitionMetricOf(t, httpAddr, "strata_tier_remote_log_size_bytes", "state")
		if cur == prev && partitionMetricOf(t, httpAddr, "strata_tier_remote_copy_lag_bytes", "state") == 0 {
			stable++
		} else {
			stable = 0
		}
		prev = cur
	}
	m := func(name string) float64 { return metricValue(t, httpAddr, name) }
	in := m("strata_kafka_bytes_in_total")
	gb := in / (1 << 30)
	rewrites, rewritten := m("strata_tier_compaction_rewrites_total"), m("strata_tier_compaction_bytes_written_total")
	uploads, uploaded := m("strata_tier_remote_copy_requests_total"), m("strata_tier_remote_copy_bytes_total")
	remote := partitionMetricOf(t, httpAddr, "strata_tier_remote_log_size_bytes", "state")
	local := partitionMetricOf(t, httpAddr, "strata_tier_local_log_size_bytes", "state")
	t.Logf("ingested %.0f MiB in %v; cleaner: %v passes, %.0f MiB read, %.0f MiB written", in/(1<<20), produceTook.Round(time.Millisecond),
		m("strata_log_cleaner_passes_total"), m("strata_log_cleaner_bytes_read_total")/(1<<20), m("strata_log_cleaner_bytes_written_total")/(1<<20))
	t.Logf("cold tier: %v segment uploads (%.0f MiB); %v compaction rewrites (%.0f MiB, %.0f MiB saved) = %.1f rewrites and %.0f MiB rewritten per GB ingested, %.1f PUTs per GB (object + entry) and as many DELETEs later",
		uploads, uploaded/(1<<20), rewrites, rewritten/(1<<20), m("strata_tier_compaction_bytes_saved_total")/(1<<20), rewrites/gb, rewritten/(1<<20)/gb, 2*rewrites/gb)
	t.Logf("after settling: %.1f MiB in the cold tier, %.1f MiB on local disk, for %d keys of %d bytes (%.1f MiB live)",
		remote/(1<<20), local/(1<<20), keys, valueSize, float64(keys*valueSize)/(1<<20))
	p.stopClean(t)
}

// partitionMetricOf returns a per-partition gauge of topic's partition 0.
func partitionMetricOf(t *testing.T, httpAddr, name, topic string) float64 {
	t.Helper()
	for _, line := range strings.Split(metricsText(t, httpAddr), "\n") {
		if strings.HasPrefix(line, name+"{") && strings.Contains(line, `topic="`+topic+`"`) && strings.Contains(line, `partition="0"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return v
		}
	}
	return -1
}
