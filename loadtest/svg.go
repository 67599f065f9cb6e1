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

// lineChart is a self-contained SVG line chart. Both axes are scaled to
// the data: x spans the points' range, y runs from 0 to a round number
// above the largest point.
type lineChart struct {
	Title, XLabel, YLabel string
	Series                []chartSeries
	// XTicks, when set, replaces the automatic x ticks (value → label);
	// ticks outside the data's range are left out.
	XTicks []tick
	// Bands shade spans of the x axis (the run's phases) behind the lines.
	Bands []band
	// FromZero starts the x axis at 0 (time since the first record)
	// instead of at the first point.
	FromZero bool
}

// band is a shaded span of a chart's x axis with a label. Muted bands
// (phases too short to mean anything) are drawn hatched and labelled so.
type band struct {
	X0, X1 float64
	Label  string
	Muted  bool
}

// bandFills alternate between neighbouring bands.
var bandFills = []string{"#f3f6fa", "#fbf7ef"}

// seriesStyle gives every line its own width and dash pattern on top of
// its colour: lines drawn later are thinner and dashed, so a line lying on
// another (p99 on p99.9) still shows on both sides of it and in its gaps.
func seriesStyle(i int) (width float64, dash string) {
	widths := []float64{3.2, 2.4, 1.6, 1.2}
	dashes := []string{"", "8 4", "3 3", "12 3 3 3"}
	return widths[min(i, len(widths)-1)], dashes[i%len(dashes)]
}

type tick struct {
	V     float64
	Label string
}

// palette is colour-blind friendly (Okabe-Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"}

const (
	chartW, chartH                   = 860, 300
	padL, padR, padTop, padB float64 = 70, 20, 30, 45
	legendRowH                       = 14
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
	// The legend sits between the title and the plot, one row per line
	// of entries, so it never covers the data.
	legendX, legendRow, rows := legendLayout(c.Series)
	padT := padTop + float64(rows)*legendRowH
	height := chartH + rows*legendRowH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="11">`, chartW, height, chartW, height)
	if len(c.Bands) > 0 {
		b.WriteString(`<defs><pattern id="muted" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#ccc" stroke-width="2"/></pattern></defs>`)
	}
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>`, int(padL), html.EscapeString(c.Title))
	if points == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666">no data</text></svg>`, chartW/2-20, chartH/2)
		return b.String()
	}
	if c.FromZero {
		xmin = math.Min(0, xmin)
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	var xt []tick
	if c.XTicks != nil {
		for _, t := range c.XTicks {
			if t.V >= xmin-1e-9 && t.V <= math.Ceil(xmax)+1e-9 {
				xt = append(xt, t)
				xmax = math.Max(xmax, t.V)
			}
		}
	} else {
		for _, v := range niceTicks(xmin, xmax, 8) {
			if v >= xmin-1e-9 && v <= xmax+1e-9 {
				xt = append(xt, tick{v, fmtTick(v)})
			}
		}
	}
	yt := niceTicks(0, ymax, 5)
	ytop := ymax
	if len(yt) > 0 {
		ytop = yt[len(yt)-1]
	}
	if ytop <= 0 {
		ytop = 1
	}
	pw, ph := float64(chartW)-padL-padR, float64(chartH)-padTop-padB
	px := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*pw }
	py := func(y float64) float64 { return padT + ph - y/ytop*ph }
	for i, bd := range c.Bands {
		x0, x1 := math.Max(xmin, bd.X0), math.Min(xmax, bd.X1)
		if !finite(x0) || !finite(x1) || x1 < x0 {
			continue
		}
		fill, label := bandFills[i%len(bandFills)], bd.Label
		if bd.Muted {
			fill, label = "url(#muted)", bd.Label+" (too short)"
		}
		fmt.Fprintf(&b, `<rect class="phase" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
			px(x0), padT, math.Max(1, px(x1)-px(x0)), ph, fill, html.EscapeString(label))
		// A narrow band's label would run off it: it ends at the band's
		// right edge instead, over its neighbour.
		lx, anchor := px(x0)+3, "start"
		if px(x1)-px(x0) < 7*float64(len(label)) {
			lx, anchor = px(x1)-3, "end"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#777" font-size="10" text-anchor="%s">%s</text>`, lx, padT+ph-4-float64(i%2)*11, anchor, html.EscapeString(label))
	}
	for _, v := range yt {
		y := py(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, padL, y, padL+pw, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padL-6, y+4, fmtTick(v))
	}
	for _, t := range xt {
		x := px(t.V)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, x, padT, x, padT+ph)
		fmt.Fprintf(&b, `<text class="xtick" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x, padT+ph+15, html.EscapeString(t.Label))
	}
	fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`, padL, padT, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, padL+pw/2, height-6, html.EscapeString(c.XLabel))
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
		width, dash := seriesStyle(i)
		dashAttr := ""
		if dash != "" {
			dashAttr = ` stroke-dasharray="` + dash + `"`
		}
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" r="3" fill="%s"/>`, strings.Replace(pts[0], ",", `" cy="`, 1), color)
		}
		fmt.Fprintf(&b, `<polyline class="series" data-name="%s" fill="none" stroke="%s" stroke-width="%.1f"%s stroke-linejoin="round" points="%s"/>`,
			html.EscapeString(s.Name), color, width, dashAttr, strings.Join(pts, " "))
		lx := legendX[i]
		ly := padTop + float64(legendRow[i]+1)*legendRowH - 4
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/><text x="%.1f" y="%.1f">%s</text>`,
			lx, ly-4, lx+22, ly-4, color, width, dashAttr, lx+26, ly, html.EscapeString(s.Name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// legendLayout flows the legend entries left to right, wrapping to a new
// row when one would pass the plot's right edge; it returns each entry's
// x and row and the number of rows.
func legendLayout(series []chartSeries) (xs []float64, row []int, rows int) {
	if len(series) == 0 {
		return nil, nil, 0
	}
	x, r := padL, 0
	for _, s := range series {
		w := 26 + 6.3*float64(len([]rune(s.Name))) + 18
		if x > padL && x+w > float64(chartW)-padR {
			x, r = padL, r+1
		}
		xs, row = append(xs, x), append(row, r)
		x += w
	}
	return xs, row, r + 1
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

// seriesOf extracts one field of the samples as a chart line, with time
// measured from the first produced record (from0); samples of the setup
// before it are left out.
func seriesOf(name string, samples []Sample, from0 float64, f func(Sample) float64) chartSeries {
	s := chartSeries{Name: name}
	for _, smp := range samples {
		if smp.T <= from0 {
			continue
		}
		s.X = append(s.X, smp.T-from0)
		s.Y = append(s.Y, f(smp))
	}
	return s
}

// phaseBands are a run's phases as chart bands, in seconds from the first
// produced record; the setup before it is left out.
func phaseBands(r *Result) []band {
	var out []band
	for _, p := range r.Phases {
		x0, x1 := p.Start-r.FirstProduce, p.Start+p.Seconds-r.FirstProduce
		if x1 <= 0 {
			continue
		}
		out = append(out, band{X0: max(0, x0), X1: x1, Label: p.Name, Muted: p.TooShort})
	}
	return out
}
