package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParsePromText(t *testing.T) {
	in := `# HELP process_cpu_seconds_total Total user and system CPU time.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
process_resident_memory_bytes 1.048576e+08
strata_topic_bytes_in_total{topic="a"} 100
strata_topic_bytes_in_total{topic="b}\"x"} 50 1700000000000
strata_weird NaN
strata_inf +Inf
broken{topic="a" 7
justaname
strata_kafka_requests_total{api="Produce",le="+Inf"} 3
`
	m, err := parsePromText(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"process_cpu_seconds_total": 12.5, "process_resident_memory_bytes": 104857600,
		"strata_topic_bytes_in_total": 150, "strata_kafka_requests_total": 3,
	}
	if len(m) != len(want) {
		t.Fatalf("parsed %v", m)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
}

func FuzzParsePromText(f *testing.F) {
	f.Add("a 1\nb{x=\"y\"} 2\n")
	f.Add("a{\"\\")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parsePromText(strings.NewReader(s))
	})
}

func TestSelectMetrics(t *testing.T) {
	all := map[string]float64{"strata_objectstore_put_bytes_total": 1, "strata_kafka_bytes_in_total": 2, "go_goroutines": 3}
	got := selectMetrics(all, DefaultMetricSelectors)
	if len(got) != 2 || got["go_goroutines"] != 0 {
		t.Fatalf("selected %v", got)
	}
}

func TestBrokerWatcher(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := n.Add(1)
		fmt.Fprintf(w, "process_cpu_seconds_total %d\nprocess_resident_memory_bytes %d\nstrata_kafka_bytes_in_total %d\n", i*2, i*1000, i*500)
	}))
	defer srv.Close()
	b := newBrokerWatcher(srv.URL, DefaultMetricSelectors)
	for i := range 3 {
		b.scrape(context.Background(), float64(i))
	}
	r := b.result()
	if r.CPUSeconds != 4 || r.RSSMaxBytes != 3000 || r.Deltas["strata_kafka_bytes_in_total"] != 1000 || len(r.Series) != 3 {
		t.Fatalf("result %+v", r)
	}
	bad := newBrokerWatcher("http://127.0.0.1:1/metrics", nil)
	bad.scrape(context.Background(), 0)
	if res := bad.result(); res.Errors != 1 {
		t.Fatalf("unreachable broker: %+v", res)
	}
}

type fakeResolver map[string][]string

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func TestCheckLoopback(t *testing.T) {
	res := fakeResolver{"loop.test": {"127.0.0.2"}, "mixed.test": {"127.0.0.1", "10.0.0.1"}, "far.test": {"192.0.2.1"}}
	cases := []struct {
		addrs []string
		ok    bool
	}{
		{[]string{"127.0.0.1:9092"}, true},
		{[]string{"localhost:9092", "[::1]:9092"}, true},
		{[]string{"loop.test:9092"}, true},
		{[]string{"127.0.0.1:9092", "10.1.2.3:9092"}, false},
		{[]string{"mixed.test:9092"}, false},
		{[]string{"far.test:9092"}, false},
		{[]string{"unknown.test:9092"}, false},
		{[]string{"[2001:db8::1]:9092"}, false},
	}
	for _, c := range cases {
		err := checkLoopback(context.Background(), res, c.addrs)
		if (err == nil) != c.ok {
			t.Errorf("checkLoopback(%v) = %v", c.addrs, err)
		}
		if err != nil && !errors.Is(err, ErrRemoteTarget) {
			t.Errorf("error %v is not ErrRemoteTarget", err)
		}
	}
}

func TestPayloads(t *testing.T) {
	for _, size := range []int{minJSONSize, 300, 1024, 10_000} {
		w := DefaultWorkload()
		w.Payload, w.RecordSize, w.Keys, w.DistinctKeys = Payload{Kind: PayloadJSON}, ByteSize(size), KeysDistinct, 3
		src := newPayloadSource(&w, nil, 1)
		keys := map[string]bool{}
		for range jsonPool + 1 {
			v := src.value()
			if len(v) != size {
				t.Fatalf("json value of %d bytes, want %d", len(v), size)
			}
			var ev map[string]any
			if err := json.Unmarshal(v, &ev); err != nil {
				t.Fatalf("not JSON (%v): %s", err, v)
			}
			keys[string(src.key())] = true
		}
		if len(keys) > 3 {
			t.Fatalf("%d distinct keys, want at most 3", len(keys))
		}
	}
	w := DefaultWorkload()
	w.RecordSize, w.Keys = 100, KeysRandom
	src := newPayloadSource(&w, nil, 2)
	a, b := src.value(), src.value()
	if len(a) != 100 || string(a) == string(b) || string(src.key()) == string(src.key()) {
		t.Fatal("random payloads or keys repeat")
	}
	w.Keys = KeysNone
	if newPayloadSource(&w, nil, 3).key() != nil {
		t.Fatal("keys: none gave a key")
	}
}

// TestPhaseWireBytes checks a phase's wire figures are the broker's byte
// counters read at the phase's start and end, and absent (not zero) when
// the metrics have no such counters.
func TestPhaseWireBytes(t *testing.T) {
	var n atomic.Int64
	withWire := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := n.Add(1)
		fmt.Fprintf(w, "strata_kafka_bytes_in_total{listener=\"a\"} %d\nstrata_kafka_bytes_in_total{listener=\"b\"} %d\nstrata_kafka_bytes_out_total %d\n", i*400, i*100, i*300)
	}))
	defer withWire.Close()
	without := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "process_cpu_seconds_total 1")
	}))
	defer without.Close()

	phase := func(url string) PhaseResult {
		w := DefaultWorkload()
		w.SampleInterval = Duration(100 * time.Millisecond)
		r := newRun(&w, Options{MetricsURL: url, RunID: "t"})
		r.start = time.Now()
		r.beginPhase(PhaseMeasure, nil)
		time.Sleep(250 * time.Millisecond)
		r.endPhase()
		if len(r.mu.phases) != 1 {
			t.Fatalf("%d phases", len(r.mu.phases))
		}
		return r.mu.phases[0]
	}
	p := phase(withWire.URL)
	if p.WireInBytes == nil || *p.WireInBytes != 500 || p.WireOutBytes == nil || *p.WireOutBytes != 300 {
		t.Fatalf("wire bytes %v %v, want 500 and 300", p.WireInBytes, p.WireOutBytes)
	}
	if p.WireInMBPerS == nil || *p.WireInMBPerS <= 0 || p.TooShort {
		t.Errorf("phase %+v", p)
	}
	if p := phase(without.URL); p.WireInBytes != nil || p.WireInMBPerS != nil || p.WireOutMBPerS != nil {
		t.Errorf("wire figures without the counters: %+v", p)
	}
	if p := phase(""); p.WireInBytes != nil {
		t.Errorf("wire figures without metrics: %+v", p)
	}
}
