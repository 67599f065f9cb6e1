package loadtest

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// phasedResult is a live run whose first record was produced 10 s after
// the start, with a warm-up, a measured phase and a drain too short to
// mean anything.
func phasedResult(name, compression, acks string) *Result {
	w := DefaultWorkload()
	w.Name, w.Compression, w.Acks = name, compression, acks
	wire := 12.5
	r := &Result{
		Version: ResultVersion, RunID: "run-" + compression, Name: name, Mode: ModeLive, Target: "strata --local 1",
		Host: hostInfo(), Workload: w, FirstProduce: 10,
		Summary: Summary{ProducePhase: PhaseMeasure, ProduceRecordsPerS: 1000, ProduceMBPerS: 1.02,
			ConsumePhase: PhaseMeasure, ConsumeRecordsPerS: 1000, ConsumeMBPerS: 1.02,
			ProduceWireMBPerS: &wire,
			ProduceLatency:    Percentiles{Count: 100, P50: 1, P99: 5, P999: 5, Max: 9}},
		Phases: []PhaseResult{
			{Name: PhaseWarmup, Start: 10, Seconds: 2},
			{Name: PhaseMeasure, Start: 12, Seconds: 6, ProduceMBPerS: 1.02, WireInMBPerS: &wire},
			{Name: PhaseDrain, Start: 18, Seconds: 0.3, ProduceMBPerS: 0.5, TooShort: true},
		},
		Counts:        Counts{Consumed: map[string]int64{}},
		Distributions: map[string][]PercentilePoint{"produce_ack": {{0, 1}, {50, 1}, {99, 5}, {99.9, 5}, {100, 9}}},
	}
	for t := 1; t <= 18; t++ {
		phase := PhaseWarmup
		if t > 12 {
			phase = PhaseMeasure
		}
		// p99 and p99.9 are equal, as they are in short intervals.
		r.Series = append(r.Series, Sample{T: float64(t), Phase: phase, ProduceMBPerS: 1, AckP50: 1, AckP99: 5, AckP999: 5})
	}
	return r
}

var (
	polylineRE = regexp.MustCompile(`<polyline class="series" data-name="([^"]*)" fill="none" stroke="([^"]*)" stroke-width="([^"]*)"( stroke-dasharray="[^"]*")? stroke-linejoin="round" points="([^"]*)"/>`)
	xTickRE    = regexp.MustCompile(`<text class="xtick" x="[^"]*" y="[^"]*" text-anchor="middle">([^<]*)</text>`)
)

// chartNamed finds the chart with title in charts.
func chartNamed(t *testing.T, charts []string, title string) string {
	t.Helper()
	for _, c := range charts {
		if strings.Contains(c, `font-weight="bold">`+title+`</text>`) {
			return c
		}
	}
	t.Fatalf("no chart %q", title)
	return ""
}

func TestChartsStartAtFirstRecordWithPhases(t *testing.T) {
	var charts []string
	for _, c := range reportCharts(phasedResult("max-throughput", "none", "all")) {
		charts = append(charts, string(c))
	}
	lat := chartNamed(t, charts, "Produce-ack latency over time")

	// The x axis starts at 0, the first produced record, and the setup
	// before it (samples at 1..10 s) is not drawn.
	ticks := xTickRE.FindAllStringSubmatch(lat, -1)
	if len(ticks) == 0 || ticks[0][1] != "0" {
		t.Fatalf("x ticks %v, want the first at 0", ticks)
	}
	if last := ticks[len(ticks)-1][1]; last != "8" {
		t.Errorf("last x tick %s, want 8 (the data ends 8 s after the first record)", last)
	}
	lines := polylineRE.FindAllStringSubmatch(lat, -1)
	if len(lines) != 3 {
		t.Fatalf("%d lines, want p50, p99, p99.9", len(lines))
	}
	styles := map[string]bool{}
	for _, l := range lines {
		pts := strings.Fields(l[5])
		if len(pts) != 8 {
			t.Errorf("%s: %d points, want the 8 samples after the first record", l[1], len(pts))
		}
		for _, p := range pts {
			x, _ := strconv.ParseFloat(strings.Split(p, ",")[0], 64)
			if x < padL || x > chartW-padR {
				t.Errorf("%s: point %s outside the plot", l[1], p)
			}
		}
		styles[l[3]+l[4]] = true
	}
	// p99 lies exactly on p99.9: each line needs its own width and dash
	// pattern to stay visible.
	if len(styles) != 3 {
		t.Errorf("lines share a style: %v", styles)
	}
	// Phases are shaded, the too-short drain hatched and labelled.
	if n := strings.Count(lat, `class="phase"`); n != 3 {
		t.Errorf("%d phase bands, want 3", n)
	}
	for _, want := range []string{">warmup<", ">measure<", ">drain (too short)<", `fill="url(#muted)"`, "seconds since the first produced record"} {
		if !strings.Contains(lat, want) {
			t.Errorf("latency chart lacks %q", want)
		}
	}
	// The distribution's x axis ends at the data: max, not beyond.
	dist := chartNamed(t, charts, "Latency distribution")
	dt := xTickRE.FindAllStringSubmatch(dist, -1)
	if len(dt) == 0 || dt[len(dt)-1][1] != "max" {
		t.Errorf("distribution ticks %v", dt)
	}
}

