package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/replica"
)

// Replication, leader side. Followers fetch with their broker ID set (the
// replica ID of Fetch v4-14, the ReplicaState of v15+); the leader answers
// from its log end offset rather than the high watermark, records each
// follower's fetch offset as its log end offset (followers fetch the next
// records only once the previous ones are durable, so that offset is what
// the follower has fsynced), and moves the high watermark to the lowest
// log end offset of the ISR (replica.Tracker). An acks=all produce is
// answered once the high watermark passes its batches. The ISR shrinks
// when a follower is not caught up for replica.lag.time.max.ms and grows
// when one reaches the high watermark; the leader asks the controller for
// each change with the leader epoch and the ISR it last saw as guards.

// replState is a partition's replication state.
type replState struct {
	mu         sync.Mutex
	tracker    *replica.Tracker // while leader
	epoch      int32            // the leader epoch tracker belongs to
	epochStart int64            // log end offset when that leadership began
	isrSentAt  time.Time        // an ISR change was asked for and not yet applied
	// pendingISR is the ISR this leader asked for (at pendingEpoch) until
	// its leadership shows the members it adds: the high watermark counts
	// them from the moment of asking (Kafka's "maximal ISR"), so a record
	// acknowledged meanwhile is on every replica the committed ISR names,
	// and an election or a reassignment that picks a new member cannot
	// lose it.
	pendingISR   []int32
	pendingEpoch int32
	pendingAt    time.Time
	stranded     bool  // last housekeeping found this leader stranded
	ckptHW       int64 // high watermark last checkpointed
	ckptAt       time.Time
	follow       atomic.Pointer[followState] // while follower (replication_follower.go)
	leftISRAt    atomic.Int64                // unix ns this follower last asked to leave the ISR (leaveISR)
	resets       atomic.Uint64               // follower log restarts at the leader's log start (outOfRange)
}

// ackWaiter is an acks=all produce waiting for the high watermark.
type ackWaiter struct {
	end  int64
	done func(error)
}

var errNotLeaderNow = fmt.Errorf("%w: leadership moved before the write reached the ISR", kerr.NotLeaderForPartition)

var errStranded = fmt.Errorf("%w: this leader has lost its lease with the controller and hears from none of its in-sync followers; another broker has most likely been elected", kerr.NotLeaderForPartition)

// stranded reports whether this leader should stop taking writes: it has
// lost its controller lease (a majority that can reach the controller has
// fenced it by now) and none of its in-sync followers has fetched for
// longer than both the session timeout and two follower long polls — the
// picture of a leader cut off from the rest of the cluster. It could not
// acknowledge an acks=all write anyway; refusing (NOT_LEADER_OR_FOLLOWER)
// instead of holding requests until they time out sends clients to the
// new leader within a second or two, and its acks=1 writes, which the
// returning node would truncate, are not taken. A controller failover
// alone does not strand anybody: followers go on fetching. A leader alone
// in its ISR is never stranded (nobody else can be elected cleanly).
func (p *partition) stranded(now time.Time) bool {
	rt := p.n.cluster
	l := p.leadership()
	if rt == nil || !l.isLeader() || len(l.isr) < 2 || !rt.LeaseLapsed(now) {
		return false
	}
	cfg := p.n.brokerCfg()
	quiet := max(time.Duration(cfg.Int64("broker.session.timeout.ms")), 2*time.Duration(cfg.Int64("replica.fetch.wait.max.ms"))) * time.Millisecond
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	return p.repl.tracker != nil && p.repl.epoch == l.epoch && p.repl.tracker.Stranded(l.isr, now, quiet)
}

// strandedLeader is stranded for a hosted partition, false otherwise.
func (n *Node) strandedLeader(topic string, part int32, now time.Time) bool {
	p := n.parts.get(topic, part)
	return p != nil && p.stranded(now)
}

// hwMinISR is the ISR size below which the high watermark holds (KIP-966):
// min.insync.replicas, capped at the replication factor so a topic whose
// setting exceeds its replicas still serves acks=1 and acks=0 writes (its
// acks=all writes are refused).
func hwMinISR(cfg *partConfig, l *leadership) int {
	return max(1, min(int(cfg.topic.Int64("min.insync.replicas")), len(l.replicas)))
}

