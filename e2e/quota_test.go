package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// throttleHook counts the throttles brokers gave a client.
type throttleHook struct{ n atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		h.n.Add(1)
	}
}

// TestClientQuotas: quotas set with `strata quota` throttle the clients
// they name — produce and fetch byte rates and request time — with
// throttle_time_ms, while a client without a quota keeps its rate; what
// the throttled producer had acknowledged is all in the log.
func TestClientQuotas(t *testing.T) {
	const window = 4 // quota.window.num samples of 1 s
	n := startNode(t, "", map[string]string{"quota.window.num": "4"})
	addr := n.KafkaAddr()
	bin := strataBinary(t)
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"quota"}, append(args, "--bootstrap", addr)...)...)
		cmd.Env = append(os.Environ(), "STRATA_COMMAND_CONFIG=")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	const produceQuota, fetchQuota = 256 << 10, 512 << 10
	for _, args := range [][]string{
		{"alter", "--client", "slow", "--add", "producer_byte_rate=262144"},
		{"alter", "--client", "slow-reader", "--add", "consumer_byte_rate=524288"},
		{"alter", "--client", "chatty", "--add", "request_percentage=0.5"},
		{"alter", "--user-default", "--client", "nobody", "--add", "producer_byte_rate=1", "--add", "consumer_byte_rate=1"},
	} {
		if out, err := cli(args...); err != nil {
			t.Fatalf("strata quota %v: %v\n%s", args, err, out)
		}
	}
	for _, bad := range [][]string{
		{"alter", "--client", "x", "--add", "producer_byte_rate=-5"},
		{"alter", "--client", "x", "--add", "controller_mutation_rate=5"},
		{"alter", "--client", "x", "--add", "producer_byte_rate=1.5"},
		{"alter", "--add", "producer_byte_rate=5"},
	} {
		if out, err := cli(bad...); err == nil {
			t.Fatalf("strata quota %v accepted:\n%s", bad, out)
		}
	}
	out, err := cli("describe")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"client-id=slow", "producer_byte_rate=262144", "client-id=slow-reader", "consumer_byte_rate=524288",
		"user=<default>, client-id=nobody", "request_percentage=0.5"} {
		if !strings.Contains(out, want) {
			t.Fatalf("quota describe lacks %q:\n%s", want, out)
		}
	}
	if out, _ := cli("describe", "--user-default", "--strict"); strings.Contains(out, "nobody") {
		t.Fatalf("strict describe of the default user matched a user+client entity:\n%s", out)
	}
	if out, _ := cli("describe", "--user-default"); !strings.Contains(out, "nobody") {
		t.Fatalf("describe of the default user:\n%s", out)
	}
	// A removed key is gone.
	if out, err := cli("alter", "--user-default", "--client", "nobody", "--delete", "producer_byte_rate", "--delete", "consumer_byte_rate"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, _ := cli("describe"); strings.Contains(out, "nobody") {
		t.Fatalf("a removed quota is still described:\n%s", out)
	}

	adm := newAdmin(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "quota-topic"); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 16<<10)
	_, _ = rand.Read(payload) // incompressible: the bytes counted are the bytes sent
	produceFor := func(id string, d time.Duration, h *throttleHook) (bytes int64, acked int64) {
		cl := newClient(t, addr, kgo.ClientID(id), kgo.DefaultProduceTopic("quota-topic"), kgo.WithHooks(h),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(0))
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			recs := make([]*kgo.Record, 8)
			for i := range recs {
				recs[i] = &kgo.Record{Value: payload}
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Errorf("%s: produce: %v", id, err)
				return
			}
			bytes += int64(len(recs) * len(payload))
			acked += int64(len(recs))
		}
		return bytes, acked
	}
	const run = 5 * time.Second
	var slowH, fastH throttleHook
	var slowBytes, fastBytes, slowAcked, fastAcked int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); slowBytes, slowAcked = produceFor("slow", run, &slowH) }()
	go func() { defer wg.Done(); fastBytes, fastAcked = produceFor("fast", run, &fastH) }()
	wg.Wait()
	slowRate, fastRate := float64(slowBytes)/run.Seconds(), float64(fastBytes)/run.Seconds()
	t.Logf("produce: slow %.0f KiB/s (quota %d KiB/s, %d throttles), fast %.0f KiB/s (%d throttles)",
		slowRate/1024, produceQuota>>10, slowH.n.Load(), fastRate/1024, fastH.n.Load())
	// The first instants are allowed window-1 samples' worth at once, so
	// the bound over a short run is loose; the point is the order of
	// magnitude between the two.
	if limit := float64(produceQuota) * (1 + float64(window)/run.Seconds()) * 1.2; slowRate > limit {
		t.Errorf("throttled producer ran at %.0f B/s, over %.0f", slowRate, limit)
	}
	if slowH.n.Load() == 0 {
		t.Error("the throttled producer was never told to back off")
	}
	if fastRate < 4*slowRate || fastH.n.Load() != 0 {
		t.Errorf("unthrottled producer: %.0f B/s (%d throttles) beside %.0f", fastRate, fastH.n.Load(), slowRate)
	}

	consumeFor := func(id string, d time.Duration, h *throttleHook) (bytes int64) {
		cl := newClient(t, addr, kgo.ClientID(id), kgo.ConsumeTopics("quota-topic"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.WithHooks(h), kgo.FetchMaxBytes(1<<20), kgo.FetchMaxPartitionBytes(512<<10))
		cctx, ccancel := context.WithTimeout(ctx, d)
		defer ccancel()
		for cctx.Err() == nil {
			fs := cl.PollFetches(cctx)
			fs.EachRecord(func(r *kgo.Record) { bytes += int64(len(r.Value)) })
			if err := fs.Err0(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Errorf("%s: %v", id, err)
				return bytes
			}
		}
		return bytes
	}
	var slowRH, fastRH throttleHook
	var slowRead, fastRead int64
	wg.Add(2)
	go func() { defer wg.Done(); slowRead = consumeFor("slow-reader", run, &slowRH) }()
	go func() { defer wg.Done(); fastRead = consumeFor("fast-reader", run, &fastRH) }()
	wg.Wait()
	slowRRate, fastRRate := float64(slowRead)/run.Seconds(), float64(fastRead)/run.Seconds()
	t.Logf("fetch: slow-reader %.0f KiB/s (quota %d KiB/s, %d throttles), fast-reader %.0f KiB/s (%d throttles)",
		slowRRate/1024, fetchQuota>>10, slowRH.n.Load(), fastRRate/1024, fastRH.n.Load())
	if limit := float64(fetchQuota) * (1 + float64(window)/run.Seconds()) * 1.2; slowRRate > limit {
		t.Errorf("throttled consumer read %.0f B/s, over %.0f", slowRRate, limit)
	}
	if slowRH.n.Load() == 0 || fastRH.n.Load() != 0 || fastRRate < 2*slowRRate {
		t.Errorf("fetch quotas: slow %.0f B/s (%d throttles), fast %.0f B/s (%d throttles)", slowRRate, slowRH.n.Load(), fastRRate, fastRH.n.Load())
	}

	// Request time: a client hammering Metadata with a tiny share of a
	// thread is throttled.
	var chattyH throttleHook
	chatty := newClient(t, addr, kgo.ClientID("chatty"), kgo.WithHooks(&chattyH))
	calls := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && chattyH.n.Load() == 0; calls++ {
		req := kmsg.NewPtrMetadataRequest() // uncached, unlike kadm's
		req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("quota-topic")}}
		if _, err := req.RequestWith(ctx, chatty); err != nil {
			t.Fatal(err)
		}
	}
	if chattyH.n.Load() == 0 {
		t.Errorf("a client over its request_percentage was never throttled (%d Metadata calls)", calls)
	}

	// Nothing acknowledged to the throttled producer is missing.
	offs, err := adm.ListEndOffsets(ctx, "quota-topic")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != slowAcked+fastAcked {
		t.Fatalf("log holds %d records, %d were acknowledged", total, slowAcked+fastAcked)
	}
}
