package loadtest

import (
	"encoding/base64"
	"fmt"
	"math"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in microseconds from 1µs to 1h with three
// significant digits.
const (
	histMinUs   = 1
	histMaxUs   = int64(time.Hour / time.Microsecond)
	histSigFigs = 3
)

func newHDR() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMinUs, histMaxUs, histSigFigs)
}

// Percentiles summarises a latency distribution, in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// percentilesOf reads the summary of h; an empty histogram gives zeros.
func percentilesOf(h *hdrhistogram.Histogram) Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return Percentiles{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	v := h.ValueAtPercentiles([]float64{50, 90, 99, 99.9})
	return Percentiles{
		Count: h.TotalCount(),
		Mean:  math.Round(h.Mean()) / 1000,
		P50:   ms(v[50]),
		P90:   ms(v[90]),
		P99:   ms(v[99]),
		P999:  ms(v[99.9]),
		Max:   ms(h.Max()),
	}
}

// mergeHists returns a new histogram holding every value of hs; nils are
// skipped. The inputs are not modified.
func mergeHists(hs ...*hdrhistogram.Histogram) *hdrhistogram.Histogram {
	out := newHDR()
	for _, h := range hs {
		if h != nil {
			out.Merge(h)
		}
	}
	return out
}

// PercentilePoint is one point of a latency distribution: the latency at
// or below which Percentile percent of the values fall.
type PercentilePoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// distributionPercentiles are the points a report plots, denser towards
// the tail.
var distributionPercentiles = []float64{
	0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99,
	99.5, 99.7, 99.9, 99.95, 99.97, 99.99, 99.995, 99.999, 100,
}

// distributionOf samples h at distributionPercentiles, stopping at the
// first point that reaches the maximum.
func distributionOf(h *hdrhistogram.Histogram) []PercentilePoint {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	var out []PercentilePoint
	for _, p := range distributionPercentiles {
		v := h.ValueAtPercentile(p)
		if p == 0 {
			v = h.Min()
		}
		out = append(out, PercentilePoint{Percentile: p, Ms: float64(v) / 1000})
		if v >= h.Max() {
			break
		}
	}
	return out
}

// encodeHist is h in HdrHistogram's compressed V2 form, base64, so a
// results.json can be re-merged or re-read by other HdrHistogram tools.
func encodeHist(h *hdrhistogram.Histogram) string {
	if h == nil || h.TotalCount() == 0 {
		return ""
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// decodeHist reverses encodeHist.
func decodeHist(s string) (*hdrhistogram.Histogram, error) {
	if s == "" {
		return newHDR(), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	h, err := hdrhistogram.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("decode histogram: %w", err)
	}
	return h, nil
}

// latencyRecorder collects one kind of latency: an interval histogram the
// sampler swaps out every tick, and one cumulative histogram per phase.
// It is safe for concurrent use.
type latencyRecorder struct {
	mu struct {
		sync.Mutex
		interval *hdrhistogram.Histogram
		phase    string
		phases   map[string]*hdrhistogram.Histogram
	}
}

func newLatencyRecorder() *latencyRecorder {
	r := &latencyRecorder{}
	r.mu.interval = newHDR()
	r.mu.phases = make(map[string]*hdrhistogram.Histogram)
	return r
}

// record adds one latency; values outside the range are clamped.
func (r *latencyRecorder) record(d time.Duration) {
	us := int64(d / time.Microsecond)
	if us < histMinUs {
		us = histMinUs
	} else if us > histMaxUs {
		us = histMaxUs
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_ = r.mu.interval.RecordValue(us)
	if r.mu.phase == "" {
		return
	}
	h := r.mu.phases[r.mu.phase]
	if h == nil {
		h = newHDR()
		r.mu.phases[r.mu.phase] = h
	}
	_ = h.RecordValue(us)
}

// setPhase starts attributing values to phase; "" records into no phase.
func (r *latencyRecorder) setPhase(phase string) {
	r.mu.Lock()
	r.mu.phase = phase
	r.mu.Unlock()
}

// takeInterval returns the values since the last call and starts afresh.
func (r *latencyRecorder) takeInterval() *hdrhistogram.Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.mu.interval
	r.mu.interval = newHDR()
	return h
}

// phaseHist returns a copy of the named phase's histogram (empty if none).
func (r *latencyRecorder) phaseHist(phase string) *hdrhistogram.Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	return mergeHists(r.mu.phases[phase])
}
