package node

import (
	"context"
	"errors"
	"testing"
)

// TestDialPacer: a burst of dials to one address goes at once, the next
// must wait (a cancelled context shows it would), and other addresses
// have buckets of their own.
func TestDialPacer(t *testing.T) {
	var p dialPacer
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range dialBurst {
		if err := p.wait(done, "10.0.0.1:9092"); err != nil {
			t.Fatalf("dial %d of the burst waited: %v", i, err)
		}
	}
	if err := p.wait(done, "10.0.0.1:9092"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a dial past the burst did not wait: %v", err)
	}
	if err := p.wait(done, "10.0.0.2:9092"); err != nil {
		t.Fatalf("another address waited: %v", err)
	}
}
