package node

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/producer"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
)

// partProducers is a partition's producer state: the sequence and epoch
// checks of idempotent producers, open transactions (which bound the last
// stable offset) and aborted transactions (for read_committed fetches).
//
// state and lastSnapshotBase are guarded by partition.appendMu, so a
// produce's check and its append are one atomic step. firstOpen is
// published for fetches without that lock; aborted has its own lock.
type partProducers struct {
	state            *producer.State
	lastSnapshotBase int64
	firstOpen        atomic.Int64 // first offset of the earliest open transaction, -1 when none

	abortedMu sync.RWMutex
	aborted   producer.Aborted
}

// txnMarker describes a commit or abort marker the broker appends.
type txnMarker struct {
	producerID       int64
	epoch            int16
	coordinatorEpoch int32
	commit           bool
}

// checkProducers runs under appendMu before an append.
func (p *partition) checkProducers(hdrs []record.Header, m *txnMarker) (*producer.Duplicate, error) {
	if m != nil {
		return nil, p.prod.state.CheckMarker(m.producerID, m.epoch)
	}
	return p.prod.state.Check(hdrs)
}

// updateProducers runs under appendMu after a successful append (hdrs
// carry their assigned offsets).
func (p *partition) updateProducers(hdrs []record.Header, m *txnMarker) {
	now := time.Now().UnixMilli()
	if m == nil {
		p.prod.state.Update(hdrs, now)
	} else if a, ok := p.prod.state.CompleteTxn(m.producerID, m.epoch, m.coordinatorEpoch, m.commit, hdrs[0].BaseOffset, now); ok {
		p.addAborted(a, true)
	}
	p.prod.firstOpen.Store(p.prod.state.FirstOpenTxnOffset())
}

func (p *partition) addAborted(a producer.AbortedTxn, persist bool) {
	p.prod.abortedMu.Lock()
	added := p.prod.aborted.Add(a)
	p.prod.abortedMu.Unlock()
	if !added || !persist {
		return
	}
	if err := p.log.AppendAbortedTxn(storage.AbortedTxnEntry(a)); err != nil {
		// The marker is in the log: replaying the tail on the next open
		// indexes it again.
		p.n.log.Error("writing aborted transaction index", "topic", p.topic, "partition", p.index, "err", err)
	}
}

// ackDuplicate answers a retried batch with the offsets it got the first
// time, once those are durable.
func (p *partition) ackDuplicate(d *producer.Duplicate, acks int16, done func(error)) storage.AppendInfo {
	info := storage.AppendInfo{FirstOffset: d.FirstOffset, LastOffset: d.LastOffset, LogAppendTime: -1}
	if done == nil {
		return info
	}
	if acks == -1 {
		p.waitHW(d.LastOffset+1, done)
		return info
	}
	if p.cfg.Load().syncEveryAppend() {
		p.n.syncer.Sync(p.log, d.LastOffset+1, done)
	} else {
		done(nil)
	}
	return info
}

// lastStable is the last stable offset given the high watermark: the
// first offset of the earliest open transaction, or hw when that is lower
// or none is open.
func (p *partition) lastStable(hw int64) int64 {
	if f := p.prod.firstOpen.Load(); f >= 0 && f < hw {
		return f
	}
	return hw
}

// abortedIn lists the aborted transactions a read_committed fetch of
// [from, upto) must skip.
func (p *partition) abortedIn(from, upto int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	p.prod.abortedMu.RLock()
	list := p.prod.aborted.Overlapping(from, upto)
	p.prod.abortedMu.RUnlock()
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, 0, len(list))
	for _, a := range list {
		t := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		t.ProducerID, t.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, t)
	}
	return out
}

// appendMarker appends a commit or abort marker and calls done once it is
// durable.
func (p *partition) appendMarker(m txnMarker, done func(error)) error {
	batch := record.ControlBatch(m.producerID, m.epoch, m.commit, m.coordinatorEpoch, time.Now().UnixMilli())
	h, err := record.ParseHeader(batch)
	if err != nil {
		return err
	}
	_, err = p.appendChecked(batch, []record.Header{h}, &m, -1, done)
	return err
}

// parseMarker reads the end-transaction record of a control batch.
func parseMarker(batch []byte) (commit bool, coordinatorEpoch int32, ok bool) {
	_ = record.ForEachRecord(batch, func(r record.Record) bool {
		var k kmsg.ControlRecordKey
		if k.ReadFrom(r.Key) != nil || k.Type > kmsg.ControlRecordKeyTypeCommit {
			return false
		}
		var v kmsg.EndTxnMarker
		if v.ReadFrom(r.Value) != nil {
			return false
		}
		commit, coordinatorEpoch, ok = k.Type == kmsg.ControlRecordKeyTypeCommit, v.CoordinatorEpoch, true
		return false
	})
	return commit, coordinatorEpoch, ok
}

// loadProducers rebuilds the producer state when the partition opens: the
// newest usable snapshot, the aborted-transaction indexes, then a replay
// of the log from the snapshot to the end.
func (p *partition) loadProducers() {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.loadProducersLocked()
}

