package loadtest

import (
	"context"
	"time"
)

// Pacer spaces sends evenly at a fixed rate. Each record has an intended
// send time, start + n/rate; a producer that falls behind sends at once
// until it has caught up, and latency is measured from the intended time, so
// a stalled broker shows up in the percentiles instead of silently lowering
// the offered load (no coordinated omission).
type Pacer struct {
	start time.Time
	rate  float64 // records per second
	n     int64
}

// NewPacer returns a pacer for rate records/s starting at start. rate must
// be positive.
func NewPacer(start time.Time, rate float64) *Pacer {
	return &Pacer{start: start, rate: rate}
}

// Next returns the intended send time of the next record and advances.
func (p *Pacer) Next() time.Time {
	t := intendedTime(p.start, p.n, p.rate)
	p.n++
	return t
}

// Wait returns the next intended send time after sleeping until it is at
// most minSleep away. It returns early with ok false when ctx is done.
func (p *Pacer) Wait(ctx context.Context) (t time.Time, ok bool) {
	t = p.Next()
	if d := sleepFor(t, time.Now(), minSleep); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return t, false
		case <-timer.C:
		}
	}
	return t, ctx.Err() == nil
}

// minSleep is the smallest sleep worth taking: below it the timer's own
// cost dominates, and the producer sends a burst of at most minSleep worth
// of records instead.
const minSleep = time.Millisecond

// intendedTime is when record n (from 0) is due at rate records/s.
func intendedTime(start time.Time, n int64, rate float64) time.Time {
	return start.Add(time.Duration(float64(n) / rate * float64(time.Second)))
}

// sleepFor is how long to sleep before sending a record due at due, given
// the current time: nothing if it is due within min (or overdue).
func sleepFor(due, now time.Time, min time.Duration) time.Duration {
	d := due.Sub(now)
	if d < min {
		return 0
	}
	return d
}

// splitRate divides a total rate among n producers. Zero stays zero (max).
func splitRate(total float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = total / float64(n)
	}
	return out
}

// splitCount divides total records among n producers, the remainder going
// one each to the first ones, so the shares sum to total.
func splitCount(total int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = total / int64(n)
		if int64(i) < total%int64(n) {
			out[i]++
		}
	}
	return out
}
