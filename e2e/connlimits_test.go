package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// httpProbe is one keep-alive HTTP connection to a node: it still answers
// when the node has no descriptor left to accept a new one.
type httpProbe struct {
	cl   *http.Client
	addr string
}

func newHTTPProbe(addr string) *httpProbe {
	tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}
	return &httpProbe{cl: &http.Client{Transport: tr, Timeout: 10 * time.Second}, addr: addr}
}

func (p *httpProbe) get(path string) (int, string, error) {
	resp, err := p.cl.Get("http://" + p.addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// metric returns the sum of a metric's samples whose label set contains
// labels ("" for any), 0 if absent.
func (p *httpProbe) metric(t testing.TB, name, labels string) float64 {
	t.Helper()
	code, body, err := p.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("scraping metrics: %d %v", code, err)
	}
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (labels != "" && !strings.Contains(line, labels)) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, _ := strconv.ParseFloat(f[len(f)-1], 64)
		sum += v
	}
	return sum
}

func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// vmRSS is a process's resident set in bytes.
func vmRSS(t testing.TB, pid int) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// ackedLog produces numbered records one request at a time and remembers
// which were acknowledged, to check the topic holds exactly those, once
// each, in order.
type ackedLog struct {
	topic string
	mu    sync.Mutex
	acked []string
	next  int
}

func (a *ackedLog) produce(t testing.TB, cl *kgo.Client, n int) bool {
	t.Helper()
	for i := 0; i < n; i++ {
		a.mu.Lock()
		v := fmt.Sprintf("rec-%06d", a.next)
		a.next++
		a.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: a.topic, Value: []byte(v)}).FirstErr()
		cancel()
		if err != nil {
			t.Errorf("produce %s: %v", v, err)
			return false
		}
		a.mu.Lock()
		a.acked = append(a.acked, v)
		a.mu.Unlock()
	}
	return true
}

// check consumes the topic from the start and compares it with what was
// acknowledged.
func (a *ackedLog) check(t testing.TB, addr string) {
	t.Helper()
	a.mu.Lock()
	want := append([]string(nil), a.acked...)
	a.mu.Unlock()
	got := consumeN(t, addr, a.topic, len(want))
	for i, r := range got {
		if string(r.Value) != want[i] || r.Offset != int64(i) {
			t.Fatalf("record %d: %q at offset %d, want %q at %d", i, r.Value, r.Offset, want[i], i)
		}
	}
}

// raiseOwnFDLimit lets this test process hold thousands of connections.
func raiseOwnFDLimit(t testing.TB, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	if lim.Cur < need {
		t.Skipf("fd limit %d below the %d this test needs", lim.Cur, need)
	}
}

func apiVersionsFrame() []byte {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	b := make([]byte, 4, 64)
	b = binary.BigEndian.AppendUint16(b, 18)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, 0xffff)
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// servedApiVersions sends ApiVersions and reports whether it was answered.
func servedApiVersions(c net.Conn, wait time.Duration) bool {
	if _, err := c.Write(apiVersionsFrame()); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var sz [4]byte
	if _, err := io.ReadFull(c, sz[:]); err != nil {
		return false
	}
	_, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(sz[:])))
	return err == nil
}