// loadProducersLocked is loadProducers for a caller holding appendMu.
func (p *partition) loadProducersLocked() {
	st, from := producer.New(), p.log.StartOffset()
	end := p.log.EndOffset()
	offs, err := p.log.ProducerSnapshotOffsets()
	if err != nil {
		p.n.log.Warn("listing producer snapshots", "topic", p.topic, "partition", p.index, "err", err)
	}
	for i := len(offs) - 1; i >= 0; i-- {
		if offs[i] > end {
			_ = p.log.RemoveProducerSnapshot(offs[i])
			continue
		}
		data, err := p.log.ReadProducerSnapshot(offs[i])
		var s *producer.State
		var at int64
		var aborted []producer.AbortedTxn
		if err == nil {
			s, at, aborted, err = producer.UnmarshalWithAborted(data)
		}
		if err != nil {
			p.n.log.Warn("ignoring producer snapshot", "topic", p.topic, "partition", p.index, "offset", offs[i], "err", err)
			_ = p.log.RemoveProducerSnapshot(offs[i])
			continue
		}
		st, from = s, max(at, from)
		// The snapshot carries aborted transactions whose segments may have
		// left local disk (tiered), so their .txnindex files are gone.
		p.prod.abortedMu.Lock()
		for _, a := range aborted {
			p.prod.aborted.Add(a)
		}
		p.prod.abortedMu.Unlock()
		break
	}
	p.prod.state = st
	if entries, err := p.log.AbortedTxns(); err != nil {
		p.n.log.Warn("reading aborted transaction indexes", "topic", p.topic, "partition", p.index, "err", err)
	} else {
		for _, e := range entries {
			p.prod.aborted.Add(producer.AbortedTxn(e))
		}
	}
	replayed, err := p.replayProducers(from, end)
	if err != nil {
		p.n.log.Warn("replaying the log into producer state", "topic", p.topic, "partition", p.index, "from", from, "err", err)
	}
	p.prod.firstOpen.Store(st.FirstOpenTxnOffset())
	p.prod.lastSnapshotBase = -1
	if segs := p.log.Segments(); len(segs) > 0 {
		p.prod.lastSnapshotBase = segs[len(segs)-1].BaseOffset
	}
	if replayed > 0 {
		p.n.log.Info("rebuilt producer state", "topic", p.topic, "partition", p.index, "from", from, "batches", replayed, "producers", st.Len())
	}
}

// replayProducers applies the batches of [from, end) to the state, as
// they were applied when appended. It needs appendMu.
func (p *partition) replayProducers(from, end int64) (int, error) {
	now := time.Now().UnixMilli()
	n := 0
	err := forEachBatch(p.localBatches(end), from, end, func(h record.Header, batch []byte) error {
		if h.ProducerID < 0 {
			return nil
		}
		n++
		p.applyBatch(h, batch, now)
		return nil
	})
	return n, err
}

// applyBatch applies one stored batch to the producer state, as its append
// did: replaying the log, or a follower appending its leader's batches.
// It needs appendMu.
func (p *partition) applyBatch(h record.Header, batch []byte, now int64) {
	if h.ProducerID < 0 {
		return
	}
	if !h.IsControl() {
		p.prod.state.Update([]record.Header{h}, now)
		return
	}
	if commit, ce, ok := parseMarker(batch); ok {
		if a, ok := p.prod.state.CompleteTxn(h.ProducerID, h.ProducerEpoch, ce, commit, h.BaseOffset, now); ok {
			p.addAborted(a, true)
		}
	}
}

// snapshotProducers writes the producer state as of the log end (on clean
// close, and after a roll from housekeeping).
func (p *partition) snapshotProducers() {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.snapshotProducersLocked()
}

func (p *partition) snapshotProducersLocked() {
	if p.prod.state == nil {
		return
	}
	end := p.log.EndOffset()
	p.prod.abortedMu.RLock()
	aborted := p.prod.aborted.List()
	p.prod.abortedMu.RUnlock()
	data, err := p.prod.state.MarshalWithAborted(end, aborted)
	if err == nil {
		err = p.log.WriteProducerSnapshot(end, data)
	}
	if err != nil {
		p.n.log.Warn("writing producer snapshot", "topic", p.topic, "partition", p.index, "err", err)
	}
}

// housekeepProducersLocked snapshots after a roll and, on retention
// passes, expires idle producers and forgets aborted transactions below
// the log start. It needs appendMu.
func (p *partition) housekeepProducersLocked(now time.Time, retention bool) {
	if p.prod.state == nil {
		return
	}
	if segs := p.log.Segments(); len(segs) > 0 && segs[len(segs)-1].BaseOffset != p.prod.lastSnapshotBase {
		p.prod.lastSnapshotBase = segs[len(segs)-1].BaseOffset
		p.snapshotProducersLocked()
	}
	if !retention {
		return
	}
	if n := p.prod.state.Expire(now.UnixMilli(), p.n.brokerCfg().Int64("producer.id.expiration.ms")); n > 0 {
		p.n.log.Debug("expired producers", "topic", p.topic, "partition", p.index, "count", n)
	}
	p.prod.abortedMu.Lock()
	// The whole log's start: tiered segments below the local start are
	// still served to read_committed consumers and need their aborts.
	p.prod.aborted.DropBefore(p.logStartOffset())
	p.prod.abortedMu.Unlock()
}

// resetAborted forgets the aborted transactions, before a truncated log's
// producer state is rebuilt from what is left of it.
func (pp *partProducers) resetAborted() {
	pp.abortedMu.Lock()
	pp.aborted = producer.Aborted{}
	pp.abortedMu.Unlock()
}
