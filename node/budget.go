package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// errOverBudget is returned for a request that can never fit its budget.
var errOverBudget = errors.New("request larger than the request-bytes budget")

// memBudget bounds bytes held by requests: the broker-wide
// queued.max.request.bytes, and each connection's share. Waiters are served
// in arrival order, so a large request is not starved by a stream of small
// ones. The zero value is not usable; use newMemBudget.
type memBudget struct {
	limit int64
	// aloneMayExceed lets one acquisition larger than limit through when
	// nothing else is held (a connection's cap must not refuse a frame the
	// broker-wide budget admits).
	aloneMayExceed bool
	mu             struct {
		sync.Mutex
		used    int64
		peak    int64
		waiters []*budgetWaiter
	}
}

type budgetWaiter struct {
	n       int64
	granted bool
	ready   chan struct{}
}

func newMemBudget(limit int64, aloneMayExceed bool) *memBudget {
	return &memBudget{limit: limit, aloneMayExceed: aloneMayExceed}
}

func (b *memBudget) fitsLocked(n int64) bool {
	return b.mu.used+n <= b.limit || (b.aloneMayExceed && b.mu.used == 0)
}

func (b *memBudget) grantLocked(n int64) {
	b.mu.used += n
	if b.mu.used > b.mu.peak {
		b.mu.peak = b.mu.used
	}
}

// tryAcquire takes n bytes if they fit now and nobody is waiting.
func (b *memBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.mu.waiters) == 0 && b.fitsLocked(n) {
		b.grantLocked(n)
		return true
	}
	return false
}

// acquire takes n bytes, waiting in line until they fit or ctx ends. A
// request that can never fit fails at once with errOverBudget.
func (b *memBudget) acquire(ctx context.Context, n int64) error {
	if n > b.limit && !b.aloneMayExceed {
		return fmt.Errorf("%w: %d bytes, budget %d", errOverBudget, n, b.limit)
	}
	b.mu.Lock()
	if len(b.mu.waiters) == 0 && b.fitsLocked(n) {
		b.grantLocked(n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.mu.waiters = append(b.mu.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	if w.granted {
		b.mu.Unlock()
		b.release(n)
		return ctx.Err()
	}
	for i, o := range b.mu.waiters {
		if o == w {
			b.mu.waiters = append(b.mu.waiters[:i], b.mu.waiters[i+1:]...)
			break
		}
	}
	b.wakeLocked() // the head may have been the one blocking the rest
	b.mu.Unlock()
	return ctx.Err()
}

// release returns n bytes and admits the waiters that now fit, in order.
func (b *memBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.mu.used -= n
	if b.mu.used < 0 { // a release without its acquire: never go negative
		b.mu.used = 0
	}
	b.wakeLocked()
	b.mu.Unlock()
}

func (b *memBudget) wakeLocked() {
	for len(b.mu.waiters) > 0 && b.fitsLocked(b.mu.waiters[0].n) {
		w := b.mu.waiters[0]
		b.mu.waiters = b.mu.waiters[1:]
		b.grantLocked(w.n)
		w.granted = true
		close(w.ready)
	}
}

// used reports the bytes held now.
func (b *memBudget) used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.used
}

// peak reports the most bytes ever held at once.
func (b *memBudget) peak() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.peak
}
