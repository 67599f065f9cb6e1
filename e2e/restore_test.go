package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/objectstore/testservers"
)

// The bucket as the source of truth: a node SIGKILLed and its whole data
// directory deleted comes back from the object store alone with
// `strata restore` — same cluster ID, topic IDs and configs, every record
// up to the reported cut byte-exact at its offset, the group's committed
// offsets — and a fresh node on the claimed bucket is refused.

// restoreSettings make the loss window short and tiering quick.
var restoreSettings = []string{
	"remote.log.segment.upload.max.interval.ms=1000",
	"remote.log.manager.task.interval.ms=100",
	"remote.log.manager.task.retry.backoff.ms=50",
	"offsets.topic.num.partitions=4",
	"transaction.state.log.num.partitions=2",
}

func TestRestoreFromBucket(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		testRestoreFromBucket(t, "file://"+filepath.Join(t.TempDir(), "bucket"), false)
	})
	t.Run("s3", func(t *testing.T) {
		srv := testservers.StartVersityGW(t)
		srv.SetAWSEnv(t)
		bucket := srv.CreateBucket(t, "")
		// Through `strata node --restore-from-bucket`, after a dry run
		// that reports the same cut.
		testRestoreFromBucket(t, fmt.Sprintf("s3://%s/cluster?region=%s&endpoint=%s&path_style=true", bucket, srv.Region, srv.Endpoint), true)
	})
}

// acked is one acknowledged record.
type acked struct {
	value string
	at    time.Time
}

type restoreReport struct {
	ClusterID  string
	CutTime    time.Time
	Consistent bool
	Topics     []struct {
		Name       string
		ID         string
		Partitions []struct {
			Partition              int32
			LogStart, End, Dropped int64
			Segments               int
			Exact                  bool
		}
	}
}

