package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/storage"
	"github.com/stratalog/strata/tiering"
)

// The scrubber: runScrub re-reads every hosted partition's sealed segments
// at a bounded rate (log.scrub.bytes.per.second), the segments of an
// unclean start first, and waits log.scrub.interval.ms between passes; with
// remote.scrub.bytes.per.second it also checks the remote objects against
// their manifest checksums. runHeal replaces damaged local segments (found
// by the scrubber, by reads, by uploads or at open) with their verified
// remote copy when the cold tier holds them. Both are owned by the Node and
// stop when it drains.

// healInterval is how often runHeal looks for damage to heal.
const healInterval = 2 * time.Second

// scrubMetrics are the scrubber's progress counters.
type scrubMetrics struct {
	bytes, segments, damage, healed, remoteBytes prometheus.Counter
}

func newScrubMetrics(reg prometheus.Registerer) *scrubMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_scrub_" + name, Help: help})
	}
	m := &scrubMetrics{
		bytes:       c("bytes_verified_total", "Bytes of sealed local segments the scrubber re-read and verified."),
		segments:    c("segments_verified_total", "Sealed local segments the scrubber verified."),
		damage:      c("damage_found_total", "Segments the scrubber found damaged (local, or remote objects failing their checksums)."),
		healed:      c("healed_total", "Damaged local segments healed from the cold tier."),
		remoteBytes: c("remote_bytes_verified_total", "Bytes of remote objects the scrubber checked against their manifest checksums."),
	}
	reg.MustRegister(m.bytes, m.segments, m.damage, m.healed, m.remoteBytes)
	return m
}

// pacer spaces reads to a byte rate; a zero rate never waits.
type pacer struct {
	mu   sync.Mutex
	rate func() int64
	next time.Time
}

// wait blocks until n more bytes may be read at the current rate.
func (p *pacer) wait(ctx context.Context, n int) error {
	rate := p.rate()
	if rate <= 0 {
		return nil
	}
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))
	p.mu.Unlock()
	d := time.Until(at)
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

// drainContext returns a context cancelled when the node drains (or when
// the returned cancel is called).
func (n *Node) drainContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-n.drain:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}

// runScrub verifies sealed segments, pass after pass.
func (n *Node) runScrub() {
	defer n.loops.Done()
	ctx, cancel := n.drainContext()
	defer cancel()
	local := &pacer{rate: func() int64 { return n.brokerCfg().Int64("log.scrub.bytes.per.second") }}
	remote := &pacer{rate: func() int64 { return n.brokerCfg().Int64("remote.scrub.bytes.per.second") }}
	for {
		if n.brokerCfg().Int64("log.scrub.bytes.per.second") > 0 {
			n.scrubPass(ctx, local)
		}
		if n.brokerCfg().Int64("remote.scrub.bytes.per.second") > 0 {
			n.scrubRemotePass(ctx, remote)
		}
		wait := time.Duration(n.brokerCfg().Int64("log.scrub.interval.ms")) * time.Millisecond
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// scrubPass verifies every hosted partition's sealed segments once: first
// those not verified since an unclean stop, then all of them in order.
func (n *Node) scrubPass(ctx context.Context, pace *pacer) {
	type job struct {
		p    *partition
		base int64
	}
	var first, rest []job
	for _, p := range n.parts.all() {
		for _, b := range p.log.Unverified() {
			first = append(first, job{p, b})
		}
	}
	for _, p := range n.parts.all() {
		for _, s := range p.log.Segments() {
			if s.Sealed {
				rest = append(rest, job{p, s.BaseOffset})
			}
		}
	}
	done := map[job]bool{}
	for _, j := range append(first, rest...) {
		if ctx.Err() != nil {
			return
		}
		if done[j] {
			continue
		}
		done[j] = true
		n.scrubSegment(ctx, j.p, j.base, pace)
	}
}

// scrubSegment verifies one sealed segment and heals it when it is damaged.
func (n *Node) scrubSegment(ctx context.Context, p *partition, base int64, pace *pacer) {
	size := int64(-1)
	for _, s := range p.log.Segments() {
		if s.BaseOffset == base {
			size = s.Size
		}
	}
	if size < 0 {
		return // deleted by retention meanwhile
	}
	err := p.log.VerifySegment(ctx, base, pace.wait)
	switch {
	case err == nil:
		n.scrub.bytes.Add(float64(size))
		n.scrub.segments.Inc()
	case ctx.Err() != nil, errors.Is(err, storage.ErrClosed), errors.Is(err, storage.ErrOffsetOutOfRange):
	case errors.Is(err, storage.ErrCorruptSegment):
		n.scrub.damage.Inc()
		n.log.Error("scrubber found a damaged segment", "topic", p.topic, "partition", p.index, "segment", base, "err", err)
		n.healPartition(ctx, p)
	default:
		n.log.Warn("scrubbing a segment", "topic", p.topic, "partition", p.index, "segment", base, "err", err)
	}
}

// scrubRemotePass checks every hosted partition's remote objects against
// their checksums (a corrupt one is re-uploaded from the local log when it
// still holds the range, otherwise reported lost).
func (n *Node) scrubRemotePass(ctx context.Context, pace *pacer) {
	for _, p := range n.parts.all() {
		tp := p.tier.Load()
		if tp == nil {
			continue
		}
		err := tp.ScanRemote(func(seg tiering.Segment) bool {
			if err := pace.wait(ctx, int(min(seg.ObjectSize(), 1<<30))); err != nil {
				return false
			}
			checked, err := tp.VerifyRemote(ctx, seg)
			n.scrub.remoteBytes.Add(float64(checked))
			if err != nil && ctx.Err() == nil {
				if errors.Is(err, tiering.ErrRemoteLost) || errors.Is(err, tiering.ErrRemoteRead) {
					n.scrub.damage.Inc()
				}
				n.log.Warn("remote scrub", "topic", p.topic, "partition", p.index, "segment", seg.BaseOffset, "err", err)
			}
			return ctx.Err() == nil
		})
		if err != nil || ctx.Err() != nil {
			return
		}
	}
}

// runHeal heals damaged local segments from the cold tier.
func (n *Node) runHeal() {
	defer n.loops.Done()
	ctx, cancel := n.drainContext()
	defer cancel()
	tick := time.NewTicker(healInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-n.healKick:
		}
		for _, p := range n.parts.all() {
			if p.log.DamagedSegments() > 0 {
				n.healPartition(ctx, p)
			}
		}
	}
}

// kickHeal asks runHeal for a pass now (a read found damage).
func (n *Node) kickHeal() {
	select {
	case n.healKick <- struct{}{}:
	default:
	}
}

// healPartition heals what it can of p's damage; what the cold tier does
// not hold stays refused (and reported by the storage layer).
func (n *Node) healPartition(ctx context.Context, p *partition) {
	tp := p.tier.Load()
	if tp == nil {
		return
	}
	healed, err := tp.HealDamaged(ctx)
	n.scrub.healed.Add(float64(healed))
	if err != nil && ctx.Err() == nil && !errors.Is(err, tiering.ErrNotCovered) {
		if ok, _ := p.healReports.allow(time.Minute); ok {
			n.log.Warn("healing damaged segments from the cold tier", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
}
