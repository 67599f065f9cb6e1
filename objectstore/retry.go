package objectstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy is how a backend retries throttled and transient failures:
// capped exponential backoff with jitter, never waiting past the
// caller's context deadline.
type RetryPolicy struct {
	// MaxAttempts is the number of tries including the first; 1 disables
	// retries.
	MaxAttempts int
	// BaseDelay is the backoff ceiling after the first failure; it doubles
	// with each attempt up to MaxDelay. Throttling starts from
	// 4×BaseDelay so a store that asked us to slow down gets room.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// OnRetry, when set, is called before each wait with the operation,
	// the failed attempt's error and the delay chosen.
	OnRetry func(op string, err error, delay time.Duration)
}

// DefaultRetryPolicy returns the policy backends use when none is given:
// 8 attempts, 50 ms growing to at most 5 s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 8, BaseDelay: 50 * time.Millisecond, MaxDelay: 5 * time.Second}
}

// Validate reports a policy that cannot work.
func (p RetryPolicy) Validate() error {
	if p.MaxAttempts < 1 {
		return fmt.Errorf("%w: retry MaxAttempts %d < 1", ErrInvalid, p.MaxAttempts)
	}
	if p.BaseDelay <= 0 || p.MaxDelay < p.BaseDelay {
		return fmt.Errorf("%w: retry delays base %v max %v", ErrInvalid, p.BaseDelay, p.MaxDelay)
	}
	return nil
}

// WithDefaults fills zero fields from DefaultRetryPolicy.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts == 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.BaseDelay == 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay == 0 {
		p.MaxDelay = max(d.MaxDelay, p.BaseDelay)
	}
	return p
}

// Do runs fn until it succeeds, fails with an error that is not Retryable,
// runs out of attempts, or the next wait would outlast ctx. It returns the
// last error fn returned (or ctx's error if ctx ended while waiting before
// any attempt failed for another reason).
func (p RetryPolicy) Do(ctx context.Context, op string, fn func(context.Context) error) error {
	p = p.WithDefaults()
	var err error
	for attempt := 0; attempt < p.MaxAttempts; attempt++ {
		if cerr := ctx.Err(); cerr != nil {
			if err != nil {
				return err
			}
			return cerr
		}
		err = fn(ctx)
		if err == nil || !Retryable(err) || attempt == p.MaxAttempts-1 {
			return err
		}
		delay := p.backoff(attempt, ClassOf(err) == ErrThrottled)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return err
		}
		if p.OnRetry != nil {
			p.OnRetry(op, err, delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
	return err
}

// backoff is the wait after failed attempt n (0-based): uniform in
// [ceiling/2, ceiling] where the ceiling doubles from BaseDelay (or
// 4×BaseDelay when throttled) up to MaxDelay.
func (p RetryPolicy) backoff(n int, throttled bool) time.Duration {
	ceiling := p.BaseDelay
	if throttled {
		ceiling *= 4
	}
	for i := 0; i < n && ceiling < p.MaxDelay; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	half := ceiling / 2
	return half + rand.N(ceiling-half+1)
}
