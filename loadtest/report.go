package loadtest

import (
	"fmt"
	"html/template"
	"io"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// FormatSummary writes the human summary table of a run.
func FormatSummary(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	s := r.Summary
	fmt.Fprintf(tw, "workload\t%s (%s) against %s\n", r.Name, r.Mode, r.Target)
	fmt.Fprintf(tw, "elapsed\t%.1fs\n", r.Elapsed)
	if s.ProducePhase != "" {
		fmt.Fprintf(tw, "produce (%s)\t%.0f records/s\t%.2f MB/s logical\t%s MB/s wire\n", s.ProducePhase, s.ProduceRecordsPerS, s.ProduceMBPerS, na(s.ProduceWireMBPerS))
	}
	if s.ConsumePhase != "" {
		fmt.Fprintf(tw, "consume (%s)\t%.0f records/s\t%.2f MB/s logical\t%s MB/s wire\n", s.ConsumePhase, s.ConsumeRecordsPerS, s.ConsumeMBPerS, na(s.ConsumeWireMBPerS))
	}
	if s.WireSource != "" {
		fmt.Fprintf(tw, "wire\t%s\n", s.WireSource)
	}
	for _, p := range r.Phases {
		if p.TooShort {
			fmt.Fprintf(tw, "note\tphase %s lasted %.2fs, under %d sample intervals: its rates are not meaningful\n", p.Name, p.Seconds, minPhaseSamples)
		}
	}
	fmt.Fprintf(tw, "latency (ms)\tp50\tp90\tp99\tp99.9\tmax\tcount\n")
	for _, row := range []struct {
		name string
		p    Percentiles
	}{{"produce ack", s.ProduceLatency}, {"end to end", s.EndToEndLatency}} {
		if row.p.Count == 0 {
			continue
		}
		fmt.Fprintf(tw, "  %s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\n", row.name, row.p.P50, row.p.P90, row.p.P99, row.p.P999, row.p.Max, row.p.Count)
	}
	if r.Mode == ModeMixed {
		fmt.Fprintf(tw, "hot e2e p99\twithout replay %.2fms\twith replay %.2fms\n", s.HotE2EP99Baseline, s.HotE2EP99Replay)
		fmt.Fprintf(tw, "hot ack p99\twithout replay %.2fms\twith replay %.2fms\n", s.HotAckP99Baseline, s.HotAckP99Replay)
	}
	if s.CaughtUp != nil {
		fmt.Fprintf(tw, "replay catch-up\t%.2fs\tcaught up: %v\n", s.CatchUpSeconds, *s.CaughtUp)
	}
	c := r.Counts
	fmt.Fprintf(tw, "records\tsent %d\tacked %d\tfailed %d\tstored %d\n", c.Sent, c.Acked, c.ProduceFailed, c.Stored)
	for _, g := range sortedKeys(c.Consumed) {
		fmt.Fprintf(tw, "  consumed\t%d\tby group %s\n", c.Consumed[g], g)
	}
	fmt.Fprintf(tw, "max consumer lag\t%d\n", s.MaxConsumerLag)
	fmt.Fprintf(tw, "errors\t%d\n", s.ErrorsTotal)
	for _, k := range sortedKeys(r.Errors) {
		fmt.Fprintf(tw, "  %s\t%d\n", k, r.Errors[k])
	}
	if b := r.Broker; b != nil {
		fmt.Fprintf(tw, "broker\tcpu %.2f cores avg\trss max %.1f MiB\tscrape errors %d\n", b.CPUCoresAvg, b.RSSMaxBytes/(1<<20), b.Errors)
		for _, k := range sortedKeys(b.Deltas) {
			fmt.Fprintf(tw, "  %s\t+%.0f\n", k, b.Deltas[k])
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(tw, "note\t%s\n", n)
	}
	return tw.Flush()
}

// na formats an optional figure with two decimals, "n/a" when absent.
func na(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", *v)
}

// timeAxis labels the x axis of the charts over time.
const timeAxis = "seconds since the first produced record"

// reportCharts are the charts of one run's report. Time runs from the
// first produced record, and the phases are shaded behind the lines.
func reportCharts(r *Result) []template.HTML {
	var out []template.HTML
	add := func(c lineChart) { out = append(out, template.HTML(c.svg())) } //nolint:gosec // svg() escapes all text
	t0, bands := r.FirstProduce, phaseBands(r)
	throughput := []chartSeries{
		seriesOf("produce MB/s (logical)", r.Series, t0, func(s Sample) float64 { return s.ProduceMBPerS }),
		seriesOf("consume MB/s (logical)", r.Series, t0, func(s Sample) float64 { return s.ConsumeMBPerS }),
	}
	if b := r.Broker; b != nil && r.Summary.ProduceWireMBPerS != nil {
		in, outS := chartSeries{Name: "broker in MB/s (wire)"}, chartSeries{Name: "broker out MB/s (wire)"}
		for i, s := range b.Series {
			if i == 0 || s.T <= t0 {
				continue
			}
			in.X, in.Y = append(in.X, s.T-t0), append(in.Y, s.WireInMBPerS)
			outS.X, outS.Y = append(outS.X, s.T-t0), append(outS.Y, s.WireOutMBPerS)
		}
		throughput = append(throughput, in, outS)
	}
	add(lineChart{Title: "Throughput", XLabel: timeAxis, FromZero: true, YLabel: "MB/s", Series: throughput, Bands: bands})
	add(lineChart{Title: "Records per second", XLabel: timeAxis, FromZero: true, YLabel: "records/s", Bands: bands, Series: []chartSeries{
		seriesOf("produce", r.Series, t0, func(s Sample) float64 { return s.ProduceRecPerS }),
		seriesOf("consume", r.Series, t0, func(s Sample) float64 { return s.ConsumeRecPerS }),
	}})
	add(lineChart{Title: "Produce-ack latency over time", XLabel: timeAxis, FromZero: true, YLabel: "ms", Bands: bands, Series: []chartSeries{
		seriesOf("p50", r.Series, t0, func(s Sample) float64 { return s.AckP50 }),
		seriesOf("p99", r.Series, t0, func(s Sample) float64 { return s.AckP99 }),
		seriesOf("p99.9", r.Series, t0, func(s Sample) float64 { return s.AckP999 }),
	}})
	add(lineChart{Title: "End-to-end latency over time", XLabel: timeAxis, FromZero: true, YLabel: "ms", Bands: bands, Series: []chartSeries{
		seriesOf("p50", r.Series, t0, func(s Sample) float64 { return s.E2EP50 }),
		seriesOf("p99", r.Series, t0, func(s Sample) float64 { return s.E2EP99 }),
		seriesOf("p99.9", r.Series, t0, func(s Sample) float64 { return s.E2EP999 }),
	}})
	var dist []chartSeries
	for _, name := range sortedKeys(r.Distributions) {
		dist = append(dist, distributionSeries(name, r.Distributions[name]))
	}
	add(lineChart{Title: "Latency distribution", XLabel: "percentile", YLabel: "ms", Series: dist, XTicks: ninesTicks})
	add(lineChart{Title: "Consumer lag", XLabel: timeAxis, FromZero: true, YLabel: "records", Bands: bands, Series: []chartSeries{
		seriesOf("lag", r.Series, t0, func(s Sample) float64 { return float64(s.Lag) }),
	}})
	if b := r.Broker; b != nil && len(b.Series) > 0 {
		cpu, rss := chartSeries{Name: "broker CPU cores"}, chartSeries{Name: "broker RSS MiB"}
		for _, s := range b.Series {
			if s.T <= t0 {
				continue
			}
			cpu.X, cpu.Y = append(cpu.X, s.T-t0), append(cpu.Y, s.CPUCores)
			rss.X, rss.Y = append(rss.X, s.T-t0), append(rss.Y, s.RSSBytes/(1<<20))
		}
		add(lineChart{Title: "Broker CPU", XLabel: timeAxis, FromZero: true, YLabel: "cores", Series: []chartSeries{cpu}, Bands: bands})
		add(lineChart{Title: "Broker memory", XLabel: timeAxis, FromZero: true, YLabel: "MiB", Series: []chartSeries{rss}, Bands: bands})
	}
	return out
}

const reportCSS = `body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:8px;overflow-x:auto}
svg{margin:1em 0;display:block}`

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"f2":    func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"f0":    func(f float64) string { return fmt.Sprintf("%.0f", f) },
	"gib":   func(n int64) string { return fmt.Sprintf("%.1f", float64(n)/(1<<30)) },
	"mib":   func(f float64) string { return fmt.Sprintf("%.1f", f/(1<<20)) },
	"keys":  sortedKeys[int64],
	"fkeys": sortedKeys[float64],
	"na":    na,
	// pr is a phase's rate, n/a when the phase was too short.
	"pr": func(p PhaseResult, v float64) string {
		if p.TooShort {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", v)
	},
	"prp": func(p PhaseResult, v *float64) string {
		if p.TooShort {
			return "n/a"
		}
		return na(v)
	},
	// lat is a latency, n/a without samples.
	"lat": func(p Percentiles, v float64) string {
		if p.Count == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", v)
	},
	"since": func(r *Result, t float64) string { return fmt.Sprintf("%.2f", t-r.FirstProduce) },
}).Parse(reportHTML))

