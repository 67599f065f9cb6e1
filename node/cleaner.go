package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/compact"
	"github.com/stratalog/strata/kconfig"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
	"github.com/stratalog/strata/tiering"
)

// The log cleaner compacts the local logs of cleanup.policy=compact topics
// the way Kafka's does: log.cleaner.threads loops (runCleaner) each pick
// the partition whose cleanable part is dirtiest (or past
// max.compaction.lag.ms), build a key map of its dirty part, rewrite its
// sealed segments through package compact's decisions, and record where
// the pass stopped (the cleaner checkpoint). Every replica cleans its own
// log. A tiered partition is cleaned only below what the cold tier holds,
// so the uploader never races a swap.

// cleanerMetrics count the cleaner's work.
type cleanerMetrics struct {
	passes, errors                 prometheus.Counter
	bytesRead, bytesWritten        prometheus.Counter
	recordsRead, recordsRemoved    prometheus.Counter
	segmentsRewritten              prometheus.Counter
	tombstonesRemoved, txnsRemoved prometheus.Counter
	mapBytes                       prometheus.Gauge
}

func newCleanerMetrics(reg prometheus.Registerer) *cleanerMetrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_log_cleaner_" + name, Help: help})
	}
	m := &cleanerMetrics{
		passes:            c("passes_total", "Cleaning passes completed."),
		errors:            c("errors_total", "Cleaning passes that failed."),
		bytesRead:         c("bytes_read_total", "Bytes of segments the cleaner read (key maps and rewrites)."),
		bytesWritten:      c("bytes_written_total", "Bytes of cleaned segments written."),
		recordsRead:       c("records_read_total", "Records of rewritten segments the cleaner examined."),
		recordsRemoved:    c("records_removed_total", "Records the cleaner removed (superseded, tombstones, aborted, keyless)."),
		segmentsRewritten: c("segments_rewritten_total", "Segments replaced by cleaned copies."),
		tombstonesRemoved: c("tombstones_removed_total", "Tombstones removed after their delete horizon."),
		txnsRemoved:       c("transaction_records_removed_total", "Records of aborted transactions and expired markers removed."),
		mapBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_log_cleaner_key_map_bytes",
			Help: "Memory the cleaners' key maps hold now (bounded by log.cleaner.dedupe.buffer.size)."}),
	}
	reg.MustRegister(m.passes, m.errors, m.bytesRead, m.bytesWritten, m.recordsRead, m.recordsRemoved,
		m.segmentsRewritten, m.tombstonesRemoved, m.txnsRemoved, m.mapBytes)
	return m
}

// cleanerState is what the cleaner loops share.
type cleanerState struct {
	metrics *cleanerMetrics
	pace    *pacer
	kick    chan struct{}
	mu      sync.Mutex
	busy    map[*partition]bool // being cleaned by a loop
	maps    map[int]int64       // key-map bytes held, by loop
}

// startCleaner starts log.cleaner.threads cleaner loops when
// log.cleaner.enable is set.
func (n *Node) startCleaner() {
	b := n.brokerCfg()
	if !b.Bool("log.cleaner.enable") {
		return
	}
	threads := int(b.Int64("log.cleaner.threads"))
	mapBytes := b.Int64("log.cleaner.dedupe.buffer.size") / int64(threads)
	n.cleaner.pace = &pacer{rate: func() int64 {
		r := n.brokerCfg().Float64("log.cleaner.io.max.bytes.per.second")
		if r <= 0 || r >= math.MaxInt64/2 {
			return 0
		}
		return int64(r)
	}}
	n.loops.Add(threads)
	for i := 0; i < threads; i++ {
		go n.runCleaner(i, mapBytes)
	}
}

// kickCleaner wakes the cleaner loops (tests and topic config changes).
func (n *Node) kickCleaner() {
	select {
	case n.cleaner.kick <- struct{}{}:
	default:
	}
}

