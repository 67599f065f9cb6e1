package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/node"
	"github.com/stratalog/strata/tiering"
)

// Integrity of the cold tier against a real strata process: bytes flipped
// in the bucket or on local disk, and objects deleted from the bucket.

// integrityNode starts the built binary with fast tiering and scrubbing.
func integrityNode(t *testing.T, dir string, extra ...string) *procNode {
	t.Helper()
	settings := append([]string{
		"remote.log.manager.task.interval.ms=100",
		"remote.log.manager.task.retry.backoff.ms=50",
		"remote.log.manager.task.retry.backoff.max.ms=500",
		"remote.fetch.chunk.bytes=65536",
		"remote.cache.bytes=8388608",
		"log.scrub.interval.ms=1000",
	}, extra...)
	return startProcNode(t, strataBinary(t), dir, freeAddr(t), freeAddr(t), settings...)
}

// metricSum sums the samples of a metric (all label sets) on the node's
// /metrics, filtered to lines containing match.
func metricSum(t *testing.T, httpAddr, name, match string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") || !strings.Contains(line, match) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum
}

// topicTierID names a topic's partition 0 in the store.
func topicTierID(t *testing.T, addr, topic string) tiering.ID {
	t.Helper()
	td, err := newAdmin(t, addr).ListTopics(context.Background(), topic)
	if err != nil || td[topic].Err != nil {
		t.Fatalf("listing %s: %v %v", topic, err, td[topic].Err)
	}
	return tiering.ID{Topic: topic, TopicID: td[topic].ID, Partition: 0}
}

