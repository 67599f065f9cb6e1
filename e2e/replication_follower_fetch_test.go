package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFollowerFetching (KIP-392): three nodes on racks r1, r2, r3 with the
// rack-aware replica selector; an RF 3 partition led on r1. A franz-go
// consumer with client.rack r2 is sent to the r2 follower and reads every
// record from it (that node's bytes-out counter grows by what it read,
// the leader's barely moves), in order and once each; a consumer on r1 or
// on a rack with no replica reads from the leader. When the r2 follower is
// killed, the consumer carries on through the leader (once it rechecks
// with the leader: franz-go's RecheckPreferredReplicaInterval, 2 s here)
// and still reads everything acknowledged.
func TestFollowerFetching(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	bin := strataBinary(t)
	nodes := newClusterNodes(t, 3)
	join := joinList(nodes)
	for i, c := range nodes {
		c.settings = map[string]string{
			"broker.rack":            fmt.Sprintf("r%d", i+1),
			"replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector",
		}
		c.start(t, bin, 3, join)
	}
	waitAllReady(t, nodes, 60*time.Second)
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	const topic = "nearby"
	createAssigned(t, nodes[0].kafka, topic, 1, func(int32) []int32 { return []int32{nodes[0].id, nodes[1].id, nodes[2].id} })
	awaitFullISR(t, nodes[0].kafka, topic, 3, 30*time.Second)
	all := nodes[0].kafka + "," + nodes[1].kafka + "," + nodes[2].kafka
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pcl := newClient(t, all, kgo.SeedBrokers(strings.Split(all, ",")...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	produce := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			pcl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("v%06d-%s", i, strings.Repeat("x", 200)))}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := pcl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const n = 2000
	produce(0, n)

	bytesOut := func(c *clusterNode) float64 {
		return max(0, metricValue(t, c.http, fmt.Sprintf(`strata_topic_bytes_out_total{topic="%s"}`, topic)))
	}
	// read consumes from offset 0 with client.rack rack until it has
	// seen want records, checking their order.
	read := func(rack string, cl *kgo.Client, from, want int) {
		t.Helper()
		next := from
		for next < from+want {
			fs := cl.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("rack %s: read %d of %d: %v", rack, next-from, want, err)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Logf("rack %s: fetch error (retried): %v", rack, err) })
			for _, r := range fs.Records() {
				if got := string(r.Value[:7]); got != fmt.Sprintf("v%06d", next) {
					t.Fatalf("rack %s: record %d is %q (offset %d)", rack, next, got, r.Offset)
				}
				next++
			}
		}
	}
	consumer := func(rack string) *kgo.Client {
		opts := []kgo.Opt{kgo.SeedBrokers(strings.Split(all, ",")...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(0)}})}
		if rack != "" {
			// franz-go keeps a preferred replica until it rechecks with
			// the leader (30 min by default), even when that replica has
			// gone; the fallback below relies on a shorter recheck.
			opts = append(opts, kgo.Rack(rack), kgo.RecheckPreferredReplicaInterval(2*time.Second))
		}
		return newClient(t, all, opts...)
	}
	for _, c := range []struct {
		rack   string
		server *clusterNode
	}{{"r2", nodes[1]}, {"r1", nodes[0]}, {"elsewhere", nodes[0]}} {
		before := make([]float64, len(nodes))
		for i, nd := range nodes {
			before[i] = bytesOut(nd)
		}
		cl := consumer(c.rack)
		read(c.rack, cl, 0, n)
		cl.Close()
		var got []string
		for i, nd := range nodes {
			d := bytesOut(nd) - before[i]
			got = append(got, fmt.Sprintf("node %d: %.0f", nd.id, d))
			switch {
			case nd == c.server && d < 200*n:
				t.Fatalf("client.rack %s: node %d served only %.0f bytes of ~%d (%v)", c.rack, nd.id, d, 210*n, got)
			case nd != c.server && d > 50*n:
				t.Fatalf("client.rack %s: node %d, not the expected replica, served %.0f bytes", c.rack, nd.id, d)
			}
		}
		t.Logf("client.rack %s: %d records read; bytes served %v", c.rack, n, got)
	}

	// The nearby follower dies: the consumer falls back to the leader.
	cl := consumer("r2")
	read("r2", cl, 0, n)
	nodes[1].signal(t, syscall.SIGKILL)
	nodes[1].waitExit(t, 5*time.Second)
	killed := time.Now()
	produce(n, 500)
	read("r2", cl, n, 500)
	t.Logf("after SIGKILL of the r2 follower, the r2 consumer read the next 500 records through the leader within %v", time.Since(killed).Round(time.Millisecond))
}