// checkMinISR refuses an acks=all write while the ISR is smaller than
// min.insync.replicas (NOT_ENOUGH_REPLICAS, retriable).
func (p *partition) checkMinISR(cfg *partConfig) error {
	l := p.leadership()
	if m := int(cfg.topic.Int64("min.insync.replicas")); len(l.isr) < m {
		return fmt.Errorf("%w: the ISR %v of %s-%d has %d members, min.insync.replicas is %d",
			kerr.NotEnoughReplicas, l.isr, p.topic, p.index, len(l.isr), m)
	}
	return nil
}

// waitHW calls done once the high watermark reaches end, or with
// NOT_LEADER_OR_FOLLOWER if this node stops leading first.
func (p *partition) waitHW(end int64, done func(error)) {
	p.mu.Lock()
	if !p.leadership().isLeader() {
		p.mu.Unlock()
		done(errNotLeaderNow)
		return
	}
	if p.hw.Load() >= end {
		p.mu.Unlock()
		done(nil)
		return
	}
	i := len(p.mu.acks)
	for i > 0 && p.mu.acks[i-1].end > end {
		i--
	}
	p.mu.acks = slices.Insert(p.mu.acks, i, ackWaiter{end: end, done: done})
	p.mu.Unlock()
}

// failAcks answers every waiting acks=all produce with err.
func (p *partition) failAcks(err error) {
	p.mu.Lock()
	acks := p.mu.acks
	p.mu.acks = nil
	p.mu.Unlock()
	for _, a := range acks {
		a.done(err)
	}
}

// replWaitersLocked returns the parked follower fetches; p.mu is held.
func (p *partition) replWaitersLocked() []*fetchWaiter {
	if len(p.mu.replWaiters) == 0 {
		return nil
	}
	out := make([]*fetchWaiter, 0, len(p.mu.replWaiters))
	for w := range p.mu.replWaiters {
		out = append(out, w)
	}
	return out
}

// durableOffset is the leader's own offset as the high watermark counts
// it: the fsynced offset, or the log end when the topic's flush policy
// does not wait for fsync.
func (p *partition) durableOffset(cfg *partConfig) int64 {
	if cfg.syncEveryAppend() {
		return p.log.SyncedOffset()
	}
	return p.log.EndOffset()
}

// updateHW moves the high watermark as far as the ISR allows.
func (p *partition) updateHW() {
	l := p.leadership()
	if !l.isLeader() {
		return
	}
	cfg := p.cfg.Load()
	durable := p.durableOffset(cfg)
	p.repl.mu.Lock()
	tr := p.repl.tracker
	hw, ok := int64(0), false
	if tr != nil && p.repl.epoch == l.epoch {
		hw, ok = tr.HighWatermark(p.hwISRLocked(l), durable, hwMinISR(cfg, l))
	}
	p.repl.mu.Unlock()
	if ok {
		p.advanceHW(hw)
	}
}

// hwISRLocked is the ISR the high watermark is computed over: the applied
// one, with the members of an ISR change this leader asked for added from
// the moment it asked until its leadership shows them. repl.mu is held.
func (p *partition) hwISRLocked(l *leadership) []int32 {
	pend := p.repl.pendingISR
	// A change whose outcome was unknown and that the leadership still
	// does not show after pendingISRWait did not commit (metadata applies
	// within milliseconds): the members stop counting, so a follower that
	// died meanwhile cannot hold the high watermark for good.
	if pend == nil || p.repl.pendingEpoch != l.epoch || time.Since(p.repl.pendingAt) > pendingISRWait {
		p.repl.pendingISR = nil
		return l.isr
	}
	isr := l.isr
	for _, id := range pend {
		if !slices.Contains(isr, id) {
			if len(isr) == len(l.isr) {
				isr = slices.Clone(l.isr)
			}
			isr = append(isr, id)
		}
	}
	if len(isr) == len(l.isr) {
		p.repl.pendingISR = nil // applied (or it only removed members)
	}
	return isr
}

