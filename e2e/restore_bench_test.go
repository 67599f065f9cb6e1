package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/objectstore/testservers"
)

// TestRestoreTimes measures `strata restore` and the restored node's start
// against bucket size (topics × partitions × segments), on the file store
// and on S3 (versitygw), and the object-store requests a node makes per
// minute for metadata, progress and sealing, idle and under load. Run with
// `make bench-restore` (STRATA_RESTORE_BENCH=1); figures go to
// docs/benchmarks.md.
func TestRestoreTimes(t *testing.T) {
	if os.Getenv("STRATA_RESTORE_BENCH") == "" {
		t.Skip("set STRATA_RESTORE_BENCH=1 (make bench-restore)")
	}
	shapes := [][3]int{{1, 4, 50}, {10, 10, 20}, {20, 25, 10}}
	for _, s := range shapes {
		t.Run(fmt.Sprintf("file/%dx%dx%d", s[0], s[1], s[2]), func(t *testing.T) {
			benchRestore(t, "file://"+filepath.Join(t.TempDir(), "bucket"), s[0], s[1], s[2])
		})
	}
	t.Run("s3/10x10x20", func(t *testing.T) {
		srv := testservers.StartVersityGW(t)
		srv.SetAWSEnv(t)
		b := srv.CreateBucket(t, "")
		benchRestore(t, fmt.Sprintf("s3://%s/c?region=%s&endpoint=%s&path_style=true", b, srv.Region, srv.Endpoint), 10, 10, 20)
	})
}

func benchRestore(t *testing.T, url string, topics, parts, segs int) {
	bin := strataBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	extra := []string{"--object-store", url}
	// 16 KiB segments of 1 KiB records: segs segments is 16*segs records
	// a partition.
	settings := []string{"log.segment.bytes=16384", "remote.log.segment.upload.max.interval.ms=5000",
		"remote.log.manager.task.interval.ms=100", "offsets.topic.num.partitions=4", "remote.log.manager.copy.max.bytes.per.second=0"}
	n := startProcNodeArgs(t, nil, extra, bin, dir, freeAddr(t), freeAddr(t), settings...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	for i := 0; i < topics; i++ {
		createTopic(t, n.kafkaAddr, fmt.Sprintf("t%02d", i), int32(parts), nil)
	}
	idle := requestsPerMinute(t, n.httpAddr, 30*time.Second)

	// Batches well under a segment, so segments hold what they are
	// sized for.
	cl := newClient(t, n.kafkaAddr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(4096))
	val := []byte(strings.Repeat("r", 1000))
	perPart := 16 * segs
	start := time.Now()
	before := objectRequests(t, n.httpAddr)
	for i := 0; i < topics; i++ {
		for p := 0; p < parts; p++ {
			for k := 0; k < perPart; k++ {
				cl.Produce(ctx, &kgo.Record{Topic: fmt.Sprintf("t%02d", i), Partition: int32(p), Value: val}, func(_ *kgo.Record, err error) {
					if err != nil {
						t.Errorf("produce: %v", err)
					}
				})
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitCovered(t, n.httpAddr, time.Now())
	loaded := time.Since(start)
	after := objectRequests(t, n.httpAddr)
	n.kill(t)

	rdir := filepath.Join(t.TempDir(), "restored")
	start = time.Now()
	out, err := exec.CommandContext(ctx, bin, "restore", "--object-store", url, "--data-dir", rdir, "--json").Output()
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	restoreTook := time.Since(start)
	var rep restoreReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	var dropped int64
	segments := 0
	for _, tr := range rep.Topics {
		for _, p := range tr.Partitions {
			dropped += p.Dropped
			segments += p.Segments
		}
	}
	start = time.Now()
	n2 := startProcNodeArgs(t, nil, extra, bin, rdir, freeAddr(t), freeAddr(t), settings...)
	ready := time.Since(start)
	lso, err := newAdmin(t, n2.kafkaAddr).ListEndOffsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	lso.Each(func(o kadm.ListedOffset) {
		if strings.HasPrefix(o.Topic, "t") {
			total += o.Offset
		}
	})
	if want := int64(topics * parts * perPart); total != want || dropped != 0 {
		t.Errorf("restored %d records (dropped %d), want %d", total, dropped, want)
	}
	t.Logf("%dx%dx%d (%d remote segments, %d MB): restore %v, node ready %v after; loading took %v with %s; idle node: %s",
		topics, parts, segs, segments, topics*parts*perPart/1000, restoreTook.Round(time.Millisecond), ready.Round(time.Millisecond),
		loaded.Round(time.Millisecond), diffRequests(before, after, loaded), idle)
}

// objectRequests reads strata_objectstore_requests_total by operation.
func objectRequests(t *testing.T, httpAddr string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, op := range []string{"put", "get", "list", "stat", "delete"} {
		out[op] = metricSum(t, httpAddr, "strata_objectstore_requests_total", `op="`+op+`"`)
	}
	return out
}

func diffRequests(before, after map[string]float64, over time.Duration) string {
	var b strings.Builder
	for _, op := range []string{"put", "get", "list", "stat", "delete"} {
		fmt.Fprintf(&b, "%s %.0f/min ", op, (after[op]-before[op])/over.Minutes())
	}
	return strings.TrimSpace(b.String())
}

// requestsPerMinute measures the node's object-store requests over d.
func requestsPerMinute(t *testing.T, httpAddr string, d time.Duration) string {
	before := objectRequests(t, httpAddr)
	time.Sleep(d)
	return diffRequests(before, objectRequests(t, httpAddr), d)
}