// objectPath is the file of a remote segment's data object in the node's
// embedded store.
func objectPath(dir string, id tiering.ID, seg tiering.Segment) string {
	root, err := node.DefaultObjectStorePath(dir)
	if err != nil {
		panic(err)
	}
	return filepath.Join(root, filepath.FromSlash(tiering.SegmentObjectKey(tiering.Default().Prefix, id, seg)))
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x04
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func setTopicConfig(t *testing.T, addr, topic, key, value string) {
	t.Helper()
	resp, err := newAdmin(t, addr).AlterTopicConfigs(context.Background(), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, topic)
	if err == nil {
		_, err = resp.On(topic, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// consumeExact reads records [0, n) with franz-go and fails on any fetch
// error (a bad CRC included: franz-go checks every batch's) or any record
// that differs from what was produced.
func consumeExact(t *testing.T, addr, topic string, n, size int) {
	t.Helper()
	recs := consumeN(t, addr, topic, n)
	checkConsumed(t, recs, 0, func(i int) []byte { return seqValue(i, size) })
}

// kcatExact consumes the topic with librdkafka (CRC checks on) and
// compares every record with what was produced.
func kcatExact(t *testing.T, addr, topic string, n, size int) {
	t.Helper()
	kcat := kcatPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, kcat, "-b", addr, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-c", strconv.Itoa(n),
		"-X", "check.crcs=true", "-f", "%o %S\n", "-q").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != n {
		t.Fatalf("kcat consumed %d records, want %d; first lines: %q", len(lines), n, lines[:min(3, len(lines))])
	}
	for i, l := range lines {
		if l != fmt.Sprintf("%d %d", i, size) {
			t.Fatalf("kcat record %d: %q", i, l)
		}
	}
	// Values: read them raw once more and compare bytes.
	raw, err := exec.CommandContext(ctx, kcat, "-b", addr, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-c", strconv.Itoa(n),
		"-X", "check.crcs=true", "-f", "%s", "-q").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := 0; i < n; i++ {
		want.Write(seqValue(i, size))
	}
	if !bytes.Equal(raw, want.Bytes()) {
		t.Fatalf("kcat values differ from what was produced (%d bytes, want %d)", len(raw), want.Len())
	}
}

// remoteSegments waits until the remote log ends at or past end and
// returns its segments.
func remoteSegments(t *testing.T, dir, addr, topic string, end int64) []tiering.Segment {
	t.Helper()
	var segs []tiering.Segment
	waitUntil(t, "segments uploaded", 60*time.Second, func() bool {
		segs, _ = remoteManifest(t, dir, addr, topic)
		return len(segs) > 0 && segs[len(segs)-1].NextOffset >= end
	})
	checkManifestContiguous(t, segs)
	return segs
}

// A byte flipped in a remote object while the local copy still exists is
// found by the remote scrub and repaired by a re-upload; after local
// deletion consumers read the cold range exact, with franz-go and kcat.
func TestTieringRemoteFlipRepaired(t *testing.T) {
	dir := t.TempDir()
	n := integrityNode(t, dir, "remote.scrub.bytes.per.second=104857600")
	addr, topic := n.kafkaAddr, "integrity-remote-flip"
	seg := "65536"
	createTopic(t, addr, topic, 1, map[string]*string{"segment.bytes": &seg, "remote.storage.enable": ptr("true")})
	const total, size = 2000, 200
	produceSeq(t, addr, topic, 0, total, size)
	segs := remoteSegments(t, dir, addr, topic, 1)
	t.Logf("uploaded at %v", time.Now().Format("15:04:05.000"))
	id := topicTierID(t, addr, topic)
	victim := segs[0]
	flipByte(t, objectPath(dir, id, victim), victim.Size/2)
	waitUntil(t, "the corrupt object repaired", 60*time.Second, func() bool {
		now, _ := remoteManifest(t, dir, addr, topic)
		return len(now) > 0 && now[0].UploadID != victim.UploadID && now[0].Repair == 1
	})
	t.Logf("repaired at %v", time.Now().Format("15:04:05.000"))
	if v := metricSum(t, n.httpAddr, "strata_tier_remote_repairs_total", ""); v < 1 {
		t.Fatalf("repairs metric %v", v)
	}
	// Now only the cold tier holds the start of the log.
	setTopicConfig(t, addr, topic, "local.retention.bytes", "0")
	waitUntil(t, "local deletion", 60*time.Second, func() bool {
		return metricSum(t, n.httpAddr, "strata_tier_local_log_start_offset", topic) > float64(victim.NextOffset)
	})
	t.Logf("deleted locally at %v", time.Now().Format("15:04:05.000"))
	t0 := time.Now()
	consumeExact(t, addr, topic, total, size)
	t.Logf("franz-go consumed in %v", time.Since(t0))
	kcatExact(t, addr, topic, total, size)
	t.Logf("kcat consumed in %v", time.Since(t0))
	if v := metricSum(t, n.httpAddr, "strata_tier_corrupt_segments", topic); v != 0 {
		t.Fatalf("corrupt segments %v after repair", v)
	}
}

// A byte flipped in a sealed local segment that is also remote: the
// scrubber finds it, consumers read exact records (from the cold tier
// until it is healed), and the healed file equals the original.
func TestTieringLocalFlipHealed(t *testing.T) {
	dir := t.TempDir()
	n := integrityNode(t, dir, "log.scrub.bytes.per.second=104857600")
	addr, topic := n.kafkaAddr, "integrity-local-flip"
	seg := "65536"
	createTopic(t, addr, topic, 1, map[string]*string{"segment.bytes": &seg, "remote.storage.enable": ptr("true")})
	const total, size = 2000, 200
	produceSeq(t, addr, topic, 0, total, size)
	segs := remoteSegments(t, dir, addr, topic, 1)
	local := filepath.Join(dir, "kafka", topic+"-0", fmt.Sprintf("%020d.log", segs[0].BaseOffset))
	orig, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	flipByte(t, local, int64(len(orig))/2)
	waitUntil(t, "the scrubber finds the damage", 60*time.Second, func() bool {
		return metricSum(t, n.httpAddr, "strata_scrub_damage_found_total", "") >= 1
	})
	consumeExact(t, addr, topic, total, size)
	kcatExact(t, addr, topic, total, size)
	waitUntil(t, "the segment healed", 60*time.Second, func() bool {
		return metricSum(t, n.httpAddr, "strata_scrub_healed_total", "") >= 1 &&
			metricSum(t, n.httpAddr, "strata_partition_damaged_segments", topic) == 0
	})
	got, err := os.ReadFile(local)
	if err != nil || !bytes.Equal(got, orig) {
		t.Fatalf("healed file differs from the original (%d bytes, %v)", len(got), err)
	}
	consumeExact(t, addr, topic, total, size)
}

// A remote object deleted from the bucket whose local copy is gone: the
// consumer gets CORRUPT_MESSAGE for that range (never guessed data), and
// the broker logs one line per interval while it retries, not hundreds.
func TestTieringLostObjectClearError(t *testing.T) {
	dir := t.TempDir()
	n := integrityNode(t, dir)
	addr, topic := n.kafkaAddr, "integrity-lost"
	seg, zero := "65536", "0"
	createTopic(t, addr, topic, 1, map[string]*string{"segment.bytes": &seg, "remote.storage.enable": ptr("true"), "local.retention.bytes": &zero})
	const total, size = 2000, 200
	produceSeq(t, addr, topic, 0, total, size)
	segs := remoteSegments(t, dir, addr, topic, 1)
	t.Logf("uploaded at %v", time.Now().Format("15:04:05.000"))
	waitUntil(t, "local deletion", 60*time.Second, func() bool {
		return metricSum(t, n.httpAddr, "strata_tier_local_log_start_offset", topic) >= float64(segs[0].NextOffset)
	})
	id := topicTierID(t, addr, topic)
	if err := os.Remove(objectPath(dir, id, segs[0])); err != nil {
		t.Fatal(err)
	}
	before := countLogLines(t, n.logPath, "cold read failed")
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepRetryableFetchErrors())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got error
	start := time.Now()
	for got == nil && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if len(fs.Records()) > 0 {
			t.Fatalf("records of a lost range served: first offset %d", fs.Records()[0].Offset)
		}
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				got = err
			}
		})
	}
	if !errors.Is(got, kerr.CorruptMessage) {
		t.Fatalf("consumer error %v, want CORRUPT_MESSAGE", got)
	}
	t.Logf("consumer got %v after %v", got, time.Since(start).Round(time.Millisecond))
	// Keep the consumer retrying for a while.
	retryFor := 4 * time.Second
	deadline := time.Now().Add(retryFor)
	for time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		cl.PollFetches(pctx)
		pcancel()
	}
	cl.Close()
	lines := countLogLines(t, n.logPath, "cold read failed") - before
	allowed := 1 + int(time.Since(start)/(10*time.Second))
	if lines > allowed+1 {
		t.Fatalf("%d cold-read warnings in %v of retries, want at most %d", lines, time.Since(start).Round(time.Second), allowed+1)
	}
	if v := metricSum(t, n.httpAddr, "strata_tier_corrupt_segments", topic); v != 1 {
		t.Fatalf("strata_tier_corrupt_segments %v, want 1", v)
	}
	if c := countLogLines(t, n.logPath, "no intact copy is on local disk"); c != 1 {
		t.Fatalf("%d ERROR lines for the lost segment, want 1", c)
	}
	// kcat is told too, and gets nothing of the range.
	kcat := kcatPath(t)
	kctx, kcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer kcancel()
	out, _ := exec.CommandContext(kctx, kcat, "-b", addr, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-c", "1",
		"-X", "check.crcs=true", "-f", "%o\n").CombinedOutput()
	// librdkafka names error 2 "Invalid message" (CORRUPT_MESSAGE in Kafka's protocol).
	if lo := strings.ToLower(string(out)); !strings.Contains(lo, "corrupt") && !strings.Contains(lo, "invalid message") {
		t.Fatalf("kcat output does not report the corrupt range:\n%s", out[:min(len(out), 3000)])
	}
	// The records after the lost segment are intact.
	cl2 := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(segs[0].NextOffset)}}))
	want := total - int(segs[0].NextOffset)
	var recs []*kgo.Record
	cctx, ccancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer ccancel()
	for len(recs) < want && cctx.Err() == nil {
		fs := cl2.PollFetches(cctx)
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch after the lost range: %v", err) })
		recs = append(recs, fs.Records()...)
	}
	checkConsumed(t, recs, int(segs[0].NextOffset), func(i int) []byte { return seqValue(i, size) })
	if len(recs) != want {
		t.Fatalf("%d records after the lost range, want %d", len(recs), want)
	}
}

func countLogLines(t *testing.T, path, substr string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte(substr))
}

func ptr(s string) *string { return &s }