// pendingISRWait is how long members of an ISR change a leader asked for
// count toward its high watermark before its leadership shows them.
const pendingISRWait = 3 * isrRetryAfter

// applyRole acts on a leadership change (old is nil when the partition
// opens): a new leader starts tracking its followers and records its epoch
// in the log; a follower stops, answers waiting acks=all writes with
// NOT_LEADER_OR_FOLLOWER and fetches from its leader.
func (p *partition) applyRole(old, l *leadership) {
	self := p.n.cfg.NodeID
	now := time.Now()
	if l.isLeader() {
		p.n.fetchers.remove(p)
		p.repl.mu.Lock()
		fresh := p.repl.tracker == nil || p.repl.epoch != l.epoch
		if fresh {
			p.repl.tracker = replica.NewTracker(self, l.replicas, now)
			p.repl.epoch = l.epoch
			p.repl.epochStart = p.log.EndOffset()
		} else {
			p.repl.tracker.SetReplicas(l.replicas, now)
		}
		if old != nil && !slices.Equal(old.isr, l.isr) {
			p.repl.isrSentAt = time.Time{}
		}
		p.repl.mu.Unlock()
		if fresh {
			if err := p.log.AssignEpoch(l.epoch); err != nil {
				p.n.log.Warn("recording leader epoch", "topic", p.topic, "partition", p.index, "epoch", l.epoch, "err", err)
			}
		}
		p.updateHW()
		if fresh {
			// Followers parked here for other partitions learn of this
			// one in their next fetch: answer their polls now.
			for _, id := range l.replicas {
				if id != self {
					p.n.parked.supersede(id)
				}
			}
			if p.n.tier != nil {
				p.n.tier.Wake() // a new leader reads the store's manifest first
			}
		}
		return
	}
	p.repl.mu.Lock()
	p.repl.tracker = nil
	p.repl.mu.Unlock()
	if tp := p.tier.Load(); tp != nil {
		tp.BecameFollower()
	}
	p.failAcks(errNotLeaderNow)
	if l.leader >= 0 && l.leader != self && slices.Contains(l.replicas, self) {
		p.n.fetchers.follow(p, l.leader, l.epoch)
	} else {
		p.n.fetchers.remove(p)
	}
}

// onFollowerFetch records a follower's fetch at offset, moves the high
// watermark and asks for the follower's return to the ISR when it has
// caught up. It reports false for a broker that is not a replica.
func (p *partition) onFollowerFetch(id int32, offset int64) bool {
	now := time.Now()
	p.repl.mu.Lock()
	tr := p.repl.tracker
	ok := tr != nil && tr.OnFetch(id, offset, p.log.EndOffset(), now)
	p.repl.mu.Unlock()
	if !ok {
		return false
	}
	p.updateHW()
	if !slices.Contains(p.leadership().isr, id) {
		p.maybeChangeISR(now)
	}
	return true
}

// followerHas reports whether follower id has fetched past offset, as this
// leader last heard (the replica a consumer may be sent to must hold what
// it asks for).
func (p *partition) followerHas(id int32, offset int64) bool {
	p.repl.mu.Lock()
	defer p.repl.mu.Unlock()
	if p.repl.tracker == nil {
		return false
	}
	f := p.repl.tracker.Follower(id)
	return f != nil && f.LEO >= offset
}

// maybeChangeISR asks the controller for the ISR the tracker wants, unless
// it equals the current one or a change is already on its way.
func (p *partition) maybeChangeISR(now time.Time) {
	l := p.leadership()
	if !l.isLeader() || len(l.replicas) < 2 {
		return
	}
	lag := time.Duration(p.n.brokerCfg().Int64("replica.lag.time.max.ms")) * time.Millisecond
	// Asked only of a follower about to join, so the broker list is not
	// read on every fetch of a catching-up follower.
	fenced := func(id int32) bool {
		for _, b := range p.n.meta.Brokers() {
			if b.ID == id {
				return b.Fenced
			}
		}
		return true
	}
	p.repl.mu.Lock()
	if p.repl.tracker == nil || p.repl.epoch != l.epoch || (!p.repl.isrSentAt.IsZero() && now.Sub(p.repl.isrSentAt) < isrRetryAfter) {
		p.repl.mu.Unlock()
		return
	}
	isr, changed := p.repl.tracker.ISRChange(l.replicas, l.isr, p.highWatermark(), p.repl.epochStart, now, lag, fenced)
	if !changed {
		p.repl.mu.Unlock()
		return
	}
	p.repl.isrSentAt = now
	p.repl.pendingISR, p.repl.pendingEpoch, p.repl.pendingAt = slices.Clone(isr), l.epoch, now
	p.repl.mu.Unlock()
	p.n.isrChanges.Add(1)
	go p.runAlterISR(l, isr)
}

