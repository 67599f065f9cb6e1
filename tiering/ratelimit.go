package tiering

import (
	"context"
	"io"
	"sync"
	"time"
)

// limiter is a token bucket of bytes per second with a one-second burst;
// a nil limiter or a zero rate never waits.
type limiter struct {
	rate float64
	mu   sync.Mutex
	have float64
	last time.Time
}

func newLimiter(bytesPerSec int64) *limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return &limiter{rate: float64(bytesPerSec), have: float64(bytesPerSec), last: time.Now()}
}

// wait blocks until n bytes may pass.
func (l *limiter) wait(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	l.have = min(l.rate, l.have+now.Sub(l.last).Seconds()*l.rate)
	l.last = now
	l.have -= float64(n)
	deficit := -l.have
	l.mu.Unlock()
	if deficit <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(deficit / l.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// limitedReader paces reads through a limiter.
type limitedReader struct {
	ctx context.Context
	r   io.Reader
	l   *limiter
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if len(p) > 256<<10 {
		p = p[:256<<10]
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if werr := r.l.wait(r.ctx, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}
