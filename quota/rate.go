package quota

import "time"

// Window is how usage is sampled: Samples windows of Size each (Kafka's
// quota.window.num and quota.window.size.seconds).
type Window struct {
	Samples int
	Size    time.Duration
}

// DefaultWindow is Kafka's: 11 samples of 1 s.
var DefaultWindow = Window{Samples: 11, Size: time.Second}

// rate is a sampled rate, Kafka's Rate over SampledStat: the sum of the
// live samples over the time they span, that span counted as at least
// Samples-1 whole windows, so a new client is not throttled for its first
// burst of a fraction of a second.
type rate struct {
	starts []int64 // unix nanos each sample began; 0: unused
	values []float64
	cur    int
}

func newRate(w Window) *rate {
	return &rate{starts: make([]int64, w.Samples), values: make([]float64, w.Samples)}
}

// record adds v at now, opening a new sample when the current one is a
// window old.
func (r *rate) record(w Window, now int64, v float64) {
	if r.starts[r.cur] == 0 || now-r.starts[r.cur] >= int64(w.Size) {
		r.cur = (r.cur + 1) % len(r.starts)
		r.starts[r.cur], r.values[r.cur] = now, 0
	}
	r.values[r.cur] += v
}

// measure is the rate at now, per second, and the time it is taken over.
func (r *rate) measure(w Window, now int64) (float64, time.Duration) {
	span := int64(w.Samples) * int64(w.Size)
	total, oldest := 0.0, now
	for i, st := range r.starts {
		if st == 0 {
			continue
		}
		if now-st >= span {
			r.starts[i], r.values[i] = 0, 0 // obsolete
			continue
		}
		total += r.values[i]
		oldest = min(oldest, st)
	}
	el := r.elapsed(w, now, oldest)
	return total / el.Seconds(), el
}

// elapsed is the time the rate is taken over (Kafka's windowSize).
func (r *rate) elapsed(w Window, now, oldest int64) time.Duration {
	el := time.Duration(now - oldest)
	full := int(el / w.Size)
	if minFull := w.Samples - 1; full < minFull {
		el += time.Duration(minFull-full) * w.Size
	}
	return max(el, time.Millisecond)
}

// throttle is how long a client at this rate must pause to come back to
// bound: (rate - bound) / bound of the window the rate is taken over (the
// time the excess takes to drain at the bound), zero under the bound, and
// never more than the whole sampled span (Samples × Size).
func (r *rate) throttle(w Window, now int64, bound float64) time.Duration {
	m, el := r.measure(w, now)
	if m <= bound {
		return 0
	}
	d := time.Duration((m - bound) / bound * float64(el))
	return min(d, time.Duration(w.Samples)*w.Size)
}
