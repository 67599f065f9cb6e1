package node

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBudgetAdmitsUpToLimitAndReleases(t *testing.T) {
	b := newMemBudget(100, false)
	if !b.tryAcquire(60) || !b.tryAcquire(40) {
		t.Fatal("bytes within the limit refused")
	}
	if b.tryAcquire(1) {
		t.Fatal("admitted past the limit")
	}
	b.release(40)
	if got := b.used(); got != 60 {
		t.Fatalf("used %d after release, want 60", got)
	}
	if !b.tryAcquire(40) {
		t.Fatal("released bytes not reusable")
	}
	if b.peak() != 100 {
		t.Fatalf("peak %d, want 100", b.peak())
	}
}

func TestBudgetRefusesOversizeAtOnce(t *testing.T) {
	b := newMemBudget(100, false)
	err := b.acquire(context.Background(), 101)
	if !errors.Is(err, errOverBudget) {
		t.Fatalf("oversize acquire: %v, want errOverBudget", err)
	}
	if b.used() != 0 {
		t.Fatal("refused acquire holds bytes")
	}
	if err := checkFrameSize(101, 1<<20, 100); !errors.Is(err, errOverBudget) {
		t.Fatalf("checkFrameSize over budget: %v", err)
	}
	if err := checkFrameSize(2000, 1000, 1<<20); !errors.Is(err, errFrameSize) {
		t.Fatalf("checkFrameSize over frame limit: %v", err)
	}
	if err := checkFrameSize(7, 1000, 1000); !errors.Is(err, errFrameSize) {
		t.Fatalf("checkFrameSize under a header: %v", err)
	}
}

func TestBudgetWaitsInOrderUntilReleased(t *testing.T) {
	b := newMemBudget(100, false)
	if !b.tryAcquire(100) {
		t.Fatal("empty budget refused its limit")
	}
	order := make(chan int, 2)
	for i, n := range []int64{80, 10} {
		go func() {
			if err := b.acquire(context.Background(), n); err != nil {
				t.Error(err)
			}
			order <- i
		}()
		// Let the first waiter queue before the second.
		waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.mu.waiters) == i+1 })
	}
	// 10 bytes would fit a 10-byte waiter, but the 80-byte one is first in
	// line: neither may pass.
	b.release(10)
	select {
	case i := <-order:
		t.Fatalf("waiter %d passed the one ahead of it", i)
	case <-time.After(50 * time.Millisecond):
	}
	b.release(70) // room for the head only
	if i := <-order; i != 0 {
		t.Fatalf("waiter %d admitted first, want 0", i)
	}
	b.release(10)
	if i := <-order; i != 1 {
		t.Fatalf("waiter %d admitted second, want 1", i)
	}
	if b.used() != 100 || b.peak() > 100 {
		t.Fatalf("used %d peak %d", b.used(), b.peak())
	}
}

func TestBudgetWaitEndsWithContext(t *testing.T) {
	b := newMemBudget(100, false)
	b.tryAcquire(100)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.acquire(ctx, 50); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire past its deadline: %v", err)
	}
	b.release(100)
	if b.used() != 0 {
		t.Fatalf("a cancelled waiter holds %d bytes", b.used())
	}
	// A cancelled head of line does not block the waiters behind it.
	b.tryAcquire(100)
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { _ = b.acquire(ctx2, 90) }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.mu.waiters) == 1 })
	done := make(chan error, 1)
	go func() { done <- b.acquire(context.Background(), 5) }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.mu.waiters) == 2 })
	b.release(50)
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestConnectionShareLetsOneLargeFrameThroughWhenEmpty(t *testing.T) {
	s := newMemBudget(100, true)
	if !s.tryAcquire(500) {
		t.Fatal("a connection holding nothing must read one large frame")
	}
	if s.tryAcquire(1) {
		t.Fatal("admitted past the share while over it")
	}
	s.release(500)
	if !s.tryAcquire(60) || s.tryAcquire(60) {
		t.Fatal("share not enforced once something is held")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}
