package loadtest

import (
	"math"
	"testing"
	"time"
)

func TestPercentilesOf(t *testing.T) {
	h := newHDR()
	for v := int64(1); v <= 10_000; v++ { // 1µs .. 10ms, uniform
		_ = h.RecordValue(v)
	}
	p := percentilesOf(h)
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > want*0.002+0.001 {
			t.Errorf("%s = %v, want ~%v", name, got, want)
		}
	}
	near("p50", p.P50, 5)
	near("p90", p.P90, 9)
	near("p99", p.P99, 9.9)
	near("p99.9", p.P999, 9.99)
	near("max", p.Max, 10)
	near("mean", p.Mean, 5)
	if p.Count != 10_000 {
		t.Errorf("count = %d", p.Count)
	}
	if (percentilesOf(newHDR()) != Percentiles{}) || (percentilesOf(nil) != Percentiles{}) {
		t.Error("empty histogram should give zeros")
	}
}

func TestMergeHists(t *testing.T) {
	a, b, all := newHDR(), newHDR(), newHDR()
	for v := int64(1); v <= 5000; v++ {
		_ = a.RecordValue(v * 3)
		_ = b.RecordValue(v*7 + 100_000)
		_ = all.RecordValue(v * 3)
		_ = all.RecordValue(v*7 + 100_000)
	}
	m := mergeHists(a, nil, b)
	if m.TotalCount() != 10_000 || percentilesOf(m) != percentilesOf(all) {
		t.Fatalf("merged %+v, want %+v", percentilesOf(m), percentilesOf(all))
	}
	if a.TotalCount() != 5000 || b.TotalCount() != 5000 {
		t.Fatal("inputs modified")
	}
	// Merging is associative: per-interval histograms merged give the
	// cumulative one.
	if got := mergeHists(mergeHists(a), mergeHists(b)); percentilesOf(got) != percentilesOf(all) {
		t.Fatal("merge of merges differs")
	}
}

func TestHistEncodeRoundTrip(t *testing.T) {
	h := newHDR()
	for v := int64(1); v < 100_000; v += 37 {
		_ = h.RecordValue(v)
	}
	back, err := decodeHist(encodeHist(h))
	if err != nil {
		t.Fatal(err)
	}
	if percentilesOf(back) != percentilesOf(h) {
		t.Fatalf("round trip: %+v vs %+v", percentilesOf(back), percentilesOf(h))
	}
	if _, err := decodeHist("!!notbase64"); err == nil {
		t.Error("bad base64 accepted")
	}
	if _, err := decodeHist("aGVsbG8="); err == nil {
		t.Error("bad histogram accepted")
	}
}

func TestDistributionOf(t *testing.T) {
	h := newHDR()
	for v := int64(1); v <= 100_000; v++ {
		_ = h.RecordValue(v)
	}
	d := distributionOf(h)
	if len(d) < 10 || d[0].Percentile != 0 || d[len(d)-1].Ms < 99.9 {
		t.Fatalf("distribution %v", d)
	}
	for i := 1; i < len(d); i++ {
		if d[i].Percentile <= d[i-1].Percentile || d[i].Ms < d[i-1].Ms {
			t.Fatalf("not monotonic at %d: %v", i, d)
		}
	}
	if distributionOf(newHDR()) != nil {
		t.Error("empty histogram should give no points")
	}
}

func TestLatencyRecorderPhases(t *testing.T) {
	r := newLatencyRecorder()
	r.record(time.Millisecond) // no phase: interval only
	r.setPhase("a")
	r.record(2 * time.Millisecond)
	r.record(-time.Second) // clamped to the minimum, not dropped
	r.setPhase("b")
	r.record(3 * time.Hour) // clamped to the maximum
	if n := r.takeInterval().TotalCount(); n != 4 {
		t.Errorf("interval count %d, want 4", n)
	}
	if n := r.takeInterval().TotalCount(); n != 0 {
		t.Errorf("interval not reset: %d", n)
	}
	if n := r.phaseHist("a").TotalCount(); n != 2 {
		t.Errorf("phase a count %d", n)
	}
	if got := percentilesOf(r.phaseHist("b")).Max; got < 3_599_000 {
		t.Errorf("phase b max %vms, want the clamp at 1h", got)
	}
	if r.phaseHist("none").TotalCount() != 0 {
		t.Error("unknown phase not empty")
	}
}