// closedByPeer waits (generously) for the broker to close c.
func closedByPeer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(90 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

// TestAcceptSurvivesFDExhaustion runs a node with 64 file descriptors,
// exhausts them with idle connections, and checks that the listener
// reports not ready and counts the errors, then serves again once they
// close, with every acknowledged record present once, in order.
func TestAcceptSurvivesFDExhaustion(t *testing.T) {
	bin := strataBinary(t)
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	p := startProcNodeWrapped(t, []string{"prlimit", "--nofile=64:64", "--"}, bin, t.TempDir(), kafka, httpAddr)
	probe := newHTTPProbe(httpAddr)
	createTopic(t, kafka, "fds", 1, nil)
	log := &ackedLog{topic: "fds"}
	log.produce(t, newClient(t, kafka), 20)
	if code, _, err := probe.get("/readyz"); err != nil || code != 200 { // opens the probe's connection
		t.Fatalf("/readyz before: %d %v", code, err)
	}

	var idle []net.Conn
	for i := 0; i < 100; i++ {
		c, err := net.Dial("tcp", kafka)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		idle = append(idle, c)
	}
	pollUntil(t, "accept errors counted", func() bool {
		return probe.metric(t, "strata_kafka_accept_errors_total", `kind="emfile"`) > 0
	})
	pollUntil(t, "/readyz not ready", func() bool {
		code, _, err := probe.get("/readyz")
		return err == nil && code == http.StatusServiceUnavailable
	})
	for _, c := range idle {
		c.Close()
	}
	pollUntil(t, "/readyz ready again", func() bool {
		code, _, err := probe.get("/readyz")
		return err == nil && code == 200
	})
	cl := newClient(t, kafka)
	log.produce(t, cl, 50)
	if t.Failed() {
		t.FailNow()
	}
	log.check(t, kafka)
	out, _ := os.ReadFile(p.logPath)
	if !strings.Contains(string(out), "accept failed; retrying") {
		t.Fatal("no accept-error log line")
	}
	if n := strings.Count(string(out), "accept failed; retrying"); n > 20 {
		t.Fatalf("%d accept-error lines: not rate-limited", n)
	}
}

// TestHostileConnectionsBoundedMemory opens thousands of connections that
// each send part of a frame, and hundreds that announce a near-100 MiB frame
// after a valid request, while a well-behaved client produces and consumes.
// The broker's RSS stays bounded, nothing acknowledged is lost, and the
// hostile connections are closed by socket.request.read.timeout.ms (or at
// once, for a huge frame before any valid request).
func TestHostileConnectionsBoundedMemory(t *testing.T) {
	half, huge, preAuthHuge := 2000, 300, 200
	if os.Getenv("STRATA_SOAK") != "" {
		half, huge, preAuthHuge = 10000, 2000, 1000
	}
	const rssBound = 400 << 20
	raiseOwnFDLimit(t, uint64(half+huge+preAuthHuge+200))
	bin := strataBinary(t)
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	p := startProcNode(t, bin, t.TempDir(), kafka, httpAddr, "socket.request.read.timeout.ms=8000")
	pid := p.cmd.Process.Pid
	probe := newHTTPProbe(httpAddr)
	createTopic(t, kafka, "hostile", 1, nil)
	log := &ackedLog{topic: "hostile"}
	cl := newClient(t, kafka)
	log.produce(t, cl, 10)
	rssBefore := vmRSS(t, pid)

	stop := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for {
			select {
			case <-stop:
				return
			default:
				if !log.produce(t, cl, 10) {
					return
				}
			}
		}
	}()

	var hostile []net.Conn
	dial := func() net.Conn {
		c, err := net.Dial("tcp", kafka)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		hostile = append(hostile, c)
		return c
	}
	partial := func(c net.Conn, size uint32) {
		b := binary.BigEndian.AppendUint32(nil, size)
		b = append(b, apiVersionsFrame()[4:12]...)
		b = append(b, make([]byte, 12)...) // 20 bytes of body, then nothing
		_, _ = c.Write(b)
	}
	for i := 0; i < half; i++ {
		partial(dial(), 1000)
	}
	for i := 0; i < huge; i++ {
		c := dial()
		if !servedApiVersions(c, 30*time.Second) {
			t.Fatal("ApiVersions not answered")
		}
		partial(c, 100<<20-1)
	}
	for i := 0; i < preAuthHuge; i++ {
		partial(dial(), 100<<20-1)
	}
	var peak int64
	for i := 0; i < 10; i++ {
		peak = max(peak, vmRSS(t, pid))
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("broker RSS %d MiB before, peak %d MiB with %d half frames, %d huge frames after a request, %d huge before one",
		rssBefore>>20, peak>>20, half, huge, preAuthHuge)
	if peak > rssBound {
		t.Fatalf("broker RSS %d MiB over the %d MiB bound", peak>>20, rssBound>>20)
	}
	for i, c := range hostile {
		if !closedByPeer(c) {
			t.Fatalf("hostile connection %d still open", i)
		}
		c.Close()
	}
	close(stop)
	<-produced
	if t.Failed() {
		t.FailNow()
	}
	if got := probe.metric(t, "strata_kafka_connections_closed_total", `reason="frame_timeout"`); got < float64(half+huge) {
		t.Fatalf("%v frame timeouts counted, want >= %d", got, half+huge)
	}
	if got := probe.metric(t, "strata_kafka_connections_closed_total", `reason="frame_too_large"`); got < float64(preAuthHuge) {
		t.Fatalf("%v oversize frames counted, want >= %d", got, preAuthHuge)
	}
	log.produce(t, cl, 10)
	log.check(t, kafka)
}

// TestMaxConnectionsPerIPAndIdle checks max.connections.per.ip (a
// connection over it closes at once), connections.max.idle.ms (idle ones
// close, one with a parked fetch does not) and max.connections (accept
// waits until a connection closes).
func TestMaxConnectionsPerIPAndIdle(t *testing.T) {
	n := startNode(t, "", map[string]string{"max.connections.per.ip": "3", "connections.max.idle.ms": "1500"})
	addr := n.KafkaAddr()
	probe := newHTTPProbe(n.HTTPAddr())
	createTopic(t, addr, "idle", 1, nil)
	pollUntil(t, "admin connections closed", func() bool {
		return probe.metric(t, "strata_kafka_open_connections", "") == 0
	})

	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if !servedApiVersions(c, 30*time.Second) {
			t.Fatalf("connection %d within the per-IP limit not served", i)
		}
		conns = append(conns, c)
	}
	over, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if servedApiVersions(over, 30*time.Second) {
		t.Fatal("a fourth connection from one IP was served")
	}
	over.Close()
	if got := probe.metric(t, "strata_kafka_connections_closed_total", `reason="per_ip_limit"`); got < 1 {
		t.Fatal("per-IP refusal not counted")
	}

	// conns[0] parks a fetch longer than the idle timeout; the others idle.
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(4)
	fetch.ReplicaID = -1
	fetch.MaxWaitMillis = 4000
	fetch.MinBytes = 1
	fetch.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "idle"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	start := time.Now()
	body := rawRequest(t, conns[0], 9, fetch) // fails the test if closed instead
	if corr := int32(binary.BigEndian.Uint32(body)); corr != 9 {
		t.Fatalf("fetch answered with correlation %d", corr)
	}
	if waited := time.Since(start); waited < 3*time.Second {
		t.Fatalf("fetch answered after %v, before its max wait", waited)
	}
	for i, c := range conns {
		if !closedByPeer(c) {
			t.Fatalf("idle connection %d not closed", i)
		}
	}
	if got := probe.metric(t, "strata_kafka_connections_closed_total", `reason="idle"`); got < 3 {
		t.Fatalf("%v idle closes counted, want 3", got)
	}
	// A client copes with its idle connections being closed.
	log := &ackedLog{topic: "idle"}
	cl := newClient(t, addr)
	log.produce(t, cl, 5)
	time.Sleep(2 * time.Second)
	log.produce(t, cl, 5)
	log.check(t, addr)

	// max.connections: the third connection waits for a slot.
	m := startNode(t, "", map[string]string{"max.connections": "2"})
	mprobe := newHTTPProbe(m.HTTPAddr())
	a, _ := net.Dial("tcp", m.KafkaAddr())
	b, _ := net.Dial("tcp", m.KafkaAddr())
	defer b.Close()
	for _, c := range []net.Conn{a, b} {
		if !servedApiVersions(c, 30*time.Second) {
			t.Fatal("connection within max.connections not served")
		}
	}
	c3, err := net.Dial("tcp", m.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	pollUntil(t, "accept paused", func() bool { return mprobe.metric(t, "strata_kafka_accept_paused_total", "") >= 1 })
	a.Close()
	if !servedApiVersions(c3, 30*time.Second) {
		t.Fatal("waiting connection not served once a slot freed")
	}
}
