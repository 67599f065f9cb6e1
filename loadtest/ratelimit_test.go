package loadtest

import (
	"context"
	"testing"
	"time"
)

func TestIntendedTime(t *testing.T) {
	start := time.Unix(1000, 0)
	cases := []struct {
		n    int64
		rate float64
		want time.Duration
	}{
		{0, 100, 0}, {1, 100, 10 * time.Millisecond}, {100, 100, time.Second},
		{3, 0.5, 6 * time.Second}, {1_000_000, 1_000_000, time.Second}, {1, 3, 333333333},
	}
	for _, c := range cases {
		if got := intendedTime(start, c.n, c.rate).Sub(start); got != c.want {
			t.Errorf("intendedTime(n=%d, rate=%v) = %v, want %v", c.n, c.rate, got, c.want)
		}
	}
}

func TestSleepFor(t *testing.T) {
	now := time.Unix(1000, 0)
	cases := []struct {
		due  time.Duration // relative to now
		want time.Duration
	}{
		{-time.Second, 0},                    // overdue: send at once (catch up)
		{0, 0},                               // due now
		{500 * time.Microsecond, 0},          // closer than minSleep: burst
		{time.Millisecond, time.Millisecond}, // exactly minSleep: sleep
		{50 * time.Millisecond, 50 * time.Millisecond},
	}
	for _, c := range cases {
		if got := sleepFor(now.Add(c.due), now, time.Millisecond); got != c.want {
			t.Errorf("sleepFor(due %v) = %v, want %v", c.due, got, c.want)
		}
	}
}

func TestSplitRateAndCount(t *testing.T) {
	for _, c := range []struct {
		total int64
		n     int
		want  []int64
	}{
		{10, 3, []int64{4, 3, 3}}, {2, 4, []int64{1, 1, 0, 0}}, {9, 1, []int64{9}}, {0, 2, []int64{0, 0}},
	} {
		got := splitCount(c.total, c.n)
		var sum int64
		for i := range got {
			sum += got[i]
			if got[i] != c.want[i] {
				t.Errorf("splitCount(%d, %d) = %v, want %v", c.total, c.n, got, c.want)
				break
			}
		}
		if sum != c.total {
			t.Errorf("splitCount(%d, %d) sums to %d", c.total, c.n, sum)
		}
	}
	if r := splitRate(1000, 4); len(r) != 4 || r[0] != 250 {
		t.Errorf("splitRate = %v", r)
	}
	if r := splitRate(0, 2); r[0] != 0 || r[1] != 0 {
		t.Errorf("max rate must stay max: %v", r)
	}
}

// TestPacerHoldsRate runs the pacer for real: 200 records at 2,000/s must
// take about 100ms, neither bursting through nor lagging far behind.
func TestPacerHoldsRate(t *testing.T) {
	start := time.Now()
	p := NewPacer(start, 2000)
	var last time.Time
	for range 200 {
		due, ok := p.Wait(context.Background())
		if !ok {
			t.Fatal("pacer stopped")
		}
		if time.Now().Before(due.Add(-minSleep)) {
			t.Fatalf("sent more than minSleep before due")
		}
		last = due
	}
	el := time.Since(start)
	if el < 95*time.Millisecond || el > 400*time.Millisecond {
		t.Errorf("200 records at 2000/s took %v", el)
	}
	if want := start.Add(199 * 500 * time.Microsecond); !last.Equal(want) {
		t.Errorf("last due %v, want %v", last.Sub(start), want.Sub(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := NewPacer(time.Now(), 0.1)
	slow.Next()
	if _, ok := slow.Wait(ctx); ok {
		t.Error("Wait on a cancelled context reported ok")
	}
}

func TestGroupSettled(t *testing.T) {
	cases := []struct {
		total   int64
		members []int64
		want    int64
		ok      bool
	}{
		{4, []int64{4, 0}, 4, false}, // second member not joined yet
		{4, []int64{2, 2}, 4, true},
		{3, []int64{3, 0}, 4, false},   // a partition unassigned
		{2, []int64{1, 1, 0}, 2, true}, // more members than partitions
		{1, []int64{1}, 1, true},
	}
	for _, c := range cases {
		if got := groupSettled(c.total, c.members, c.want); got != c.ok {
			t.Errorf("groupSettled(%d, %v, %d) = %v", c.total, c.members, c.want, got)
		}
	}
}
