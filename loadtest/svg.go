package loadtest

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// chartSeries is one line of a chart.
type chartSeries struct {
	Name string
	X, Y []float64
}

// lineChart is a self-contained SVG line chart.
type lineChart struct {
	Title, XLabel, YLabel string
	Series                []chartSeries
	// XTicks, when set, replaces the automatic x ticks (value → label).
	XTicks []tick
}

type tick struct {
	V     float64
	Label string
}

// palette is colour-blind friendly (Okabe-Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"}

const (
	chartW, chartH                 = 860, 300
	padL, padR, padT, padB float64 = 70, 20, 30, 45
)

// niceTicks returns about n round tick values covering [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsInf(lo, 0) || math.IsInf(hi, 0) || n < 1 {
		return nil
	}
	if hi < lo {
		lo, hi = hi, lo
	}
	if hi == lo {
		if hi == 0 {
			hi = 1
		} else {
			lo, hi = lo-math.Abs(lo)/2, hi+math.Abs(hi)/2
		}
	}
	step := niceNum((hi-lo)/float64(n), true)
	start := math.Floor(lo/step) * step
	var out []float64
	for v := start; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
		if len(out) > 4*n+2 {
			break
		}
	}
	if len(out) > 0 && out[len(out)-1] < hi {
		out = append(out, out[len(out)-1]+step)
	}
	return out
}

// niceNum rounds x to 1, 2, 5 or 10 times a power of ten.
func niceNum(x float64, round bool) float64 {
	if x <= 0 {
		return 1
	}
	exp := math.Floor(math.Log10(x))
	f := x / math.Pow(10, exp)
	var nf float64
	switch {
	case round && f < 1.5, !round && f <= 1:
		nf = 1
	case round && f < 3, !round && f <= 2:
		nf = 2
	case round && f < 7, !round && f <= 5:
		nf = 5
	default:
		nf = 10
	}
	return nf * math.Pow(10, exp)
}

func fmtTick(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', -1, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// svg renders the chart. A chart without points renders a note instead.
func (c lineChart) svg() string {
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	points := 0
	for _, s := range c.Series {
		for i := range s.X {
			if i >= len(s.Y) || !finite(s.X[i]) || !finite(s.Y[i]) {
				continue
			}
			xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
			ymax = math.Max(ymax, s.Y[i])
			points++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="11">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`, int(padL), html.EscapeString(c.Title))
	if points == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666">no data</text></svg>`, chartW/2-20, chartH/2)
		return b.String()
	}
	var xt []tick
	if c.XTicks != nil {
		xt = c.XTicks
		for _, t := range xt {
			xmin, xmax = math.Min(xmin, t.V), math.Max(xmax, t.V)
		}
	} else {
		for _, v := range niceTicks(xmin, xmax, 8) {
			xt = append(xt, tick{v, fmtTick(v)})
		}
		if len(xt) > 0 {
			xmin, xmax = math.Min(xmin, xt[0].V), math.Max(xmax, xt[len(xt)-1].V)
		}
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	yt := niceTicks(0, ymax, 5)
	ytop := ymax
	if len(yt) > 0 {
		ytop = yt[len(yt)-1]
	}
	if ytop <= 0 {
		ytop = 1
	}
	pw, ph := float64(chartW)-padL-padR, float64(chartH)-padT-padB
	px := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*pw }
	py := func(y float64) float64 { return padT + ph - y/ytop*ph }
	for _, v := range yt {
		y := py(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, padL, y, padL+pw, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padL-6, y+4, fmtTick(v))
	}
	for _, t := range xt {
		x := px(t.V)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, x, padT, x, padT+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, padT+ph+15, html.EscapeString(t.Label))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`, padL, padT, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, padL+pw/2, chartH-6, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text x="14" y="%.1f" text-anchor="middle" transform="rotate(-90 14 %.1f)">%s</text>`, padT+ph/2, padT+ph/2, html.EscapeString(c.YLabel))
	for i, s := range c.Series {
		color := palette[i%len(palette)]
		var pts []string
		for j := range s.X {
			if j >= len(s.Y) || !finite(s.X[j]) || !finite(s.Y[j]) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[j]), py(s.Y[j])))
		}
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" r="3" fill="%s"/>`, strings.Replace(pts[0], ",", `" cy="`, 1), color)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`, color, strings.Join(pts, " "))
		lx := padL + 10 + float64(i%4)*200
		ly := padT + 14 + float64(i/4)*14
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="3" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`, lx, ly-4, color, lx+16, ly, html.EscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// nines maps a percentile to the "number of nines" axis of a latency
// distribution plot: 90 → 1, 99 → 2, 99.9 → 3. 100 is drawn at maxNines.
func nines(p float64) float64 {
	if p >= 100 {
		return maxNines
	}
	return math.Min(maxNines, -math.Log10(1-p/100))
}

const maxNines = 6

var ninesTicks = []tick{{0, "0%"}, {1, "90%"}, {2, "99%"}, {3, "99.9%"}, {4, "99.99%"}, {5, "99.999%"}, {6, "max"}}

// distributionSeries turns a distribution into a chart line.
func distributionSeries(name string, d []PercentilePoint) chartSeries {
	s := chartSeries{Name: name}
	for _, p := range d {
		s.X = append(s.X, nines(p.Percentile))
		s.Y = append(s.Y, p.Ms)
	}
	return s
}

// seriesOf extracts one field of the samples as a chart line.
func seriesOf(name string, samples []Sample, f func(Sample) float64) chartSeries {
	s := chartSeries{Name: name}
	for _, smp := range samples {
		s.X = append(s.X, smp.T)
		s.Y = append(s.Y, f(smp))
	}
	return s
}