// isrRetryAfter is how long a leader waits for an ISR change it asked for
// to be applied before asking again.
const isrRetryAfter = 2 * time.Second

// runAlterISR asks the controller to set the ISR, guarded by the leader
// epoch and the ISR the decision was made from. Owned by the partition;
// it ends when the controller answers or after a timeout.
func (p *partition) runAlterISR(l *leadership, isr []int32) {
	defer p.n.isrChanges.Done()
	ctx, cancel := context.WithTimeout(context.Background(), isrRetryAfter)
	defer cancel()
	err := p.n.meta.UpdatePartition(ctx, meta.PartitionUpdate{
		Topic: p.topic, Partition: p.index, Leader: p.n.cfg.NodeID, ISR: isr,
		ExpectedLeaderEpoch: l.epoch, ExpectedISR: slices.Clone(l.isr),
	})
	switch {
	case err == nil:
		p.n.metrics.isrChanges.WithLabelValues(isrDirection(l.isr, isr)).Inc()
		p.n.log.Info("ISR changed", "topic", p.topic, "partition", p.index, "leader_epoch", l.epoch, "from", l.isr, "to", isr)
	case errors.Is(err, meta.ErrStaleEpoch), errors.Is(err, meta.ErrIneligibleReplica):
		// Stale: the partition changed meanwhile. Ineligible: a follower
		// was fenced after this leader last read the brokers.
		p.n.log.Debug("ISR change refused", "topic", p.topic, "partition", p.index, "err", err)
	default:
		p.n.log.Warn("ISR change failed", "topic", p.topic, "partition", p.index, "from", l.isr, "to", isr, "err", err)
	}
	if err != nil {
		p.repl.mu.Lock()
		p.repl.isrSentAt = time.Time{}
		if errors.Is(err, meta.ErrStaleEpoch) || errors.Is(err, meta.ErrIneligibleReplica) {
			// Refused: nothing was committed. Any other failure may have
			// committed, so the added members keep counting until the
			// next decision replaces the request.
			p.repl.pendingISR = nil
		}
		p.repl.mu.Unlock()
	}
}

func isrDirection(from, to []int32) string {
	if len(to) < len(from) {
		return "shrink"
	}
	return "expand"
}

// housekeepReplication runs from housekeeping: the ISR shrink check of a
// leader and the high watermark checkpoint of a replicated partition.
func (p *partition) housekeepReplication(now time.Time) {
	l := p.leadership()
	if len(l.replicas) < 2 {
		return
	}
	if l.isLeader() {
		p.maybeChangeISR(now)
		p.checkStranded(now)
	}
	hw := p.highWatermark()
	p.repl.mu.Lock()
	due := hw != p.repl.ckptHW && now.Sub(p.repl.ckptAt) >= hwCheckpointEvery
	if due {
		p.repl.ckptHW, p.repl.ckptAt = hw, now
	}
	p.repl.mu.Unlock()
	if due {
		p.checkpointHW(hw)
	}
}

// checkStranded logs a leader becoming stranded or recovering, and fails
// the acks=all writes waiting on a stranded one.
func (p *partition) checkStranded(now time.Time) {
	st := p.stranded(now)
	p.repl.mu.Lock()
	was := p.repl.stranded
	p.repl.stranded = st
	p.repl.mu.Unlock()
	switch {
	case st && !was:
		p.n.metrics.stranded.Inc()
		p.n.log.Warn("leader stranded: no controller lease and no fetch from any in-sync follower; refusing writes until either returns",
			"topic", p.topic, "partition", p.index, "isr", p.leadership().isr)
		p.failAcks(errStranded)
	case st:
		p.failAcks(errStranded)
	case was:
		p.n.log.Info("leader no longer stranded", "topic", p.topic, "partition", p.index)
	}
}

