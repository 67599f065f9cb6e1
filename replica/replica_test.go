package replica

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

func TestHighWatermark(t *testing.T) {
	tr := NewTracker(1, []int32{1, 2, 3}, t0)
	isr := []int32{1, 2, 3}
	if _, ok := tr.HighWatermark(isr, 100, 1); ok {
		t.Fatal("advanced with unknown follower offsets")
	}
	tr.OnFetch(2, 80, 100, t0)
	tr.OnFetch(3, 90, 100, t0)
	if hw, ok := tr.HighWatermark(isr, 100, 2); !ok || hw != 80 {
		t.Fatalf("hw %d %v, want 80", hw, ok)
	}
	// The leader's own durable offset bounds it.
	if hw, _ := tr.HighWatermark(isr, 70, 2); hw != 70 {
		t.Fatalf("hw %d, want 70", hw)
	}
	// Out-of-ISR followers do not count.
	if hw, _ := tr.HighWatermark([]int32{1, 3}, 100, 2); hw != 90 {
		t.Fatalf("hw %d, want 90", hw)
	}
	// KIP-966: below min.insync.replicas the HW holds.
	if _, ok := tr.HighWatermark([]int32{1}, 100, 2); ok {
		t.Fatal("advanced with ISR below min.insync.replicas")
	}
	if hw, ok := tr.HighWatermark([]int32{1}, 100, 1); !ok || hw != 100 {
		t.Fatalf("single-member ISR: %d %v", hw, ok)
	}
	if tr.OnFetch(9, 1, 1, t0) {
		t.Fatal("a non-replica's fetch was tracked")
	}
}

func TestCaughtUpRule(t *testing.T) {
	tr := NewTracker(1, []int32{1, 2}, t0)
	// Behind the leader's current end, but at the end the previous fetch
	// saw: caught up as of the previous fetch.
	tr.OnFetch(2, 50, 100, t0.Add(time.Second))
	if got := tr.Follower(2).LastCaughtUp; !got.Equal(t0) {
		t.Fatalf("last caught up %v", got)
	}
	tr.OnFetch(2, 100, 120, t0.Add(2*time.Second))
	if got := tr.Follower(2).LastCaughtUp; !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("previous-fetch rule: %v", got)
	}
	tr.OnFetch(2, 120, 120, t0.Add(3*time.Second))
	if got := tr.Follower(2).LastCaughtUp; !got.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("at leader end: %v", got)
	}
	// Falling behind does not move it.
	tr.OnFetch(2, 110, 200, t0.Add(4*time.Second))
	tr.OnFetch(2, 150, 300, t0.Add(5*time.Second))
	if got := tr.Follower(2).LastCaughtUp; !got.Equal(t0.Add(3 * time.Second)) {
		t.Fatalf("behind: %v", got)
	}
}

func TestISRChange(t *testing.T) {
	replicas := []int32{1, 2, 3}
	tr := NewTracker(1, replicas, t0)
	lag := 10 * time.Second
	if _, changed := tr.ISRChange(replicas, replicas, 0, 0, t0.Add(lag), lag, nil); changed {
		t.Fatal("shrank before the lag time passed")
	}
	tr.OnFetch(2, 100, 100, t0.Add(5*time.Second))
	isr, changed := tr.ISRChange(replicas, replicas, 100, 0, t0.Add(11*time.Second), lag, nil)
	if !changed || !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("shrink: %v %v", isr, changed)
	}
	// 3 comes back below the HW: stays out; at the HW but before the
	// epoch start: stays out; past both: joins, in replica order.
	tr.OnFetch(3, 90, 100, t0.Add(12*time.Second))
	if _, changed := tr.ISRChange(replicas, isr, 100, 0, t0.Add(12*time.Second), lag, nil); changed {
		t.Fatal("joined below the HW")
	}
	tr.OnFetch(3, 100, 100, t0.Add(13*time.Second))
	if _, changed := tr.ISRChange(replicas, isr, 100, 105, t0.Add(13*time.Second), lag, nil); changed {
		t.Fatal("joined before the epoch start")
	}
	if _, changed := tr.ISRChange(replicas, isr, 100, 100, t0.Add(13*time.Second), lag, func(id int32) bool { return id == 3 }); changed {
		t.Fatal("a fenced broker joined")
	}
	isr, changed = tr.ISRChange(replicas, isr, 100, 100, t0.Add(13*time.Second), lag, nil)
	if !changed || !slices.Equal(isr, replicas) {
		t.Fatalf("expand: %v %v", isr, changed)
	}
	// The leader never leaves, even when missing from the ISR given.
	isr, changed = tr.ISRChange(replicas, []int32{2, 3}, 100, 0, t0.Add(13*time.Second), lag, nil)
	if !changed || !slices.Contains(isr, 1) {
		t.Fatalf("leader: %v %v", isr, changed)
	}
}

