package e2e

import (
	"context"
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
