package node

import (
	"errors"
	"time"

	"github.com/stratalog/strata/storage"
)

// Recovery of a failed log without a restart. After a failed fsync the
// page cache cannot be trusted (the kernel may have dropped the dirty pages
// and marked them clean), so the log is not retried in place: runRecover
// cuts it back to its last synced offset and reopens it through the crash
// path (storage.Log.Recover), then rebuilds what the partition derived from
// the cut records (high watermark, producer state). Appends are refused with
// a retriable KAFKA_STORAGE_ERROR meanwhile.

const (
	recoverBackoffMin = 100 * time.Millisecond
	recoverBackoffMax = 10 * time.Second
)

// syncFailed handles a failed group-commit fsync of the partition's log
// (one call per waiting request: the log line is rate-limited).
func (p *partition) syncFailed(err error) {
	if logNow, held := p.syncFailLog.allow(10 * time.Second); logNow {
		p.n.log.Error("fsync failed", "topic", p.topic, "partition", p.index, "dir", p.log.Dir(), "err", err, "repeats", held)
	}
	if errors.Is(err, storage.ErrLogFailed) {
		p.startRecover(err)
	}
}

// startRecover starts runRecover unless it is running or the node is
// stopping.
func (p *partition) startRecover(cause error) {
	if p.n.draining() || !p.recovering.CompareAndSwap(false, true) {
		return
	}
	p.n.log.Warn("recovering partition log from its last synced state", "topic", p.topic, "partition", p.index,
		"dir", p.log.Dir(), "synced", p.log.SyncedOffset(), "cause", cause)
	p.n.parts.recovers.Add(1)
	go p.runRecover()
}

// runRecover retries the log's recovery with backoff until it succeeds or
// the node drains. It is owned by the partition set, which waits for it
// before closing the logs.
func (p *partition) runRecover() {
	defer p.n.parts.recovers.Done()
	defer p.recovering.Store(false)
	backoff := recoverBackoffMin
	for attempt := 1; ; attempt++ {
		p.appendMu.Lock()
		err := p.log.Recover()
		if err == nil {
			p.resetAfterRecover()
		}
		p.appendMu.Unlock()
		if err == nil {
			p.loadProducers()
			p.n.log.Warn("partition log recovered; serving again", "topic", p.topic, "partition", p.index,
				"end", p.log.EndOffset(), "attempts", attempt)
			return
		}
		if errors.Is(err, storage.ErrClosed) {
			return
		}
		p.n.log.Error("recovering partition log failed; retrying", "topic", p.topic, "partition", p.index,
			"dir", p.log.Dir(), "attempt", attempt, "retry_in", backoff, "err", err)
		select {
		case <-p.n.drain:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, recoverBackoffMax)
	}
}

// resetAfterRecover drops the partition's bookkeeping of records the
// recovery cut. It needs appendMu.
func (p *partition) resetAfterRecover() {
	end := p.log.EndOffset()
	for {
		hw := p.hw.Load()
		if hw <= end || p.hw.CompareAndSwap(hw, end) {
			break
		}
	}
	p.mu.Lock()
	p.dropPendingPastLocked(end)
	p.mu.unflushed = 0
	p.mu.Unlock()
}

// dropPendingPastLocked forgets the appended-bytes bookkeeping of records
// at or past end, which a truncation or recovery cut. p.mu is held.
func (p *partition) dropPendingPastLocked(end int64) {
	kept := p.mu.pending[:0]
	for _, pb := range p.mu.pending {
		if pb.end <= end {
			kept = append(kept, pb)
		}
	}
	p.mu.pending = kept
}
