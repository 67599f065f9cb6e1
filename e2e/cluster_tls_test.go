package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterMutualTLS: three nodes whose raft addresses are mutual TLS
// (--cluster-tls-*, certificates from the cluster's CA) and whose gossip
// is encrypted form a cluster and replicate; a fourth node holding the
// gossip key but a certificate from another CA is never added to the
// quorum nor registered as a broker, the members count the refused
// handshakes, and nothing acknowledged before or during its attempts is
// lost, duplicated or reordered.
func TestClusterMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	key := writeGossipKey(t)
	ca, other := newTestCA(t, "strata-cluster-ca"), newTestCA(t, "someone-elses-ca")
	tlsArgs := func(ca *testCA, cn string) []string {
		f := ca.writeFiles(t, t.TempDir(), cn)
		return []string{"--gossip-key-file", key, "--cluster-tls-cert-file", f.cert, "--cluster-tls-key-file", f.key, "--cluster-tls-ca-file", f.ca}
	}
	bin := strataBinary(t)
	nodes := newClusterNodes(t, 4)
	members, stranger := nodes[:3], nodes[3]
	join := joinList(members)
	for _, c := range members {
		c.args = tlsArgs(ca, "node")
		c.start(t, bin, 3, join)
	}
	waitAllReady(t, members, 60*time.Second)
	if t.Failed() {
		return
	}
	adm := newAdmin(t, members[0].kafka)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 3, 3, nil, "tls-topic"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, members[1].kafka, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("tls-topic"))
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 100)

	stranger.args = tlsArgs(other, "node")
	stranger.start(t, bin, 0, join)
	// While it tries, the cluster keeps taking writes.
	produce(100, 200)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && metricValue(t, members[0].http, "strata_cluster_peer_tls_failures_total")+
		metricValue(t, members[1].http, "strata_cluster_peer_tls_failures_total")+
		metricValue(t, members[2].http, "strata_cluster_peer_tls_failures_total") <= 0 {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // time enough for an add or a registration to land
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("brokers with a stranger about: %+v", md.Brokers)
	}
	raw, err := exec.Command(bin, "cluster", "status", "--bootstrap", members[0].kafka).CombinedOutput()
	out := string(raw)
	if err != nil {
		t.Fatalf("cluster status: %v\n%s", err, out)
	}
	if strings.Contains(out, "\n4 ") || strings.Count(out, "voter") > 3 {
		t.Fatalf("the stranger is in the quorum:\n%s", out)
	}
	t.Logf("cluster status with the stranger about:\n%s", out)
	var refused float64
	for _, c := range members {
		refused += metricValue(t, c.http, "strata_cluster_peer_tls_failures_total")
	}
	if refused <= 0 {
		t.Fatalf("no refused handshake counted; stranger's log:\n%s", stranger.log(t))
	}
	t.Logf("%v handshakes refused", refused)
	if resp, err := http.Get("http://" + stranger.http + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatalf("the stranger is ready; its log:\n%s", stranger.log(t))
		}
	}
	if log := stranger.log(t); !strings.Contains(log, "tls") && !strings.Contains(log, "TLS") {
		t.Fatalf("the stranger's log does not name TLS:\n%s", log)
	}

	// Everything acknowledged is there once, in order.
	rd := newClient(t, members[2].kafka, kgo.ConsumeTopics("tls-topic"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var recs []*kgo.Record
	for len(recs) < 200 {
		fs := rd.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after %d: %v", len(recs), err)
		}
		recs = append(recs, fs.Records()...)
	}
	checkOncePerValue(t, recs, 200)
	checkOrderPerPartition(t, recs)
}

// writeGossipKey writes a gossip encryption key for a test cluster.
func writeGossipKey(t testing.TB) string {
	t.Helper()
	key := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(key, []byte("cg8StVXbQJ0gPvMd9o7yrg==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return key
}

// checkOrderPerPartition checks that the decimal values of records rise
// within each partition, as they were produced.
func checkOrderPerPartition(t testing.TB, recs []*kgo.Record) {
	t.Helper()
	last := map[int32]int{}
	for _, r := range recs {
		v, _ := strconv.Atoi(string(r.Value))
		if p, ok := last[r.Partition]; ok && v < p {
			t.Fatalf("partition %d: %d after %d", r.Partition, v, p)
		}
		last[r.Partition] = v
	}
}
