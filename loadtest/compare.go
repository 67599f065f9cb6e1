package loadtest

import (
	"fmt"
	"html/template"
	"io"
	"text/tabwriter"
)

// compareRow is one line of a comparison: a label and a value per run.
type compareRow struct {
	Label  string
	Values []string
}

// compareRows lays the headline figures of runs side by side.
func compareRows(runs []*Result) []compareRow {
	f := func(label, format string, get func(*Result) float64) compareRow {
		row := compareRow{Label: label}
		for _, r := range runs {
			row.Values = append(row.Values, fmt.Sprintf(format, get(r)))
		}
		return row
	}
	s := func(label string, get func(*Result) string) compareRow {
		row := compareRow{Label: label}
		for _, r := range runs {
			row.Values = append(row.Values, get(r))
		}
		return row
	}
	return []compareRow{
		s("target", func(r *Result) string { return r.Target }),
		s("workload", func(r *Result) string { return r.Name + " (" + r.Mode + ")" }),
		s("host", func(r *Result) string { return fmt.Sprintf("%s, %d CPUs", r.Host.Hostname, r.Host.CPUs) }),
		f("produce records/s", "%.0f", func(r *Result) float64 { return r.Summary.ProduceRecordsPerS }),
		f("produce MB/s", "%.2f", func(r *Result) float64 { return r.Summary.ProduceMBPerS }),
		f("consume records/s", "%.0f", func(r *Result) float64 { return r.Summary.ConsumeRecordsPerS }),
		f("consume MB/s", "%.2f", func(r *Result) float64 { return r.Summary.ConsumeMBPerS }),
		f("ack p50 ms", "%.2f", func(r *Result) float64 { return r.Summary.ProduceLatency.P50 }),
		f("ack p99 ms", "%.2f", func(r *Result) float64 { return r.Summary.ProduceLatency.P99 }),
		f("ack p99.9 ms", "%.2f", func(r *Result) float64 { return r.Summary.ProduceLatency.P999 }),
		f("ack max ms", "%.2f", func(r *Result) float64 { return r.Summary.ProduceLatency.Max }),
		f("e2e p50 ms", "%.2f", func(r *Result) float64 { return r.Summary.EndToEndLatency.P50 }),
		f("e2e p99 ms", "%.2f", func(r *Result) float64 { return r.Summary.EndToEndLatency.P99 }),
		f("e2e p99.9 ms", "%.2f", func(r *Result) float64 { return r.Summary.EndToEndLatency.P999 }),
		f("e2e max ms", "%.2f", func(r *Result) float64 { return r.Summary.EndToEndLatency.Max }),
		f("replay catch-up s", "%.2f", func(r *Result) float64 { return r.Summary.CatchUpSeconds }),
		f("hot e2e p99 without replay ms", "%.2f", func(r *Result) float64 { return r.Summary.HotE2EP99Baseline }),
		f("hot e2e p99 with replay ms", "%.2f", func(r *Result) float64 { return r.Summary.HotE2EP99Replay }),
		f("errors", "%.0f", func(r *Result) float64 { return float64(r.Summary.ErrorsTotal) }),
		f("max consumer lag", "%.0f", func(r *Result) float64 { return float64(r.Summary.MaxConsumerLag) }),
	}
}

// FormatCompare writes the comparison table of runs.
func FormatCompare(w io.Writer, runs []*Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	for i := range runs {
		fmt.Fprintf(tw, "run %d\t", i+1)
	}
	fmt.Fprintln(tw)
	for _, row := range compareRows(runs) {
		fmt.Fprintf(tw, "%s\t", row.Label)
		for _, v := range row.Values {
			fmt.Fprintf(tw, "%s\t", v)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// runLabel names a run in chart legends.
func runLabel(i int, r *Result) string {
	return fmt.Sprintf("%d: %s", i+1, r.Target)
}

var compareTmpl = template.Must(template.New("compare").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Strata load-test comparison</title><style>{{.CSS}}</style></head><body>
<h1>Load-test comparison</h1>
<table><tr><th></th>{{range $i, $r := .Runs}}<th>run {{$r.Label}}</th>{{end}}</tr>
{{range .Rows}}<tr><td>{{.Label}}</td>{{range .Values}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{range .Runs}}{{with .Command}}<pre>{{.}}</pre>{{end}}{{end}}
<h2>Charts</h2>
{{range .Charts}}{{.}}
{{end}}
</body></html>
`))

// WriteCompareHTML writes a self-contained HTML comparison of runs.
func WriteCompareHTML(w io.Writer, runs []*Result) error {
	type runInfo struct{ Label, Command string }
	var infos []runInfo
	var prod, cons, e2e, ack, dist []chartSeries
	for i, r := range runs {
		l := runLabel(i, r)
		infos = append(infos, runInfo{l, r.Command})
		prod = append(prod, seriesOf(l, r.Series, func(s Sample) float64 { return s.ProduceMBPerS }))
		cons = append(cons, seriesOf(l, r.Series, func(s Sample) float64 { return s.ConsumeMBPerS }))
		ack = append(ack, seriesOf(l, r.Series, func(s Sample) float64 { return s.AckP99 }))
		e2e = append(e2e, seriesOf(l, r.Series, func(s Sample) float64 { return s.E2EP99 }))
		if d, ok := r.Distributions["end_to_end"]; ok {
			dist = append(dist, distributionSeries(l+" e2e", d))
		} else if d, ok := r.Distributions["produce_ack"]; ok {
			dist = append(dist, distributionSeries(l+" ack", d))
		}
	}
	var charts []template.HTML
	for _, c := range []lineChart{
		{Title: "Produce throughput", XLabel: "seconds", YLabel: "MB/s", Series: prod},
		{Title: "Consume throughput", XLabel: "seconds", YLabel: "MB/s", Series: cons},
		{Title: "Produce-ack p99 over time", XLabel: "seconds", YLabel: "ms", Series: ack},
		{Title: "End-to-end p99 over time", XLabel: "seconds", YLabel: "ms", Series: e2e},
		{Title: "Latency distribution", XLabel: "percentile", YLabel: "ms", Series: dist, XTicks: ninesTicks},
	} {
		charts = append(charts, template.HTML(c.svg())) //nolint:gosec // svg() escapes all text
	}
	data := struct {
		CSS    template.CSS
		Runs   []runInfo
		Rows   []compareRow
		Charts []template.HTML
	}{template.CSS(reportCSS), infos, compareRows(runs), charts}
	if err := compareTmpl.Execute(w, data); err != nil {
		return fmt.Errorf("render comparison: %w", err)
	}
	return nil
}