func TestReportShowsWireAndTooShortPhases(t *testing.T) {
	r := phasedResult("max-throughput", "lz4", "all")
	var b bytes.Buffer
	if err := WriteHTMLReport(&b, r); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, want := range []string{"MB/s (wire: broker bytes)", "<td>12.50</td>", "drain (too short)", `class="too-short"`} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The drain's rates are n/a, not 0.50 or 0.00.
	drain := html[strings.Index(html, `class="too-short"`):]
	drain = drain[:strings.Index(drain, "</tr>")]
	if strings.Contains(drain, "0.50") || strings.Count(drain, "n/a") < 4 {
		t.Errorf("too-short drain row: %s", drain)
	}
	var sum bytes.Buffer
	if err := FormatSummary(&sum, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1.02 MB/s logical", "12.50 MB/s wire", "n/a MB/s wire", "phase drain lasted 0.30s"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}

func TestCompareLabelsRunsBySettings(t *testing.T) {
	a, b := phasedResult("max-throughput", "none", "all"), phasedResult("max-throughput", "lz4", "leader")
	b.Mode = ModeBacklog
	b.Summary.CaughtUp = new(bool)
	b.Summary.CatchUpSeconds = 3.5
	b.Summary.ConsumePhase = ""
	b.Summary.EndToEndLatency = Percentiles{Count: 3, P50: 1, P90: 2, P99: 7, P999: 7, Max: 7}
	runs := []*Result{a, b}
	labels := runLabels(runs)
	if labels[0] != "1: max-throughput mode=live compression=none acks=all" || labels[1] != "2: max-throughput mode=backlog compression=lz4 acks=leader" {
		t.Errorf("labels %q", labels)
	}
	if l := runLabels([]*Result{a, phasedResult("max-throughput", "none", "all")}); l[0] == l[1] {
		t.Errorf("identical settings give identical labels %q", l)
	}
	var tbl bytes.Buffer
	if err := FormatCompare(&tbl, runs); err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`compression \*\s+none\s+lz4`,
		`acks \*\s+all\s+leader`,
		`(?m)^\s*target\s+strata --local 1\s+strata --local 1\s*$`,
		`consume records/s\s+1000\s+n/a`,
		`replay catch-up s\s+n/a\s+3.50`,
		`e2e p99 ms\s+n/a\s+7.00`,
		`produce MB/s \(wire\)\s+12.50\s+12.50`,
		`hot e2e p99 without replay ms\s+n/a\s+n/a`,
	} {
		if !regexp.MustCompile(re).MatchString(tbl.String()) {
			t.Errorf("compare table does not match %s:\n%s", re, tbl.String())
		}
	}
	if strings.Contains(tbl.String(), "0.00") {
		t.Errorf("compare table prints 0.00 for an absent figure:\n%s", tbl.String())
	}
	var html bytes.Buffer
	if err := WriteCompareHTML(&html, runs); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	for _, want := range []string{`<tr class="differs"><td>compression (differs)</td><td>none</td><td>lz4</td>`, "2: max-throughput mode=backlog compression=lz4 acks=leader"} {
		if !strings.Contains(h, want) {
			t.Errorf("comparison report lacks %q", want)
		}
	}
	// Each run's time series starts at its own first record.
	prod := chartNamed(t, strings.Split(h, "</svg>"), "Produce throughput (logical)")
	if ticks := xTickRE.FindAllStringSubmatch(prod, -1); len(ticks) == 0 || ticks[0][1] != "0" {
		t.Errorf("compare x ticks %v", ticks)
	}
	for _, l := range polylineRE.FindAllStringSubmatch(prod, -1) {
		if n := len(strings.Fields(l[5])); n != 8 {
			t.Errorf("%s: %d points, want 8", l[1], n)
		}
	}
}