// ends is a follower's epoch cache: epoch -> start, with the log end.
func ownEnd(starts map[int32]int64, leo int64) func(int32) (int32, int64) {
	return func(epoch int32) (int32, int64) {
		best := int32(-1)
		for e := range starts {
			if e <= epoch && e > best {
				best = e
			}
		}
		if best < 0 {
			return -1, -1
		}
		end := leo
		for e, s := range starts {
			if e > best && s < end {
				end = s
			}
		}
		return best, end
	}
}

func TestTruncation(t *testing.T) {
	// Same latest epoch, the follower ahead of the leader: cut to the
	// leader's end.
	f := ownEnd(map[int32]int64{0: 0, 2: 50}, 120)
	if off, again := Truncation(120, f, 2, 2, 100); off != 100 || again {
		t.Fatalf("same epoch: %d %v", off, again)
	}
	// Follower behind: nothing to cut.
	if off, _ := Truncation(120, f, 2, 2, 200); off != 120 {
		t.Fatalf("behind: %d", off)
	}
	// The leader never had epoch 2 (elected at 3 from epoch 1's log):
	// it answers epoch 1 ending at 60; the follower's epoch 1... it has
	// none, so cut to the end of its epoch 0 and ask again.
	if off, again := Truncation(120, f, 2, 1, 60); off != 50 || !again {
		t.Fatalf("unknown epoch: %d %v", off, again)
	}
	// The follower shares epoch 0, ending at 50 here and at 40 on the
	// leader.
	if off, again := Truncation(120, f, 2, 0, 40); off != 40 || again {
		t.Fatalf("shared epoch: %d %v", off, again)
	}
	// Never to the HW: the answer alone decides.
	if off, _ := Truncation(120, f, 2, -1, -1); off != 0 {
		t.Fatalf("no shared epoch: %d", off)
	}
}

func TestStranded(t *testing.T) {
	tr := NewTracker(1, []int32{1, 2, 3}, t0)
	timeout := time.Second
	if tr.Stranded([]int32{1, 2, 3}, t0.Add(timeout), timeout) {
		t.Fatal("stranded before the timeout since the followers were added")
	}
	if !tr.Stranded([]int32{1, 2, 3}, t0.Add(2*timeout), timeout) {
		t.Fatal("not stranded with no follower ever heard from")
	}
	tr.OnFetch(3, 0, 0, t0.Add(3*timeout))
	if tr.Stranded([]int32{1, 2, 3}, t0.Add(3*timeout+timeout/2), timeout) {
		t.Fatal("stranded although follower 3 just fetched")
	}
	if !tr.Stranded([]int32{1, 2}, t0.Add(3*timeout+timeout/2), timeout) {
		t.Fatal("a fetch from a follower outside the ISR kept the leader from being stranded")
	}
	if tr.Stranded([]int32{1}, t0.Add(time.Hour), timeout) {
		t.Fatal("a leader alone in its ISR is never stranded: nobody else can be elected cleanly")
	}
}
