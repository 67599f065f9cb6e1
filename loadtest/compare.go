package loadtest

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// compareRow is one line of a comparison: a label and a value per run.
// Differs marks a setting whose value is not the same in every run.
type compareRow struct {
	Label   string
	Values  []string
	Differs bool
}

// compareSetting is one workload setting shown when runs differ in it.
type compareSetting struct {
	name string
	get  func(*Result) string
}

// compareSettings are the settings a comparison checks for differences,
// in the order they are shown and used in run labels.
var compareSettings = []compareSetting{
	{"target", func(r *Result) string { return r.Target }},
	{"workload", func(r *Result) string { return r.Name }},
	{"mode", func(r *Result) string { return r.Mode }},
	{"compression", func(r *Result) string { return r.Workload.Compression }},
	{"acks", func(r *Result) string { return r.Workload.Acks }},
	{"partitions", func(r *Result) string { return strconv.Itoa(r.Workload.Partitions) }},
	{"record_size", func(r *Result) string { return strconv.FormatInt(int64(r.Workload.RecordSize), 10) }},
	{"payload", func(r *Result) string { return payloadLabel(r.Workload.Payload) }},
	{"rate", func(r *Result) string { return r.Workload.Rate.String() }},
	{"producers", func(r *Result) string { return strconv.Itoa(r.Workload.Producers) }},
	{"consumers", func(r *Result) string {
		return fmt.Sprintf("%d × %d groups", r.Workload.Consumers, r.Workload.ConsumerGroups)
	}},
	{"linger", func(r *Result) string { return r.Workload.Linger.String() }},
	{"batch_max_bytes", func(r *Result) string { return strconv.FormatInt(int64(r.Workload.BatchMaxBytes), 10) }},
	{"idempotent", func(r *Result) string { return strconv.FormatBool(r.Workload.Idempotent) }},
	{"transactions", func(r *Result) string { return strconv.FormatBool(r.Workload.Transactions) }},
	{"duration", func(r *Result) string { return r.Workload.Duration.String() }},
}

// payloadLabel is a payload in one short word: random, random@0.5, json,
// file×3.
func payloadLabel(p Payload) string {
	switch {
	case p.Kind == PayloadRandom && p.Compressibility > 0:
		return fmt.Sprintf("random@%g", p.Compressibility)
	case p.Kind == PayloadFile:
		return fmt.Sprintf("file×%d", len(p.Files))
	}
	return p.Kind
}

// differingSettings are the compareSettings whose values are not the same
// in every run.
func differingSettings(runs []*Result) []compareSetting {
	if len(runs) < 2 {
		return nil
	}
	var out []compareSetting
	for _, st := range compareSettings {
		for _, r := range runs[1:] {
			if st.get(r) != st.get(runs[0]) {
				out = append(out, st)
				break
			}
		}
	}
	return out
}

// runLabels name each run by its workload and the settings in which the
// runs differ ("1: max-throughput compression=lz4"); runs alike in all of
// them are told apart by their run id.
func runLabels(runs []*Result) []string {
	diff := differingSettings(runs)
	labels := make([]string, len(runs))
	for i, r := range runs {
		parts := []string{fmt.Sprintf("%d: %s", i+1, r.Name)}
		for _, st := range diff {
			if st.name == "workload" {
				continue
			}
			parts = append(parts, st.name+"="+st.get(r))
		}
		labels[i] = strings.Join(parts, " ")
	}
	count := make(map[string]int)
	for _, l := range labels {
		count[strings.SplitN(l, " ", 2)[1]]++
	}
	for i, l := range labels {
		if count[strings.SplitN(l, " ", 2)[1]] > 1 {
			labels[i] += " run " + runs[i].RunID
		}
	}
	return labels
}

