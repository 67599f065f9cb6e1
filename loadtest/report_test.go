package loadtest

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

// sampleResult is a synthetic result with every section filled.
func sampleResult(target string, scale float64) *Result {
	r := &Result{
		Version: ResultVersion, RunID: "r1", Name: "max-throughput", Mode: ModeMixed, Target: target,
		Command: "strata loadtest --kfake <x>", Started: time.Unix(1700000000, 0), Elapsed: 3,
		Host: hostInfo(), Workload: DefaultWorkload(),
		Summary: Summary{ProducePhase: PhaseBaseline, ProduceRecordsPerS: 1000 * scale, ProduceMBPerS: scale,
			ProduceLatency: Percentiles{Count: 10, P50: 1, P99: 2 * scale}, EndToEndLatency: Percentiles{Count: 10, P99: 3}},
		Counts:        Counts{Sent: 10, Acked: 10, Consumed: map[string]int64{"g<0>": 10}},
		Errors:        map[string]int64{"produce: NOT_LEADER_FOR_PARTITION": 2},
		Distributions: map[string][]PercentilePoint{"end_to_end": {{0, 1}, {50, 2}, {99, 5}, {100, 9}}},
		Broker:        &BrokerMetrics{URL: "http://127.0.0.1:1/metrics", CPUCoresAvg: 0.5, Deltas: map[string]float64{"strata_kafka_bytes_in_total": 99}, Series: []BrokerSample{{T: 1, CPUCores: 0.4, RSSBytes: 1 << 20}}},
		Notes:         []string{"a <b>note</b>"},
	}
	for i := range 5 {
		r.Series = append(r.Series, Sample{T: float64(i), Phase: PhaseBaseline, ProduceMBPerS: float64(i) * scale, AckP99: 2, E2EP99: 3})
	}
	return r
}

func TestHTMLReportIsSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTMLReport(&b, sampleResult("kfake <in-process>", 1)); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{"<svg", "Throughput", "Latency distribution", "without replay", "NOT_LEADER_FOR_PARTITION", "Broker CPU", "strata_kafka_bytes_in_total", "kfake &lt;in-process&gt;", "a &lt;b&gt;note&lt;/b&gt;", "partitions: 16"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(html, "<script") || regexp.MustCompile(`(src|href)="https?:`).MatchString(html) {
		t.Error("report loads external resources")
	}
	if n := strings.Count(html, "<svg"); n != 8 {
		t.Errorf("%d charts, want 8", n)
	}
}

func TestSummaryAndCompare(t *testing.T) {
	a, b := sampleResult("strata --local 1", 1), sampleResult("kfake", 2)
	var sum bytes.Buffer
	if err := FormatSummary(&sum, a); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1000 records/s", "produce ack", "NOT_LEADER", "cpu 0.50 cores"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	var tbl bytes.Buffer
	if err := FormatCompare(&tbl, []*Result{a, b}); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`produce records/s\s+1000\s+2000`).MatchString(tbl.String()) {
		t.Errorf("compare table:\n%s", tbl.String())
	}
	var html bytes.Buffer
	if err := WriteCompareHTML(&html, []*Result{a, b}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html.String(), "1: max-throughput target=strata --local 1") || strings.Count(html.String(), "<svg") != 5 {
		t.Error("comparison report incomplete")
	}
}

func TestNiceTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 10, 5, []float64{0, 2, 4, 6, 8, 10}},
		{0, 97, 5, []float64{0, 20, 40, 60, 80, 100}},
		{0, 0.37, 4, []float64{0, 0.1, 0.2, 0.3, 0.4}},
		{0, 0, 5, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{3, 3, 2, []float64{0, 2, 4, 6}}, // a flat series gets a span around it
	}
	for _, c := range cases {
		got := niceTicks(c.lo, c.hi, c.n)
		if len(got) != len(c.want) {
			t.Errorf("niceTicks(%v, %v, %d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
			continue
		}
		for i := range got {
			if math.Abs(got[i]-c.want[i]) > 1e-9 {
				t.Errorf("niceTicks(%v, %v, %d) = %v, want %v", c.lo, c.hi, c.n, got, c.want)
				break
			}
		}
	}
	if niceTicks(math.NaN(), 1, 3) != nil || niceTicks(0, math.Inf(1), 3) != nil {
		t.Error("non-finite input should give no ticks")
	}
	empty := lineChart{Title: "x"}.svg()
	if !strings.Contains(empty, "no data") {
		t.Error("empty chart")
	}
	if nines(99.9) < 2.99 || nines(99.9) > 3.01 || nines(100) != maxNines || nines(0) != 0 {
		t.Error("nines axis")
	}
}
