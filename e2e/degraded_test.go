package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/objectstore/testservers"
)

// A store outage at start: the node starts degraded instead of exiting,
// serves what is on its disk and takes writes, reports it on /readyz and
// /metrics, and when the store comes back uploads what it held; nothing
// is lost.
func TestDegradedStartWithoutStore(t *testing.T) {
	gwBin := testservers.VersityGWPath()
	if gwBin == "" {
		t.Skip("versitygw not installed: run `make deps`")
	}
	gw := &restartableGW{bin: gwBin, dir: t.TempDir(), addr: freeAddr(t), access: "STRATATESTKEY", secret: "degraded-secret"}
	gw.start(t)
	t.Cleanup(gw.stop)
	t.Setenv("AWS_ACCESS_KEY_ID", gw.access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", gw.secret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + gw.addr), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(gw.access, gw.secret, "")})
	if _, err := cli.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("degraded")}); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("s3://degraded/c?region=us-east-1&endpoint=http://%s&path_style=true", gw.addr)

	bin := strataBinary(t)
	dir := t.TempDir()
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	extra := []string{"--object-store", url}
	settings := append([]string{"log.segment.bytes=65536", "log.local.retention.ms=-1"}, restoreSettings...)
	n := startProcNodeArgs(t, nil, extra, bin, dir, kafka, httpAddr, settings...)
	createTopic(t, kafka, "hot", 2, nil)
	produced := produceValues(t, kafka, "hot", "before", 300)
	waitCovered(t, httpAddr, time.Now())
	n.stopClean(t)

	// The store goes away; the node starts anyway.
	gw.stop()
	start := time.Now()
	n = startProcNodeArgs(t, nil, extra, bin, dir, kafka, httpAddr, settings...)
	t.Logf("ready %v after start with the store down", time.Since(start).Round(time.Millisecond))
	body := httpGet(t, "http://"+httpAddr+"/readyz")
	if !strings.Contains(body, "degraded") {
		t.Fatalf("/readyz with the store down: %q", body)
	}
	if v := metricSum(t, httpAddr, "strata_objectstore_available", ""); v != 0 {
		t.Fatalf("strata_objectstore_available = %v with the store down", v)
	}
	// Hot data is served and writes are taken.
	got := consumeN(t, kafka, "hot", len(produced))
	checkValues(t, got, produced)
	produced = append(produced, produceValues(t, kafka, "hot", "during", 300)...)
	lastWrite := time.Now()

	// The store returns: the node leaves degraded mode and uploads.
	gw.start(t)
	waitMetric(t, httpAddr, "strata_objectstore_available", func(v float64) bool { return v == 1 }, "the store to be seen again")
	if body := httpGet(t, "http://"+httpAddr+"/readyz"); strings.Contains(body, "degraded") {
		t.Fatalf("/readyz after the store returned: %q", body)
	}
	waitCovered(t, httpAddr, lastWrite)
	checkValues(t, consumeN(t, kafka, "hot", len(produced)), produced)

	// Everything is in the store: a restore from it alone has all of it.
	n.kill(t)
	rdir := t.TempDir()
	out, err := exec.CommandContext(ctx, bin, "restore", "--object-store", url, "--data-dir", rdir).CombinedOutput()
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	t.Logf("restore:\n%s", out)
	n2 := startProcNodeArgs(t, nil, extra, bin, rdir, freeAddr(t), freeAddr(t), settings...)
	checkValues(t, consumeN(t, n2.kafkaAddr, "hot", len(produced)), produced)
}

// waitCovered waits until the store holds, and the progress objects say,
// everything written before since: every partition's copy lag is shorter
// than the time since then.
func waitCovered(t *testing.T, httpAddr string, since time.Time) {
	t.Helper()
	waitMetric(t, httpAddr, "strata_tier_remote_copy_lag_seconds", func(v float64) bool {
		return v < time.Since(since).Seconds()-0.05
	}, "the store to cover every record written")
}

// restartableGW is a versitygw process that can be stopped and started
// again on the same address and directory (a store outage).
type restartableGW struct {
	bin, dir, addr, access, secret string
	cmd                            *exec.Cmd
}

func (g *restartableGW) start(t *testing.T) {
	t.Helper()
	g.cmd = exec.Command(g.bin, "--access", g.access, "--secret", g.secret, "--region", "us-east-1",
		"--port", g.addr, "--quiet", "posix", g.dir)
	g.cmd.Stdout, g.cmd.Stderr = io.Discard, io.Discard
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", g.addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("versitygw did not start listening")
}

func (g *restartableGW) stop() {
	if g.cmd != nil && g.cmd.Process != nil {
		_ = g.cmd.Process.Kill()
		_ = g.cmd.Wait()
		g.cmd = nil
	}
}

func produceValues(t *testing.T, addr, topic, tag string, n int) []string {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []string
	for i := 0; i < n; i++ {
		v := fmt.Sprintf("%s-%05d-%s", tag, i, strings.Repeat("x", 200))
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v[:12], err)
		}
		out = append(out, v)
	}
	return out
}

// checkValues checks that got holds exactly want, each once (partitions
// interleave, so order is checked per producer tag by the values).
func checkValues(t *testing.T, got []*kgo.Record, want []string) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Value)]++
	}
	for _, v := range want {
		if seen[v] != 1 {
			t.Fatalf("record %s seen %d times", v[:12], seen[v])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// waitMetric waits until every sample of a metric satisfies ok (and there
// is at least one).
func waitMetric(t *testing.T, httpAddr, name string, ok func(float64) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if vs := metricSamples(t, httpAddr, name); len(vs) > 0 {
			all := true
			for _, v := range vs {
				all = all && ok(v)
			}
			if all {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (%s = %v)", what, name, metricSamples(t, httpAddr, name))
}

// metricsText is a node's /metrics page.
func metricsText(t *testing.T, httpAddr string) string {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricSamples returns the values of every sample of a metric.
func metricSamples(t *testing.T, httpAddr, name string) []float64 {
	t.Helper()
	var out []float64
	for _, line := range strings.Split(metricsText(t, httpAddr), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		var v float64
		f := strings.Fields(line)
		if _, err := fmt.Sscan(f[len(f)-1], &v); err == nil {
			out = append(out, v)
		}
	}
	return out
}
