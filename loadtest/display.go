package loadtest

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

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
	return fmt.Sprintf("produce %8.0f rec/s %7.2f MB/s p99 %7.2fms | consume %8.0f rec/s %7.2f MB/s e2e p99 %7.2fms | lag %d | errors %d",
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

// barScale is the bar's scale: progress is shown in tenths of a percent.
// The total is one more, so the bar never completes before close.
const barScale = 1000

// barDisplay draws one mpb bar for the current phase and, below it, a line
// of the current rates and p99s.
type barDisplay struct {
	p     *mpb.Progress
	bar   *mpb.Bar
	name  atomic.Pointer[string] // read by the renderer
	line  atomic.Pointer[string]
	start time.Time
}

func newBarDisplay(w io.Writer) *barDisplay {
	d := &barDisplay{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32), mpb.WithAutoRefresh()), start: time.Now()}
	load := func(p *atomic.Pointer[string]) string {
		if s := p.Load(); s != nil {
			return *s
		}
		return ""
	}
	d.bar = d.p.New(barScale+1, mpb.BarStyle(),
		mpb.PrependDecorators(
			decor.Any(func(decor.Statistics) string { return fmt.Sprintf("%-13s", load(&d.name)) }),
			decor.Any(func(decor.Statistics) string { return fmt.Sprintf("%5.0fs ", time.Since(d.start).Seconds()) }),
		),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string {
			return fmt.Sprintf(" %3.0f%%", float64(min(s.Current, barScale))/barScale*100)
		})),
		mpb.BarExtender(mpb.BarFillerFunc(func(w io.Writer, _ decor.Statistics) error {
			_, err := fmt.Fprintln(w, load(&d.line))
			return err
		}), false),
	)
	return d
}

func (d *barDisplay) phase(name string) {
	d.name.Store(&name)
	d.bar.SetCurrent(0)
}

func (d *barDisplay) sample(s Sample, progress float64) {
	line := progressLine(s)
	d.line.Store(&line)
	d.bar.SetCurrent(int64(progress * barScale))
}

func (d *barDisplay) close() {
	d.bar.SetTotal(-1, true)
	d.p.Wait()
}
