package loadtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// Broker metrics the harness always reads when given a /metrics URL.
const (
	metricCPU = "process_cpu_seconds_total"
	metricRSS = "process_resident_memory_bytes"
	// metricWireIn and metricWireOut are the bytes of Kafka requests the
	// broker read and of responses it wrote: the wire MB/s of a phase.
	metricWireIn  = "strata_kafka_bytes_in_total"
	metricWireOut = "strata_kafka_bytes_out_total"
)

// DefaultMetricSelectors are the broker metrics reported besides CPU and
// RSS: names, or patterns with * (path.Match syntax).
var DefaultMetricSelectors = []string{
	"strata_kafka_bytes_in_total",
	"strata_kafka_bytes_out_total",
	"strata_objectstore_*bytes*",
	"strata_tier_*bytes*",
}

// maxMetricsBody bounds how much of a /metrics response is read.
const maxMetricsBody = 32 << 20

// parsePromText reads Prometheus text exposition and returns each metric
// name's value summed over its label sets. Comments, malformed lines and
// non-finite values are skipped; it never fails on content, only on read
// errors.
func parsePromText(r io.Reader) (map[string]float64, error) {
	out := make(map[string]float64)
	sc := bufio.NewScanner(io.LimitReader(r, maxMetricsBody))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ \t"); i >= 0 {
			name, rest = line[:i], line[i:]
		} else {
			continue
		}
		if strings.HasPrefix(rest, "{") {
			end := labelsEnd(rest)
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || name == "" {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		out[name] += v
	}
	return out, sc.Err()
}

// labelsEnd finds the closing brace of a label set, honouring quoted values
// with escapes; -1 if there is none.
func labelsEnd(s string) int {
	inQuote := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == '}':
			return i
		}
	}
	return -1
}

// selectMetrics keeps the metrics matching any selector.
func selectMetrics(all map[string]float64, selectors []string) map[string]float64 {
	out := make(map[string]float64)
	for name, v := range all {
		for _, sel := range selectors {
			if ok, _ := path.Match(sel, name); ok || sel == name {
				out[name] = v
				break
			}
		}
	}
	return out
}

// scrapeMetrics fetches and parses one /metrics page.
func scrapeMetrics(ctx context.Context, client *http.Client, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %s", url, resp.Status)
	}
	return parsePromText(resp.Body)
}

// BrokerSample is one scrape of the broker's metrics during a run.
type BrokerSample struct {
	T        float64 `json:"t"`
	CPUCores float64 `json:"cpu_cores"`
	RSSBytes float64 `json:"rss_bytes"`
	// WireInMBPerS and WireOutMBPerS are the broker's request and response
	// bytes per second since the previous sample (0 without the counters).
	WireInMBPerS  float64 `json:"wire_in_mb_per_sec,omitempty"`
	WireOutMBPerS float64 `json:"wire_out_mb_per_sec,omitempty"`
}

// BrokerMetrics are the broker-side figures read from its /metrics.
type BrokerMetrics struct {
	URL string `json:"url"`
	// CPUSeconds is the broker's CPU time over the run; CPUCoresAvg that
	// divided by the wall time.
	CPUSeconds  float64 `json:"cpu_seconds"`
	CPUCoresAvg float64 `json:"cpu_cores_avg"`
	RSSMaxBytes float64 `json:"rss_max_bytes"`
	RSSEndBytes float64 `json:"rss_end_bytes"`
	// Deltas holds each selected metric's change over the run (counters)
	// and End its final value.
	Deltas map[string]float64 `json:"deltas,omitempty"`
	End    map[string]float64 `json:"end,omitempty"`
	Series []BrokerSample     `json:"series,omitempty"`
	Errors int                `json:"scrape_errors,omitempty"`
}

// brokerWatcher scrapes the broker during a run.
type brokerWatcher struct {
	url       string
	selectors []string
	client    *http.Client
	first     map[string]float64
	firstT    time.Time
	last      map[string]float64
	lastT     time.Time
	res       BrokerMetrics
}

func newBrokerWatcher(url string, selectors []string) *brokerWatcher {
	return &brokerWatcher{
		url: url, selectors: selectors,
		client: &http.Client{Timeout: 5 * time.Second},
		res:    BrokerMetrics{URL: url},
	}
}

// scrape takes one sample; t is seconds since the run started.
func (b *brokerWatcher) scrape(ctx context.Context, t float64) {
	m, err := scrapeMetrics(ctx, b.client, b.url)
	if err != nil {
		b.res.Errors++
		return
	}
	now := time.Now()
	s := BrokerSample{T: t, RSSBytes: m[metricRSS]}
	if b.last != nil {
		if dt := now.Sub(b.lastT).Seconds(); dt > 0 {
			s.CPUCores = (m[metricCPU] - b.last[metricCPU]) / dt
			s.WireInMBPerS = (m[metricWireIn] - b.last[metricWireIn]) / dt / 1e6
			s.WireOutMBPerS = (m[metricWireOut] - b.last[metricWireOut]) / dt / 1e6
		}
	}
	if b.first == nil {
		b.first, b.firstT = m, now
	}
	b.last, b.lastT = m, now
	b.res.RSSMaxBytes = math.Max(b.res.RSSMaxBytes, s.RSSBytes)
	b.res.Series = append(b.res.Series, s)
}

// result summarises the scrapes so far.
func (b *brokerWatcher) result() *BrokerMetrics {
	r := b.res
	if b.first == nil {
		return &r
	}
	r.CPUSeconds = b.last[metricCPU] - b.first[metricCPU]
	if wall := b.lastT.Sub(b.firstT).Seconds(); wall > 0 {
		r.CPUCoresAvg = r.CPUSeconds / wall
	}
	r.RSSEndBytes = b.last[metricRSS]
	r.End = selectMetrics(b.last, b.selectors)
	r.Deltas = make(map[string]float64, len(r.End))
	for name, v := range r.End {
		r.Deltas[name] = v - b.first[name]
	}
	return &r
}

// wireReading is one reading of the broker's wire byte counters; ok is
// false when the target exposes no metrics or not these.
type wireReading struct {
	in, out float64
	ok      bool
}

// wire reads the broker's wire byte counters now. Safe for concurrent use
// with scrape: it shares only the HTTP client.
func (b *brokerWatcher) wire(ctx context.Context) wireReading {
	m, err := scrapeMetrics(ctx, b.client, b.url)
	if err != nil {
		return wireReading{}
	}
	in, okIn := m[metricWireIn]
	out, okOut := m[metricWireOut]
	return wireReading{in: in, out: out, ok: okIn && okOut}
}