// compareRows lays the settings and headline figures of runs side by
// side: first every setting in which they differ, then the figures, with
// n/a where a run has no such phase or figure.
func compareRows(runs []*Result) []compareRow {
	row := func(label string, get func(*Result) string) compareRow {
		r := compareRow{Label: label}
		for _, run := range runs {
			r.Values = append(r.Values, get(run))
		}
		return r
	}
	num := func(format string, v float64, present bool) string {
		if !present {
			return "n/a"
		}
		return fmt.Sprintf(format, v)
	}
	opt := func(v *float64) string { return na(v) }
	hasProduce := func(r *Result) bool { return r.Summary.ProducePhase != "" }
	hasConsume := func(r *Result) bool { return r.Summary.ConsumePhase != "" }
	lat := func(p Percentiles, v float64) string { return num("%.2f", v, p.Count > 0) }
	mixed := func(r *Result) bool { return r.Mode == ModeMixed }

	rows := []compareRow{row("workload", func(r *Result) string { return r.Name + " (" + r.Mode + ")" })}
	differ := make(map[string]bool)
	for _, st := range differingSettings(runs) {
		differ[st.name] = true
	}
	for _, st := range compareSettings {
		if st.name == "workload" {
			continue
		}
		if differ[st.name] || st.name == "target" {
			r := row(st.name, st.get)
			r.Differs = differ[st.name]
			rows = append(rows, r)
		}
	}
	rows = append(rows,
		row("host", func(r *Result) string { return fmt.Sprintf("%s, %d CPUs", r.Host.Hostname, r.Host.CPUs) }),
		row("produce records/s", func(r *Result) string { return num("%.0f", r.Summary.ProduceRecordsPerS, hasProduce(r)) }),
		row("produce MB/s (logical)", func(r *Result) string { return num("%.2f", r.Summary.ProduceMBPerS, hasProduce(r)) }),
		row("produce MB/s (wire)", func(r *Result) string { return opt(r.Summary.ProduceWireMBPerS) }),
		row("consume records/s", func(r *Result) string { return num("%.0f", r.Summary.ConsumeRecordsPerS, hasConsume(r)) }),
		row("consume MB/s (logical)", func(r *Result) string { return num("%.2f", r.Summary.ConsumeMBPerS, hasConsume(r)) }),
		row("consume MB/s (wire)", func(r *Result) string { return opt(r.Summary.ConsumeWireMBPerS) }),
		row("ack p50 ms", func(r *Result) string { return lat(r.Summary.ProduceLatency, r.Summary.ProduceLatency.P50) }),
		row("ack p99 ms", func(r *Result) string { return lat(r.Summary.ProduceLatency, r.Summary.ProduceLatency.P99) }),
		row("ack p99.9 ms", func(r *Result) string { return lat(r.Summary.ProduceLatency, r.Summary.ProduceLatency.P999) }),
		row("ack max ms", func(r *Result) string { return lat(r.Summary.ProduceLatency, r.Summary.ProduceLatency.Max) }),
		row("e2e p50 ms", func(r *Result) string { return lat(r.Summary.EndToEndLatency, r.Summary.EndToEndLatency.P50) }),
		row("e2e p99 ms", func(r *Result) string { return lat(r.Summary.EndToEndLatency, r.Summary.EndToEndLatency.P99) }),
		row("e2e p99.9 ms", func(r *Result) string { return lat(r.Summary.EndToEndLatency, r.Summary.EndToEndLatency.P999) }),
		row("e2e max ms", func(r *Result) string { return lat(r.Summary.EndToEndLatency, r.Summary.EndToEndLatency.Max) }),
		row("replay catch-up s", func(r *Result) string { return num("%.2f", r.Summary.CatchUpSeconds, r.Summary.CaughtUp != nil) }),
		row("hot e2e p99 without replay ms", func(r *Result) string { return num("%.2f", r.Summary.HotE2EP99Baseline, mixed(r)) }),
		row("hot e2e p99 with replay ms", func(r *Result) string { return num("%.2f", r.Summary.HotE2EP99Replay, mixed(r)) }),
		row("errors", func(r *Result) string { return strconv.FormatInt(r.Summary.ErrorsTotal, 10) }),
		row("max consumer lag", func(r *Result) string { return strconv.FormatInt(r.Summary.MaxConsumerLag, 10) }),
	)
	return rows
}

// FormatCompare writes the comparison table of runs; settings that differ
// between them are marked with *.
func FormatCompare(w io.Writer, runs []*Result) error {
	labels := runLabels(runs)
	for _, l := range labels {
		fmt.Fprintf(w, "run %s\n", l)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	for i := range runs {
		fmt.Fprintf(tw, "run %d\t", i+1)
	}
	fmt.Fprintln(tw)
	for _, row := range compareRows(runs) {
		label := row.Label
		if row.Differs {
			label += " *"
		}
		fmt.Fprintf(tw, "%s\t", label)
		for _, v := range row.Values {
			fmt.Fprintf(tw, "%s\t", v)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

var compareTmpl = template.Must(template.New("compare").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Strata load-test comparison</title><style>{{.CSS}}
tr.differs td{background:#fff6d6}</style></head><body>
<h1>Load-test comparison</h1>
<ul>{{range .Runs}}<li><b>run {{.Label}}</b></li>{{end}}</ul>
<table><tr><th></th>{{range $i, $r := .Runs}}<th>run {{$r.N}}</th>{{end}}</tr>
{{range .Rows}}<tr{{if .Differs}} class="differs"{{end}}><td>{{.Label}}{{if .Differs}} (differs){{end}}</td>{{range .Values}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{range .Runs}}{{with .Command}}<pre>{{.}}</pre>{{end}}{{end}}
<h2>Charts</h2>
<p>Time is measured from each run's first produced record.</p>
{{range .Charts}}{{.}}
{{end}}
</body></html>
`))

// WriteCompareHTML writes a self-contained HTML comparison of runs.
func WriteCompareHTML(w io.Writer, runs []*Result) error {
	type runInfo struct {
		N              int
		Label, Command string
	}
	var infos []runInfo
	var prod, cons, e2e, ack, dist []chartSeries
	labels := runLabels(runs)
	for i, r := range runs {
		l := labels[i]
		t0 := r.FirstProduce
		infos = append(infos, runInfo{i + 1, l, r.Command})
		prod = append(prod, seriesOf(l, r.Series, t0, func(s Sample) float64 { return s.ProduceMBPerS }))
		cons = append(cons, seriesOf(l, r.Series, t0, func(s Sample) float64 { return s.ConsumeMBPerS }))
		ack = append(ack, seriesOf(l, r.Series, t0, func(s Sample) float64 { return s.AckP99 }))
		e2e = append(e2e, seriesOf(l, r.Series, t0, func(s Sample) float64 { return s.E2EP99 }))
		if d, ok := r.Distributions["end_to_end"]; ok {
			dist = append(dist, distributionSeries(l+" e2e", d))
		} else if d, ok := r.Distributions["produce_ack"]; ok {
			dist = append(dist, distributionSeries(l+" ack", d))
		}
	}
	var charts []template.HTML
	for _, c := range []lineChart{
		{Title: "Produce throughput (logical)", XLabel: timeAxis, FromZero: true, YLabel: "MB/s", Series: prod},
		{Title: "Consume throughput (logical)", XLabel: timeAxis, FromZero: true, YLabel: "MB/s", Series: cons},
		{Title: "Produce-ack p99 over time", XLabel: timeAxis, FromZero: true, YLabel: "ms", Series: ack},
		{Title: "End-to-end p99 over time", XLabel: timeAxis, FromZero: true, YLabel: "ms", Series: e2e},
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