// runCleaner is one cleaner loop. It owns its key map, allocated at the
// first pass and grown up to mapBytes; it stops when the node drains.
func (n *Node) runCleaner(id int, mapBytes int64) {
	defer n.loops.Done()
	ctx, cancel := n.drainContext()
	defer cancel()
	var keys *compact.KeyMap
	for {
		p, r := n.pickCleanable(time.Now())
		if p != nil {
			if keys == nil {
				keys = compact.NewKeyMap(mapBytes)
			}
			err := n.cleanPartition(ctx, p, r, keys)
			n.cleaner.mu.Lock()
			delete(n.cleaner.busy, p)
			n.cleaner.maps[id] = keys.Bytes()
			var total int64
			for _, b := range n.cleaner.maps {
				total += b
			}
			n.cleaner.mu.Unlock()
			n.cleaner.metrics.mapBytes.Set(float64(total))
			if err != nil && ctx.Err() == nil {
				n.cleaner.metrics.errors.Inc()
				n.log.Warn("cleaning partition", "topic", p.topic, "partition", p.index, "err", err)
			}
			if err == nil {
				continue // look for the next dirtiest at once
			}
		}
		wait := time.Duration(n.brokerCfg().Int64("log.cleaner.backoff.ms")) * time.Millisecond
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-n.cleaner.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// cleanPolicy is a topic's compaction settings.
func cleanPolicy(t kconfig.Topic) compact.Policy {
	return compact.Policy{
		MinDirtyRatio:   t.Float64("min.cleanable.dirty.ratio"),
		MinLag:          time.Duration(t.Int64("min.compaction.lag.ms")) * time.Millisecond,
		MaxLag:          satMs(t.Int64("max.compaction.lag.ms")),
		DeleteRetention: satMs(t.Int64("delete.retention.ms")),
	}
}

// satMs converts milliseconds to a Duration, saturating where Kafka's
// "forever" values (Long.MAX_VALUE) would overflow.
func satMs(ms int64) time.Duration {
	if ms >= math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ms) * time.Millisecond
}

// cleanableRange is the part of p's local log a pass may clean now.
func (p *partition) cleanableRange(now time.Time) (compact.Range, []compact.Segment, compact.Policy, bool) {
	cfg := p.cfg.Load()
	if !cfg.compacted || p.log.Failed() != nil || p.recovering.Load() {
		return compact.Range{}, nil, compact.Policy{}, false
	}
	pol := cleanPolicy(cfg.topic)
	stable := p.lastStable(p.hw.Load())
	if tp := p.tiered(); tp != nil {
		// Below the cold tier's end only: the uploader reads segments
		// by path and must never meet one being swapped.
		end, ok := tp.RemoteEndOffset()
		if !ok {
			return compact.Range{}, nil, pol, false
		}
		stable = min(stable, end)
	}
	infos := p.log.Segments()
	segs := make([]compact.Segment, len(infos))
	for i, s := range infos {
		segs[i] = compact.Segment{Base: s.BaseOffset, Next: s.NextOffset, Size: s.Size, MaxTimestamp: s.MaxTimestamp, Sealed: s.Sealed}
	}
	ck := p.log.CleanerCheckpoint()
	r := compact.Cleanable(segs, ck.FirstDirty, stable, now, pol)
	r.NextHorizon = ck.NextHorizon
	return r, segs, pol, true
}

// pickCleanable returns the hosted compacted partition most in need of
// cleaning, marked busy, or nil.
func (n *Node) pickCleanable(now time.Time) (*partition, compact.Range) {
	var best *partition
	var bestRange compact.Range
	bestScore := -1.0
	for _, p := range n.parts.all() {
		r, segs, pol, ok := p.cleanableRange(now)
		if !ok {
			continue
		}
		due, why := compact.Due(r, segs, now, pol)
		if !due {
			continue
		}
		score := r.Ratio()
		if why == "max compaction lag" {
			score += 1 // overdue partitions first
		}
		n.cleaner.mu.Lock()
		busy := n.cleaner.busy[p]
		n.cleaner.mu.Unlock()
		if !busy && score > bestScore {
			best, bestRange, bestScore = p, r, score
		}
	}
	if best == nil {
		return nil, compact.Range{}
	}
	n.cleaner.mu.Lock()
	defer n.cleaner.mu.Unlock()
	if n.cleaner.busy[best] {
		return nil, compact.Range{}
	}
	n.cleaner.busy[best] = true
	return best, bestRange
}

// errMapEmpty: not even the first dirty batch fit in the key map.
var errMapEmpty = errors.New("key map holds no batch")

// cleanPartition runs one pass over p: it maps the keys of [FirstDirty,
// End) (as far as the map holds), then rewrites every sealed segment
// below where the map ends, and moves the cleaner checkpoint there.
func (n *Node) cleanPartition(ctx context.Context, p *partition, r compact.Range, keys *compact.KeyMap) error {
	started := time.Now()
	keys.Reset()
	aborted := p.abortedForCleaner()
	mapEnd, read, err := p.mapKeys(ctx, r, keys, aborted, n.cleaner.pace)
	n.cleaner.metrics.bytesRead.Add(float64(read))
	if err != nil {
		return err
	}
	pol := cleanPolicy(p.cfg.Load().topic)
	c := &compact.Cleaner{
		Keys: keys, MapEnd: mapEnd, Now: time.Now().UnixMilli(),
		DeleteRetentionMs: pol.DeleteRetention.Milliseconds(), Aborted: aborted,
		LastBatch: p.producerLastBatches(),
	}
	var st compact.Stats
	var before, after int64
	rewritten := 0
	for _, seg := range p.log.Segments() {
		if seg.BaseOffset >= mapEnd || !seg.Sealed {
			break
		}
		res, err := p.log.CleanSegment(ctx, seg.BaseOffset, func(h record.Header, b []byte) ([]byte, error) {
			return c.Filter(h, b, &st)
		}, n.cleaner.pace.wait)
		if errors.Is(err, storage.ErrOffsetOutOfRange) && seg.BaseOffset < p.log.StartOffset() {
			continue // deleted by retention meanwhile
		}
		if err != nil {
			return err
		}
		n.cleaner.metrics.bytesRead.Add(float64(res.OldSize))
		before += res.OldSize
		after += res.NewSize
		if res.Replaced {
			rewritten++
			n.cleaner.metrics.bytesWritten.Add(float64(res.NewSize))
			n.cleaner.metrics.segmentsRewritten.Inc()
		}
	}
	if err := p.log.SetCleanerCheckpoint(storage.CleanerState{FirstDirty: mapEnd, NextHorizon: st.NextHorizon}); err != nil {
		return err
	}
	up, saved, replaced := n.replaceCleanedRemote(ctx, p)
	n.cleaner.metrics.passes.Inc()
	n.cleaner.metrics.recordsRead.Add(float64(st.RecordsRead))
	n.cleaner.metrics.recordsRemoved.Add(float64(st.RecordsRead - st.RecordsKept))
	n.cleaner.metrics.tombstonesRemoved.Add(float64(st.TombstonesRemoved))
	n.cleaner.metrics.txnsRemoved.Add(float64(st.AbortedRemoved + st.MarkersRemoved))
	n.log.Info("partition cleaned", "topic", p.topic, "partition", p.index,
		"dirty_from", r.FirstDirty, "mapped_to", mapEnd, "keys", keys.Len(), "segments_rewritten", rewritten,
		"bytes_before", before, "bytes_after", after, "records_removed", st.RecordsRead-st.RecordsKept,
		"tombstones_removed", st.TombstonesRemoved, "remote_replaced", replaced, "remote_bytes_uploaded", up,
		"remote_bytes_saved", saved, "took", time.Since(started))
	return nil
}

// replaceCleanedRemote carries p's cleaned local segments to the cold
// tier: each sealed local segment the store holds a copy of with exactly
// its range is uploaded in its place when it is smaller than the remote
// copy by at least min.cleanable.dirty.ratio (the same bar that starts a
// local pass, so the store is not rewritten for every key). Only the
// leader uploads.
func (n *Node) replaceCleanedRemote(ctx context.Context, p *partition) (uploaded, saved int64, replaced int) {
	tp := p.tiered()
	if tp == nil || !p.leadership().isLeader() {
		return 0, 0, 0
	}
	end, ok := tp.RemoteEndOffset()
	if !ok {
		return 0, 0, 0
	}
	ratio := p.cfg.Load().topic.Float64("min.cleanable.dirty.ratio")
	for _, seg := range p.log.Segments() {
		if !seg.Sealed || seg.NextOffset > end || ctx.Err() != nil {
			break
		}
		up, sv, err := tp.ReplaceCleaned(ctx, seg, ratio)
		switch {
		case err == nil:
			uploaded, saved, replaced = uploaded+up, saved+sv, replaced+1
		case errors.Is(err, tiering.ErrNotReplaced):
		default:
			n.log.Warn("uploading a cleaned segment to the cold tier; the remote copy stays as it was",
				"topic", p.topic, "partition", p.index, "segment", seg.BaseOffset, "err", err)
		}
	}
	return uploaded, saved, replaced
}

// mapKeys puts the keys of the dirty range into keys, batch by batch, and
// returns where the map ends: r.End, or the first batch that did not fit.
func (p *partition) mapKeys(ctx context.Context, r compact.Range, keys *compact.KeyMap, aborted *compact.Aborted, pace *pacer) (int64, int64, error) {
	off, read := r.FirstDirty, int64(0)
	for off < r.End {
		if err := ctx.Err(); err != nil {
			return 0, read, err
		}
		res, err := p.log.Read(off, 1<<20, r.End)
		if err != nil {
			return 0, read, fmt.Errorf("mapping keys from %d: %w", off, err)
		}
		b, err := res.Bytes()
		res.Release()
		if err != nil {
			return 0, read, fmt.Errorf("mapping keys from %d: %w", off, err)
		}
		if len(b) == 0 {
			return r.End, read, nil
		}
		read += int64(len(b))
		if err := pace.wait(ctx, len(b)); err != nil {
			return 0, read, err
		}
		hdrs, err := record.ValidateStored(b)
		if err != nil {
			return 0, read, fmt.Errorf("mapping keys from %d: %w", off, err)
		}
		pos := 0
		for _, h := range hdrs {
			stop, err := compact.MapBatch(keys, h, b[pos:pos+h.Size()], aborted, r.FirstDirty)
			if err != nil {
				return 0, read, err
			}
			if stop >= 0 {
				if stop <= r.FirstDirty {
					return 0, read, fmt.Errorf("%w at offset %d", errMapEmpty, stop)
				}
				return stop, read, nil // the map is full: the next pass starts here
			}
			pos += h.Size()
			off = h.NextOffset()
		}
	}
	return r.End, read, nil
}

// abortedForCleaner lists p's aborted transactions for a pass.
func (p *partition) abortedForCleaner() *compact.Aborted {
	p.prod.abortedMu.RLock()
	list := p.prod.aborted.List()
	p.prod.abortedMu.RUnlock()
	txns := make([]compact.AbortedTxn, len(list))
	for i, a := range list {
		txns[i] = compact.AbortedTxn{ProducerID: a.ProducerID, First: a.FirstOffset, Last: a.LastOffset}
	}
	return compact.NewAborted(txns)
}

// producerLastBatches returns, for the pass, each live producer's newest
// batch's last offset: that batch survives cleaning even when empty, so
// the producer's sequence does.
func (p *partition) producerLastBatches() func(int64) (int64, bool) {
	p.appendMu.Lock()
	entries := p.prod.state.Entries()
	p.appendMu.Unlock()
	last := make(map[int64]int64, len(entries))
	for _, e := range entries {
		if n := len(e.Batches); n > 0 {
			last[e.ProducerID] = e.Batches[n-1].LastOffset
		}
	}
	return func(pid int64) (int64, bool) { o, ok := last[pid]; return o, ok }
}