// hwCheckpointEvery is Kafka's replica.high.watermark.checkpoint.interval.ms.
const hwCheckpointEvery = 5 * time.Second

func (p *partition) checkpointHW(hw int64) {
	if err := p.log.CheckpointHighWatermark(hw); err != nil {
		p.n.log.Warn("checkpointing high watermark", "topic", p.topic, "partition", p.index, "hw", hw, "err", err)
	}
}

// replicaFetchID is the broker ID a Fetch carries, or -1 for a consumer.
func replicaFetchID(r *request, req *kmsg.FetchRequest) int32 {
	if r.version >= 15 {
		return req.ReplicaState.ID
	}
	return req.ReplicaID
}

// handleReplicaFetch answers a follower's fetch: records up to the log end
// offset of each partition this node leads, long-polling until one of them
// grows past the follower's offset.
func (n *Node) handleReplicaFetch(r *request, rep *reply, req *kmsg.FetchRequest, id int32) {
	if n.namesNewerEpochFetch(r, req) {
		n.safeGo(r, rep, func() {
			n.awaitNewerEpochs(func() bool { return n.namesNewerEpochFetch(r, req) })
			n.serveReplicaFetch(r, rep, req, id)
		})
		return
	}
	n.serveReplicaFetch(r, rep, req, id)
}

// newerEpochWait bounds how long a request naming a leader epoch newer
// than this node has applied waits for the node's metadata to catch up:
// the raft leader applies a change first, and a follower on it would
// otherwise get UNKNOWN_LEADER_EPOCH or NOT_LEADER_OR_FOLLOWER from its new
// leader and back off for replica.fetch.backoff.ms (100 ms) before its
// first fetch there — the whole time the new leader's first acks=all
// writes wait for it.
const newerEpochWait = 250 * time.Millisecond

// namesNewerEpoch reports whether any (partition, epoch) pair names an
// epoch newer than the partition's applied one here.
func (n *Node) namesNewerEpoch(pairs func(yield func(*partition, int32) bool)) bool {
	newer := false
	pairs(func(p *partition, epoch int32) bool {
		if p != nil && epoch >= 0 && epoch > p.leadership().epoch {
			newer = true
			return false
		}
		return true
	})
	return newer
}

func (n *Node) namesNewerEpochFetch(r *request, req *kmsg.FetchRequest) bool {
	return n.namesNewerEpoch(func(yield func(*partition, int32) bool) {
		for _, rt := range req.Topics {
			name, known := n.fetchTopicName(r, rt)
			for _, rp := range rt.Partitions {
				if known && !yield(n.parts.get(name, rp.Partition), rp.CurrentLeaderEpoch) {
					return
				}
			}
		}
	})
}

// awaitNewerEpochs waits, at most newerEpochWait, while newer reports that
// the request still names an epoch this node has not applied; each newly
// applied metadata version re-checks it.
func (n *Node) awaitNewerEpochs(newer func() bool) {
	timer := time.NewTimer(newerEpochWait)
	defer timer.Stop()
	for {
		_, changed := n.applied.load()
		if !newer() {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			return
		case <-n.drain:
			return
		}
	}
}

// serveReplicaFetch is handleReplicaFetch once the epochs it names are
// known here (or the wait for them ended).
func (n *Node) serveReplicaFetch(r *request, rep *reply, req *kmsg.FetchRequest, id int32) {
	// A follower that sends a new fetch while an older one is parked has
	// new partitions to follow (it interrupted its poll): the old one
	// answers now, so the new one is not queued behind its wait.
	n.parked.supersede(id)
	resp, splice, total, parts, offsets := n.readReplicaFetch(r, req, id, true)
	if total > 0 || req.MaxWaitMillis <= 0 || len(parts) == 0 || n.draining() {
		rep.finishSplice(resp, splice)
		return
	}
	splice.release()
	w := newReplicaWaiter(n, parts, offsets, time.Duration(req.MaxWaitMillis)*time.Millisecond)
	n.parked.add(id, w)
	n.safeGo(r, rep, func() {
		w.wait()
		n.parked.remove(id, w)
		resp, splice, _, _, _ := n.readReplicaFetch(r, req, id, false)
		rep.finishSplice(resp, splice)
	})
}

