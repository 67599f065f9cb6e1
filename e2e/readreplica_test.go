package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/objectstore/testservers"
)

// A read replica in "another region": a second cluster started with
// --read-replica-of on the primary's bucket serves its topics read-only
// while the primary keeps producing, follows new uploads and new topics,
// keeps its own consumer groups, and refuses writes with Kafka's codes.
// STRATA_RR_INTERVAL_MS sets the primary's upload interval (default 1000;
// the benchmark in docs/benchmarks.md uses 5000).
func TestReadReplica(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		testReadReplica(t, "file://"+filepath.Join(t.TempDir(), "bucket"))
	})
	t.Run("s3", func(t *testing.T) {
		srv := testservers.StartVersityGW(t)
		srv.SetAWSEnv(t)
		b := srv.CreateBucket(t, "")
		testReadReplica(t, fmt.Sprintf("s3://%s/primary?region=%s&endpoint=%s&path_style=true", b, srv.Region, srv.Endpoint))
	})
}

func testReadReplica(t *testing.T, bucket string) {
	interval := 1000
	if v, err := strconv.Atoi(os.Getenv("STRATA_RR_INTERVAL_MS")); err == nil && v > 0 {
		interval = v
	}
	produceFor := 10 * time.Second
	if interval > 1000 {
		produceFor = time.Duration(6*interval) * time.Millisecond
	}
	bin := strataBinary(t)
	primary := startProcNodeArgs(t, nil, []string{"--object-store", bucket}, bin, t.TempDir(), freeAddr(t), freeAddr(t),
		"remote.log.segment.upload.max.interval.ms="+strconv.Itoa(interval), "remote.log.manager.task.interval.ms=100",
		"offsets.topic.num.partitions=4")
	createTopic(t, primary.kafkaAddr, "events", 2, nil)
	replica := startProcNodeArgs(t, nil, []string{"--read-replica-of", bucket}, bin, t.TempDir(), freeAddr(t), freeAddr(t),
		"remote.log.read.replica.follow.interval.ms=500", "offsets.topic.num.partitions=4")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var mu sync.Mutex
	ackAt := map[string]time.Time{}
	want := map[int32][]string{}
	seenAt := map[string]time.Time{}
	got := map[int32][]string{}

	// The primary produces; a group on the replica consumes as it goes.
	pctx, stop := context.WithTimeout(ctx, produceFor)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cl := newClient(t, primary.kafkaAddr, kgo.DefaultProduceTopic("events"), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
		for i := 0; pctx.Err() == nil; i++ {
			v := fmt.Sprintf("event-%06d", i)
			r, err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).First()
			if err != nil {
				t.Errorf("produce to the primary: %v", err)
				return
			}
			mu.Lock()
			ackAt[v] = time.Now()
			want[r.Partition] = append(want[r.Partition], v)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	consumer := newClient(t, replica.kafkaAddr, kgo.ConsumeTopics("events"), kgo.ConsumerGroup("far-away"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(time.Second))
	total := func() (n int) {
		mu.Lock()
		defer mu.Unlock()
		for _, vs := range want {
			n += len(vs)
		}
		return n
	}
	read := 0
	deadline := time.Now().Add(produceFor + 60*time.Second)
	for time.Now().Before(deadline) && (pctx.Err() == nil || read < total()) {
		fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
		fs := consumer.PollFetches(fctx)
		fcancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("replica fetch %s[%d]: %v", topic, p, err)
			}
		})
		now := time.Now()
		mu.Lock()
		for _, r := range fs.Records() {
			seenAt[string(r.Value)] = now
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			read++
		}
		mu.Unlock()
	}
	wg.Wait()
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit on the replica: %v", err)
	}

	// Every record, once, in the primary's order, and how long after its
	// acknowledgement on the primary it was read on the replica.
	var lags []time.Duration
	for p, vs := range want {
		if len(got[p]) != len(vs) {
			t.Fatalf("partition %d: read %d records on the replica, the primary acknowledged %d", p, len(got[p]), len(vs))
		}
		for i, v := range vs {
			if got[p][i] != v {
				t.Fatalf("partition %d offset %d: replica has %q, primary %q", p, i, got[p][i], v)
			}
			lags = append(lags, seenAt[v].Sub(ackAt[v]))
		}
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	pct := func(q float64) time.Duration { return lags[min(len(lags)-1, int(q*float64(len(lags))))] }
	t.Logf("read replica lag behind the primary's acknowledgement over %d records (upload interval %d ms): p50 %v p99 %v max %v",
		len(lags), interval, pct(0.50).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond))
	t.Logf("replica metric strata_tier_read_replica_lag_seconds: %v", metricSamples(t, replica.httpAddr, "strata_tier_read_replica_lag_seconds"))

	// Writes are refused with Kafka's codes; the group's offsets are the
	// replica's own.
	pc := newClient(t, replica.kafkaAddr, kgo.DefaultProduceTopic("events"), kgo.RecordRetries(0))
	if err := pc.ProduceSync(ctx, &kgo.Record{Value: []byte("no")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce to the replica: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	adm := newAdmin(t, replica.kafkaAddr)
	if resp, err := adm.CreateTopic(ctx, 1, 1, nil, "local-only"); err == nil && !errors.Is(resp.Err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("create topic on the replica: %v", resp.Err)
	}
	if _, err := adm.DeleteTopics(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if _, ok := topicsOn(t, replica.kafkaAddr)["events"]; !ok {
		t.Fatal("deleting a mirrored topic on the replica succeeded")
	}
	offs, err := adm.FetchOffsets(ctx, "far-away")
	if err != nil {
		t.Fatal(err)
	}
	for p, vs := range want {
		if o, ok := offs.Lookup("events", p); !ok || o.At != int64(len(vs)) {
			t.Fatalf("group offset of events[%d] on the replica: %+v, want %d", p, o, len(vs))
		}
	}

	// A topic created on the primary appears on the replica.
	createTopic(t, primary.kafkaAddr, "late", 1, nil)
	produceValues(t, primary.kafkaAddr, "late", "late", 20)
	waitUntil(t, "the replica to mirror a new topic", 60*time.Second, func() bool {
		_, ok := topicsOn(t, replica.kafkaAddr)["late"]
		return ok
	})
	if ids, ids2 := topicsOn(t, primary.kafkaAddr), topicsOn(t, replica.kafkaAddr); ids["late"] != ids2["late"] || ids["events"] != ids2["events"] {
		t.Fatalf("topic ids differ: primary %v, replica %v", ids, ids2)
	}
	if recs := consumeN(t, replica.kafkaAddr, "late", 20); string(recs[0].Value[:8]) != "late-000" {
		t.Fatalf("first record of late on the replica: %q", recs[0].Value)
	}
}

// topicsOn lists a cluster's topics with their IDs.
func topicsOn(t *testing.T, addr string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	td, err := newAdmin(t, addr).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for name, d := range td {
		out[name] = d.ID.String()
	}
	return out
}
