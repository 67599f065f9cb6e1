package storage

import (
	"testing"
	"time"
)

// sleepToNextTick waits until just after the next multiple of iv.
func sleepToNextTick(iv time.Duration) int64 {
	now := time.Now().UnixMilli()
	ms := iv.Milliseconds()
	next := now - now%ms + ms
	time.Sleep(time.Duration(next-now+5) * time.Millisecond)
	return next
}

func TestTickBoundaryRollsAtInstants(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.RollInterval = 200 * time.Millisecond
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()

	// The first instant after open is not known.
	if _, off, err := l.TickBoundary(time.Now()); err != nil || off != -1 {
		t.Fatalf("first TickBoundary offset = %d, %v; want -1", off, err)
	}
	appendN(t, l, 5, 10, 1)
	t1 := sleepToNextTick(cfg.RollInterval)
	// An append after the instant rolls first: its records start the new
	// segment, and the instant's offset is the end before it.
	appendN(t, l, 3, 10, 2)
	tick, off, err := l.TickBoundary(time.Now())
	if err != nil || tick != t1 || off != 5 {
		t.Fatalf("TickBoundary = %d, %d, %v; want %d, 5", tick, off, err, t1)
	}
	segs := l.Segments()
	if len(segs) != 2 || segs[0].NextOffset != 5 || segs[0].SealTick != t1 || segs[1].SealTick != 0 {
		t.Fatalf("segments after the append-path roll: %+v", segs)
	}

	// With no append after the next instant, TickBoundary rolls itself.
	t2 := sleepToNextTick(cfg.RollInterval)
	tick, off, err = l.TickBoundary(time.Now())
	if err != nil || tick != t2 || off != 8 {
		t.Fatalf("TickBoundary = %d, %d, %v; want %d, 8", tick, off, err, t2)
	}
	segs = l.Segments()
	if len(segs) != 3 || segs[1].NextOffset != 8 || segs[1].SealTick != t2 {
		t.Fatalf("segments after the idle roll: %+v", segs)
	}
	// An idle instant rolls nothing and reports the same end.
	t3 := sleepToNextTick(cfg.RollInterval)
	tick, off, _ = l.TickBoundary(time.Now())
	if tick != t3 || off != 8 || len(l.Segments()) != 3 {
		t.Fatalf("idle instant: %d, %d, %d segments", tick, off, len(l.Segments()))
	}

	// Truncation below the instant's offset forgets it.
	if _, err := l.TruncateTo(6); err != nil {
		t.Fatal(err)
	}
	if _, off, _ = l.TickBoundary(time.Now()); off != -1 {
		t.Fatalf("offset after truncation below it = %d, want -1", off)
	}
}

func TestTickBoundaryOffWithoutInterval(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	appendN(t, l, 2, 10, 1)
	if tick, off, err := l.TickBoundary(time.Now()); tick != 0 || off != -1 || err != nil {
		t.Fatalf("TickBoundary without RollInterval = %d, %d, %v", tick, off, err)
	}
}
