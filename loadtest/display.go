package loadtest

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// display shows a run's progress: a bar per phase on a terminal, plain
// periodic lines otherwise, nothing without an output.
type display interface {
	phase(name string)
	sample(s Sample, progress float64)
	close()
}

func newDisplay(w io.Writer, interactive bool) display {
	switch {
	case w == nil:
		return nopDisplay{}
	case interactive:
		return newBarDisplay(w)
	}
	return &lineDisplay{w: w}
}

type nopDisplay struct{}

func (nopDisplay) phase(string)           {}
func (nopDisplay) sample(Sample, float64) {}
func (nopDisplay) close()                 {}

// progressLine is the one-line status of a sample.
func progressLine(s Sample) string {
	return fmt.Sprintf("produce %9.0f rec/s %7.2f MB/s ack p99 %7.2fms | consume %9.0f rec/s %7.2f MB/s e2e p99 %7.2fms | lag %d errors %d",
		s.ProduceRecPerS, s.ProduceMBPerS, s.AckP99, s.ConsumeRecPerS, s.ConsumeMBPerS, s.E2EP99, s.Lag, s.Errors)
}

// lineDisplay prints one line per sample, for logs and pipes.
type lineDisplay struct {
	mu sync.Mutex
	w  io.Writer
}

func (d *lineDisplay) phase(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.w, "phase %s\n", name)
}

func (d *lineDisplay) sample(s Sample, progress float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.w, "[%6.1fs %-13s %3.0f%%] %s\n", s.T, s.Phase, progress*100, progressLine(s))
}

func (d *lineDisplay) close() {}

// barScale is the bar's total: progress is shown in tenths of a percent.
const barScale = 1000

// barDisplay draws an mpb bar per phase with the current rates beside it.
type barDisplay struct {
	p    *mpb.Progress
	line atomic.Pointer[string] // read by the bar's renderer: never under mu
	mu   struct {
		sync.Mutex
		bar *mpb.Bar
	}
}

func newBarDisplay(w io.Writer) *barDisplay {
	return &barDisplay{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))}
}

func (d *barDisplay) phase(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.bar != nil {
		d.mu.bar.SetCurrent(barScale)
	}
	d.mu.bar = d.p.New(barScale, mpb.BarStyle(),
		mpb.PrependDecorators(decor.Name(fmt.Sprintf("%-13s", name)), decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 6})),
		mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.Any(func(decor.Statistics) string {
			if l := d.line.Load(); l != nil {
				return " " + *l
			}
			return ""
		})),
	)
}

func (d *barDisplay) sample(s Sample, progress float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	line := progressLine(s)
	d.line.Store(&line)
	if d.mu.bar != nil {
		d.mu.bar.SetCurrent(int64(progress * barScale))
	}
}

func (d *barDisplay) close() {
	d.mu.Lock()
	if d.mu.bar != nil {
		d.mu.bar.SetCurrent(barScale)
	}
	d.mu.Unlock()
	d.p.Wait()
}
