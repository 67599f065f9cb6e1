package node

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// dialPacer spaces the dials of this node's own clients (replication,
// transaction markers) to each address with a token bucket: a client whose
// connections are refused — a certificate its peer does not trust, a
// password that is wrong — redials a few times a second instead of in a
// tight loop, while the first connections to a new leader go at once.
type dialPacer struct {
	mu      sync.Mutex
	buckets map[string]*dialBucket
}

type dialBucket struct {
	tokens float64
	last   time.Time
}

// Dials to one address: dialBurst at once, then dialRate a second.
const (
	dialBurst = 8
	dialRate  = 4
)

// wait takes a token for addr, waiting for one if need be.
func (p *dialPacer) wait(ctx context.Context, addr string) error {
	p.mu.Lock()
	if p.buckets == nil {
		p.buckets = map[string]*dialBucket{}
	}
	now := time.Now()
	b := p.buckets[addr]
	if b == nil {
		b = &dialBucket{tokens: dialBurst, last: now}
		p.buckets[addr] = b
	}
	b.tokens = min(dialBurst, b.tokens+now.Sub(b.last).Seconds()*dialRate)
	b.last = now
	b.tokens-- // may go negative: later callers wait behind this one
	var d time.Duration
	if b.tokens < 0 {
		d = time.Duration(-b.tokens / dialRate * float64(time.Second))
	}
	p.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dialer is a kgo dial function that paces, then dials (with TLS when
// cfg is set).
func (p *dialPacer) dialer(cfg *tls.Config) func(ctx context.Context, network, host string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		if err := p.wait(ctx, host); err != nil {
			return nil, err
		}
		if cfg == nil {
			return d.DialContext(ctx, network, host)
		}
		c := cfg.Clone()
		if c.ServerName == "" {
			c.ServerName, _, _ = net.SplitHostPort(host)
		}
		return (&tls.Dialer{NetDialer: d, Config: c}).DialContext(ctx, network, host)
	}
}
