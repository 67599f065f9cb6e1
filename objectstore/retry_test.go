package objectstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

func TestRetryPolicy(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond}
	ctx := context.Background()
	calls := 0
	err := p.Do(ctx, "op", func(context.Context) error {
		calls++
		if calls < 3 {
			return &Error{Class: ErrThrottled, Err: errors.New("slow down")}
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("throttled twice then ok: %v after %d calls", err, calls)
	}
	calls = 0
	err = p.Do(ctx, "op", func(context.Context) error { calls++; return &Error{Class: ErrTransient} })
	if !errors.Is(err, ErrTransient) || calls != 5 {
		t.Fatalf("always transient: %v after %d calls", err, calls)
	}
	calls = 0
	err = p.Do(ctx, "op", func(context.Context) error { calls++; return &Error{Class: ErrNotFound} })
	if !errors.Is(err, ErrNotFound) || calls != 1 {
		t.Fatalf("not found must not be retried: %v after %d calls", err, calls)
	}
	// The deadline bounds the waiting.
	slow := RetryPolicy{MaxAttempts: 100, BaseDelay: 50 * time.Millisecond, MaxDelay: time.Second}
	dctx, cancel := context.WithTimeout(ctx, 120*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = slow.Do(dctx, "op", func(context.Context) error { return &Error{Class: ErrTransient} })
	if el := time.Since(start); el > 200*time.Millisecond || !errors.Is(err, ErrTransient) {
		t.Fatalf("deadline-bounded retry: %v after %v", err, el)
	}
}

func TestBackoffBounds(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 10, BaseDelay: 10 * time.Millisecond, MaxDelay: 100 * time.Millisecond}
	for n := range 10 {
		for range 100 {
			d := p.backoff(n, false)
			ceiling := min(10*time.Millisecond<<n, 100*time.Millisecond)
			if d < ceiling/2 || d > ceiling {
				t.Fatalf("backoff(%d) = %v outside [%v, %v]", n, d, ceiling/2, ceiling)
			}
			if dt := p.backoff(n, true); dt > p.MaxDelay {
				t.Fatalf("throttled backoff %v above max", dt)
			}
		}
	}
}

func TestExactReader(t *testing.T) {
	read := func(data string, size int64) (string, error) {
		b, err := io.ReadAll(ExactReader(bytes.NewReader([]byte(data)), size))
		return string(b), err
	}
	if got, err := read("abc", 3); err != nil || got != "abc" {
		t.Fatalf("exact: %q %v", got, err)
	}
	if _, err := read("abcd", 3); !errors.Is(err, ErrInvalid) {
		t.Fatalf("long reader: %v", err)
	}
	if _, err := read("ab", 3); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short reader: %v", err)
	}
	if got, err := read("", 0); err != nil || got != "" {
		t.Fatalf("empty: %q %v", got, err)
	}
}

func TestErrorClasses(t *testing.T) {
	err := &Error{Backend: "s3", Bucket: "b", Op: "put", Key: "k", Class: ErrThrottled, Err: errors.New("SlowDown")}
	if !errors.Is(err, ErrThrottled) || !Retryable(err) || ClassName(err) != "throttled" {
		t.Fatalf("classification of %v", err)
	}
	if got := err.Error(); got != `objectstore s3 bucket "b": put "k": throttled: SlowDown` {
		t.Fatalf("message %q", got)
	}
	if ClassOf(context.Canceled) != context.Canceled || Retryable(context.DeadlineExceeded) {
		t.Fatal("context errors")
	}
}