// readReplicaFetch reads a follower fetch. With record it records each
// partition's fetch offset as the follower's log end offset. It returns
// the partitions that answered without error and their fetch offsets, for
// the long poll.
func (n *Node) readReplicaFetch(r *request, req *kmsg.FetchRequest, id int32, record bool) (*kmsg.FetchResponse, *spliceSet, int64, []*partition, []int64) {
	resp := kmsg.NewPtrFetchResponse()
	splice := &spliceSet{}
	maxTotal := int64(req.MaxBytes)
	if maxTotal <= 0 {
		maxTotal = 10 << 20
	}
	var (
		total   int64
		parts   []*partition
		offsets []int64
	)
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name, known := n.fetchTopicName(r, rt)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.RecordBatches = []byte{}
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			var p *partition
			code := int16(0)
			switch {
			case !known:
				code = kerr.UnknownTopicID.Code
			default:
				p, code = n.lookupPartition(name, rp.Partition)
			}
			if code == 0 {
				code = checkLeaderEpoch(p, rp.CurrentLeaderEpoch)
			}
			if code == 0 && !slices.Contains(p.leadership().replicas, id) {
				code = kerr.NotLeaderForPartition.Code
			}
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			leo := p.log.EndOffset()
			sp.HighWatermark = p.highWatermark()
			sp.LastStableOffset = p.lastStable(sp.HighWatermark)
			sp.LogStartOffset = p.log.StartOffset() // the local start: a follower begins where the leader's disk does
			if rp.FetchOffset < sp.LogStartOffset || rp.FetchOffset > leo {
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if record {
				p.onFollowerFetch(id, rp.FetchOffset)
				sp.HighWatermark = p.highWatermark()
				sp.LastStableOffset = p.lastStable(sp.HighWatermark)
			}
			limit := min(int64(rp.PartitionMaxBytes), maxTotal-total)
			if rp.FetchOffset < leo && (limit > 0 || total == 0) {
				rr, err := p.log.Read(rp.FetchOffset, int(max(limit, 1)), leo)
				switch {
				case err != nil:
					sp.ErrorCode = errCode(err)
				case rr.Size > 0 && (total == 0 || rr.Size <= limit):
					sp.RecordBatches = splice.add(rr)
					total += rr.Size
					n.metrics.replicationOut.Add(float64(rr.Size))
				default:
					rr.Release()
				}
			}
			parts = append(parts, p)
			offsets = append(offsets, rp.FetchOffset)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, splice, total, parts, offsets
}

// newReplicaWaiter parks a follower fetch until one of parts grows past
// its offset, the wait expires, or the node drains.
func newReplicaWaiter(n *Node, parts []*partition, offsets []int64, timeout time.Duration) *fetchWaiter {
	w := &fetchWaiter{n: n, parts: parts, start: offsets, timeout: timeout, replica: true, wakeCh: make(chan struct{}, 1)}
	for _, p := range parts {
		p.mu.Lock()
		p.mu.replWaiters[w] = struct{}{}
		p.mu.Unlock()
	}
	return w
}

// parkedFetches are the follower fetches parked on this leader, by
// follower.
type parkedFetches struct {
	mu sync.Mutex
	m  map[int32]map[*fetchWaiter]struct{}
}

func (f *parkedFetches) add(id int32, w *fetchWaiter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[int32]map[*fetchWaiter]struct{}{}
	}
	if f.m[id] == nil {
		f.m[id] = map[*fetchWaiter]struct{}{}
	}
	f.m[id][w] = struct{}{}
}

func (f *parkedFetches) remove(id int32, w *fetchWaiter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m[id], w)
}

// supersede answers every parked fetch of follower id now.
func (f *parkedFetches) supersede(id int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.m[id] {
		w.superseded.Store(true)
		w.wake()
	}
}