const reportHTML = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Strata load test: {{.R.Name}}</title><style>{{.CSS}}</style></head><body>
<h1>{{.R.Name}} <small>({{.R.Mode}})</small></h1>
<p>Target <b>{{.R.Target}}</b>, run {{.R.RunID}}, started {{.R.Started.Format "2006-01-02 15:04:05 MST"}}, {{f2 .R.Elapsed}}s.<br>
Host {{.R.Host.Hostname}}: {{.R.Host.CPUs}} CPUs ({{.R.Host.CPUModel}}), {{gib .R.Host.MemBytes}} GiB RAM, {{.R.Host.OS}}/{{.R.Host.Arch}}, {{.R.Host.GoVersion}}.</p>
{{with .R.Command}}<pre>{{.}}</pre>{{end}}
<h2>Summary</h2>
<table><tr><th></th><th>phase</th><th>records/s</th><th>MB/s (logical: values)</th><th>MB/s (wire: broker bytes)</th></tr>
{{with .R.Summary}}<tr><td>produce</td>{{if .ProducePhase}}<td>{{.ProducePhase}}</td><td>{{f0 .ProduceRecordsPerS}}</td><td>{{f2 .ProduceMBPerS}}</td>{{else}}<td>n/a</td><td>n/a</td><td>n/a</td>{{end}}<td>{{na .ProduceWireMBPerS}}</td></tr>
<tr><td>consume</td>{{if .ConsumePhase}}<td>{{.ConsumePhase}}</td><td>{{f0 .ConsumeRecordsPerS}}</td><td>{{f2 .ConsumeMBPerS}}</td>{{else}}<td>n/a</td><td>n/a</td><td>n/a</td>{{end}}<td>{{na .ConsumeWireMBPerS}}</td></tr>{{end}}</table>
<p class="wire">Wire: {{.R.Summary.WireSource}}.</p>
<table><tr><th>latency (ms)</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>count</th></tr>
{{with .R.Summary.ProduceLatency}}<tr><td>produce ack</td><td>{{lat . .P50}}</td><td>{{lat . .P90}}</td><td>{{lat . .P99}}</td><td>{{lat . .P999}}</td><td>{{lat . .Max}}</td><td>{{.Count}}</td></tr>{{end}}
{{with .R.Summary.EndToEndLatency}}<tr><td>end to end</td><td>{{lat . .P50}}</td><td>{{lat . .P90}}</td><td>{{lat . .P99}}</td><td>{{lat . .P999}}</td><td>{{lat . .Max}}</td><td>{{.Count}}</td></tr>{{end}}
</table>
{{if eq .R.Mode "mixed"}}<table><tr><th>hot stream p99 (ms)</th><th>without replay</th><th>with replay</th></tr>
<tr><td>end to end</td><td>{{f2 .R.Summary.HotE2EP99Baseline}}</td><td>{{f2 .R.Summary.HotE2EP99Replay}}</td></tr>
<tr><td>produce ack</td><td>{{f2 .R.Summary.HotAckP99Baseline}}</td><td>{{f2 .R.Summary.HotAckP99Replay}}</td></tr></table>{{end}}
{{with .R.Summary.CaughtUp}}<p>Replay caught up: <b>{{.}}</b> after {{f2 $.R.Summary.CatchUpSeconds}}s.</p>{{end}}
<h2>Phases</h2>
<p>Times are seconds since the first produced record ({{f2 .R.FirstProduce}}s after the run started: topic creation and consumer group joins come before it).</p>
<table><tr><th>phase</th><th>from s</th><th>seconds</th><th>produced</th><th>produce MB/s</th><th>wire in MB/s</th><th>consumed</th><th>consume MB/s</th><th>wire out MB/s</th><th>ack p99 ms</th><th>e2e p99 ms</th></tr>
{{range .R.Phases}}<tr{{if .TooShort}} class="too-short"{{end}}><td>{{.Name}}{{if .TooShort}} (too short){{end}}</td><td>{{since $.R .Start}}</td><td>{{f2 .Seconds}}</td><td>{{.ProducedRecords}}</td><td>{{pr . .ProduceMBPerS}}</td><td>{{prp . .WireInMBPerS}}</td><td>{{.ConsumedRecords}}</td><td>{{pr . .ConsumeMBPerS}}</td><td>{{prp . .WireOutMBPerS}}</td><td>{{lat .ProduceLatency .ProduceLatency.P99}}</td><td>{{lat .EndToEndLatency .EndToEndLatency.P99}}</td></tr>
{{end}}</table>
<h2>Counts and errors</h2>
<table><tr><th>sent</th><th>acked</th><th>failed</th><th>stored</th><th>max lag</th></tr>
<tr><td>{{.R.Counts.Sent}}</td><td>{{.R.Counts.Acked}}</td><td>{{.R.Counts.ProduceFailed}}</td><td>{{.R.Counts.Stored}}</td><td>{{.R.Summary.MaxConsumerLag}}</td></tr></table>
<table><tr><th>consumer group</th><th>records read</th></tr>{{range $g := keys .R.Counts.Consumed}}<tr><td>{{$g}}</td><td>{{index $.R.Counts.Consumed $g}}</td></tr>{{end}}</table>
{{if .R.Errors}}<table><tr><th>error</th><th>count</th></tr>{{range $k := keys .R.Errors}}<tr><td>{{$k}}</td><td>{{index $.R.Errors $k}}</td></tr>{{end}}</table>{{else}}<p>No errors.</p>{{end}}
{{with .R.Broker}}<h2>Broker</h2>
<table><tr><th>CPU cores (avg)</th><th>CPU seconds</th><th>RSS max MiB</th><th>RSS end MiB</th><th>scrape errors</th></tr>
<tr><td>{{f2 .CPUCoresAvg}}</td><td>{{f2 .CPUSeconds}}</td><td>{{mib .RSSMaxBytes}}</td><td>{{mib .RSSEndBytes}}</td><td>{{.Errors}}</td></tr></table>
{{if .Deltas}}<table><tr><th>metric</th><th>change over the run</th></tr>{{range $k := fkeys .Deltas}}<tr><td>{{$k}}</td><td>{{f0 (index $.R.Broker.Deltas $k)}}</td></tr>{{end}}</table>{{end}}{{end}}
{{range .R.Notes}}<p><b>Note:</b> {{.}}</p>{{end}}
<h2>Charts</h2>
{{range .Charts}}{{.}}
{{end}}
<h2>Workload</h2>
<pre>{{.Workload}}</pre>
</body></html>
`

// WriteHTMLReport writes the self-contained HTML report of a run: tables,
// inline SVG charts and the workload, with no external resources.
func WriteHTMLReport(w io.Writer, r *Result) error {
	wl, err := yaml.Marshal(r.Workload)
	if err != nil {
		return fmt.Errorf("report workload: %w", err)
	}
	data := struct {
		R        *Result
		CSS      template.CSS
		Charts   []template.HTML
		Workload string
	}{r, template.CSS(reportCSS), reportCharts(r), strings.TrimSpace(string(wl))}
	if err := reportTmpl.Execute(w, data); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return nil
}