func testRestoreFromBucket(t *testing.T, storeURL string, viaNode bool) {
	bin := strataBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	extra := []string{"--object-store", storeURL}
	n := startProcNodeArgs(t, nil, extra, bin, dir, freeAddr(t), freeAddr(t), restoreSettings...)

	retention := "-1"
	createTopic(t, n.kafkaAddr, "orders", 3, map[string]*string{"retention.ms": &retention})
	createTopic(t, n.kafkaAddr, "audit", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := newAdmin(t, n.kafkaAddr)
	before, err := adm.ListTopics(ctx, "orders", "audit")
	if err != nil {
		t.Fatal(err)
	}
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Producers write with acks=all and record what was acknowledged, and
	// when; a group consumes orders and commits as it goes.
	var mu sync.Mutex
	got := map[string]map[int32]map[int64]acked{"orders": {}, "audit": {}}
	commits := map[int32][]int64{}
	pctx, stopProduce := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, topic := range []string{"orders", "audit"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl, err := kgo.NewClient(kgo.SeedBrokers(n.kafkaAddr), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.ProducerLinger(time.Millisecond), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
			if err != nil {
				t.Error(err)
				return
			}
			// Closing fails what is in flight to the killed node.
			go func() { <-pctx.Done(); cl.Close() }()
			for i := 0; pctx.Err() == nil; i++ {
				v := fmt.Sprintf("%s-%06d", topic, i)
				r, err := cl.ProduceSync(pctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}).First()
				if err != nil {
					continue
				}
				mu.Lock()
				if got[topic][r.Partition] == nil {
					got[topic][r.Partition] = map[int64]acked{}
				}
				got[topic][r.Partition][r.Offset] = acked{v, time.Now()}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.kafkaAddr), kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("billing"),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Error(err)
			return
		}
		go func() { <-pctx.Done(); cl.Close() }()
		for pctx.Err() == nil {
			fs := cl.PollRecords(pctx, 50)
			if len(fs.Records()) == 0 {
				continue
			}
			if err := cl.CommitUncommittedOffsets(pctx); err != nil {
				continue
			}
			mu.Lock()
			for p, o := range cl.CommittedOffsets()["orders"] {
				commits[p] = append(commits[p], o.Offset)
			}
			mu.Unlock()
		}
	}()
	time.Sleep(6 * time.Second)
	killedAt := time.Now()
	n.kill(t)
	stopProduce()
	wg.Wait()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	// A fresh node on the bucket is refused: it would be a new cluster.
	out, err := exec.CommandContext(ctx, bin, "node", "--data-dir", filepath.Join(t.TempDir(), "fresh"), "--object-store", storeURL,
		"--kafka-addr", freeAddr(t), "--http-addr", "").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another cluster") || !strings.Contains(string(out), "strata restore") {
		t.Fatalf("fresh node on a claimed bucket: err %v, output:\n%s", err, out)
	}

	start := time.Now()
	args := []string{"restore", "--object-store", storeURL, "--data-dir", dir, "--json"}
	if viaNode {
		args = append(args, "--dry-run")
	}
	out, err = exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	restoreTook := time.Since(start)
	var rep restoreReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("restore report: %v\n%s", err, out)
	}
	if !rep.Consistent || rep.CutTime.IsZero() {
		t.Fatalf("restore found no consistent cut: %s", out)
	}
	t.Logf("restore took %v; cut %v, %v before the SIGKILL", restoreTook, rep.CutTime, killedAt.Sub(rep.CutTime))

	if viaNode {
		extra = append(extra, "--restore-from-bucket")
	}
	n2 := startProcNodeArgs(t, nil, extra, bin, dir, freeAddr(t), freeAddr(t), restoreSettings...)
	adm2 := newAdmin(t, n2.kafkaAddr)
	after, err := adm2.ListTopics(ctx, "orders", "audit")
	if err != nil {
		t.Fatal(err)
	}
	meta2, err := adm2.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if meta2.Cluster != meta.Cluster {
		t.Fatalf("cluster id %q after restore, want %q", meta2.Cluster, meta.Cluster)
	}
	for _, name := range []string{"orders", "audit"} {
		if after[name].ID != before[name].ID || len(after[name].Partitions) != len(before[name].Partitions) {
			t.Fatalf("topic %s after restore: id %v partitions %d, want %v and %d", name, after[name].ID, len(after[name].Partitions), before[name].ID, len(before[name].Partitions))
		}
	}
	cfgs, err := adm2.DescribeTopicConfigs(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cfgs.On("orders", nil); err != nil || !hasConfig(c.Configs, "retention.ms", "-1") {
		t.Fatalf("orders configs after restore: %+v, %v", c.Configs, err)
	}

	// Every record acknowledged before the cut is there, byte-exact at its
	// offset; nothing below a partition's end is missing or foreign; the
	// end offsets are the report's.
	ends := map[string]map[int32]int64{}
	for _, tr := range rep.Topics {
		ends[tr.Name] = map[int32]int64{}
		for _, p := range tr.Partitions {
			ends[tr.Name][p.Partition] = p.End
			if !p.Exact {
				t.Errorf("%s[%d] not at the cut: %+v", tr.Name, p.Partition, p)
			}
		}
	}
	lso, err := adm2.ListEndOffsets(ctx, "orders", "audit")
	if err != nil {
		t.Fatal(err)
	}
	total, lost := 0, 0
	for topic, parts := range got {
		for p, recs := range parts {
			end := ends[topic][p]
			if o, _ := lso.Lookup(topic, p); o.Offset != end {
				t.Errorf("%s[%d] ends at %d after restore, report says %d", topic, p, o.Offset, end)
			}
			for off, a := range recs {
				if a.at.Before(rep.CutTime) && off >= end {
					t.Errorf("%s[%d] offset %d acknowledged at %v, before the cut %v, is past the restored end %d", topic, p, off, a.at, rep.CutTime, end)
				}
				if off >= end {
					lost++
				}
			}
			recsRead := readRange(t, n2.kafkaAddr, topic, p, end)
			for off, r := range recsRead {
				if a, ok := recs[off]; ok && (string(r.Value) != a.value || string(r.Key) != a.value) {
					t.Errorf("%s[%d] offset %d = %q, acknowledged %q", topic, p, off, r.Value, a.value)
				}
				if !strings.HasPrefix(string(r.Value), topic+"-") {
					t.Errorf("%s[%d] offset %d holds foreign bytes %q", topic, p, off, r.Value)
				}
			}
			if int64(len(recsRead)) != end {
				t.Errorf("%s[%d]: read %d records below end %d", topic, p, len(recsRead), end)
			}
			total += len(recs)
		}
	}
	t.Logf("%d records acknowledged; %d of them past the cut (acknowledged in the last %v before the SIGKILL)", total, lost, killedAt.Sub(rep.CutTime))

	// The group's committed offsets are ones it committed, within the
	// restored logs, and consuming resumes there.
	offs, err := adm2.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if len(commits) == 0 {
		t.Fatal("the group committed nothing before the SIGKILL")
	}
	for p := range commits {
		o, ok := offs.Lookup("orders", p)
		if !ok {
			t.Errorf("orders[%d]: no committed offset after restore", p)
			continue
		}
		if o.At > ends["orders"][p] {
			t.Errorf("orders[%d]: committed offset %d past the restored end %d: not a consistent cut", p, o.At, ends["orders"][p])
		}
		found := false
		for _, c := range commits[p] {
			found = found || c == o.At
		}
		if !found {
			t.Errorf("orders[%d]: committed offset %d after restore was never committed (%v)", p, o.At, commits[p])
		}
	}

	// The restored node takes writes where the logs end.
	cl := newClient(t, n2.kafkaAddr, kgo.DefaultProduceTopic("audit"), kgo.RequiredAcks(kgo.AllISRAcks()))
	r, err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("audit-after")}).First()
	if err != nil || r.Offset != ends["audit"][0] {
		t.Fatalf("produce after restore: offset %v, %v; want %d", r, err, ends["audit"][0])
	}
}

func hasConfig(cs []kadm.Config, key, value string) bool {
	for _, c := range cs {
		if c.Key == key && c.Value != nil && *c.Value == value {
			return true
		}
	}
	return false
}

// readRange reads a partition's records [0, end) by offset.
func readRange(t *testing.T, addr, topic string, p int32, end int64) map[int64]*kgo.Record {
	t.Helper()
	out := map[int64]*kgo.Record{}
	if end == 0 {
		return out
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(0)}}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for int64(len(out)) < end && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil {
				t.Errorf("reading %s[%d]: %v", topic, p, err)
			}
		})
		for _, r := range fs.Records() {
			if r.Offset < end {
				out[r.Offset] = r
			}
		}
	}
	return out
}
