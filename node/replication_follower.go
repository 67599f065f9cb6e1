package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/replica"
	"github.com/stratalog/strata/storage"
)

// Replication, follower side. A follower runs one fetch loop per leader
// broker (runReplicaFetcher) over every partition it follows there. On a
// new leader or epoch a partition first truncates a divergent tail: it asks
// the leader with OffsetForLeaderEpoch where its latest epoch ends there
// and cuts its log to that point (replica.Truncation), never to the high
// watermark. It then fetches from its log end offset, appends the leader's
// batches unchanged (AppendReplica), waits for them to be fsynced when the
// topic acknowledges only fsynced data (flush.messages=1, the default), and
// only then sends the next fetch, whose offset tells the leader what it has
// made durable. Producer and transaction state follow the replicated
// batches, so a follower that becomes leader deduplicates retries and
// knows open transactions.

// followState is what a follower partition replicates from: set by
// applyRole, replaced on every leader or epoch change, so a fetch answered
// for an older one is dropped.
type followState struct {
	leader    int32
	epoch     int32
	truncated atomic.Bool  // the OffsetForLeaderEpoch step is done for this epoch
	retryAt   atomic.Int64 // unix nanoseconds: skip the partition until then
}

// fetcherSet owns the fetch loops, one per leader broker.
type fetcherSet struct {
	n        *Node
	mu       sync.Mutex
	byLeader map[int32]*replicaFetcher
	closed   bool
	wg       sync.WaitGroup // runReplicaFetcher goroutines

	clientMu sync.Mutex
	client   *kgo.Client

	throttle copyThrottle // follower.replication.throttled.rate, over every fetch loop
}

// copyThrottle is a token bucket of follower.replication.throttled.rate
// bytes per second (one second of burst) for the partitions a
// reassignment is adding this node to. A fetch loop leaves those
// partitions out while the bucket is empty and charges it with what their
// fetches returned.
type copyThrottle struct {
	mu     sync.Mutex
	tokens float64
	at     time.Time
}

// wait is how long until the bucket holds a byte again at rate (0: now).
func (c *copyThrottle) wait(rate int64, now time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refillLocked(rate, now)
	if c.tokens > 0 {
		return 0
	}
	return time.Duration((1 - c.tokens) / float64(rate) * float64(time.Second))
}

func (c *copyThrottle) take(rate int64, n int, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refillLocked(rate, now)
	c.tokens -= float64(n)
}

func (c *copyThrottle) refillLocked(rate int64, now time.Time) {
	if c.at.IsZero() {
		c.tokens, c.at = float64(rate), now
		return
	}
	c.tokens = min(float64(rate), c.tokens+now.Sub(c.at).Seconds()*float64(rate))
	c.at = now
}

// replicaFetcher is the fetch loop for one leader broker.
type replicaFetcher struct {
	set    *fetcherSet
	leader int32
	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{}

	mu    sync.Mutex
	parts map[*partition]struct{}
	// pollCancel interrupts the fetch in flight (nil when none), so a
	// partition added meanwhile is not left waiting for its long poll.
	pollCancel context.CancelFunc
	// reqFails counts requests to the leader that failed in a row (the
	// connection, TLS or SASL, not a partition's error); each doubles the
	// backoff, so a follower that cannot authenticate does not redial
	// ten times a second. reached is set once a request to this leader
	// has succeeded. Both touched by runReplicaFetcher only.
	reqFails int
	reached  bool
}

func newFetcherSet(n *Node) *fetcherSet {
	return &fetcherSet{n: n, byLeader: map[int32]*replicaFetcher{}}
}

// follow makes p replicate from leader at epoch, starting with the
// truncation step. It does nothing if p already follows that leader and
// epoch.
func (s *fetcherSet) follow(p *partition, leader, epoch int32) {
	if cur := p.repl.follow.Load(); cur != nil && cur.leader == leader && cur.epoch == epoch {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	old := p.repl.follow.Swap(&followState{leader: leader, epoch: epoch})
	if old != nil && old.leader != leader {
		if f := s.byLeader[old.leader]; f != nil {
			f.remove(p)
		}
	}
	f := s.byLeader[leader]
	if f == nil {
		ctx, cancel := context.WithCancel(context.Background())
		f = &replicaFetcher{set: s, leader: leader, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), parts: map[*partition]struct{}{}}
		s.byLeader[leader] = f
		s.wg.Add(1)
		go f.runReplicaFetcher()
	}
	f.mu.Lock()
	f.parts[p] = struct{}{}
	f.mu.Unlock()
	f.kick()
}

// remove stops replicating p.
func (s *fetcherSet) remove(p *partition) {
	old := p.repl.follow.Swap(nil)
	if old == nil {
		return
	}
	s.mu.Lock()
	if f := s.byLeader[old.leader]; f != nil {
		f.remove(p)
	}
	s.mu.Unlock()
}

// close stops every fetch loop and waits for them.
func (s *fetcherSet) close() {
	s.mu.Lock()
	s.closed = true
	for _, f := range s.byLeader {
		f.cancel()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.clientMu.Lock()
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
	s.clientMu.Unlock()
}

// peerClient is the Kafka client followers fetch with, created on first
// use; it learns the other brokers' addresses from this node's Metadata.
func (s *fetcherSet) peerClient() (*kgo.Client, error) {
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	if s.client != nil {
		return s.client, nil
	}
	cl, err := kgo.NewClient(append(s.n.internalClientOpts(),
		kgo.ClientID(fmt.Sprintf("strata-replica-%d", s.n.cfg.NodeID)),
		kgo.RetryTimeout(time.Second), kgo.RequestRetries(0))...)
	if err != nil {
		return nil, err
	}
	s.client = cl
	return cl, nil
}

func (f *replicaFetcher) kick() {
	f.mu.Lock()
	if f.pollCancel != nil {
		f.pollCancel()
	}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *replicaFetcher) setPoll(cancel context.CancelFunc) {
	f.mu.Lock()
	f.pollCancel = cancel
	f.mu.Unlock()
}

func (f *replicaFetcher) remove(p *partition) {
	f.mu.Lock()
	delete(f.parts, p)
	f.mu.Unlock()
}

// followed returns the partitions this loop replicates, with their state.
func (f *replicaFetcher) followed() ([]*partition, []*followState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ps := make([]*partition, 0, len(f.parts))
	sts := make([]*followState, 0, len(f.parts))
	for p := range f.parts {
		if st := p.repl.follow.Load(); st != nil && st.leader == f.leader {
			ps, sts = append(ps, p), append(sts, st)
		}
	}
	return ps, sts
}

// runReplicaFetcher is the fetch loop for one leader broker. Owned by the
// fetcherSet; it ends when close cancels its context.
func (f *replicaFetcher) runReplicaFetcher() {
	defer f.set.wg.Done()
	n := f.set.n
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	for f.ctx.Err() == nil {
		progressed := false
		ps, sts := f.followed()
		var truncate, fetch []*partition
		var truncSt, fetchSt []*followState
		now := time.Now().UnixNano()
		nextRetry := int64(0) // earliest end of a partition's backoff
		rate := n.brokerCfg().Int64("follower.replication.throttled.rate")
		throttled := time.Duration(0) // the copy throttle's wait, if a partition is held by it
		if rate < math.MaxInt64 {
			throttled = f.set.throttle.wait(rate, time.Unix(0, now))
		}
		for i, p := range ps {
			switch {
			case throttled > 0 && sts[i].truncated.Load() && p.leadership().adding:
				n.metrics.throttleWaits.Inc()
				if r := now + int64(throttled); nextRetry == 0 || r < nextRetry {
					nextRetry = r
				}
			case sts[i].retryAt.Load() > now:
				if r := sts[i].retryAt.Load(); nextRetry == 0 || r < nextRetry {
					nextRetry = r
				}
			case !sts[i].truncated.Load():
				truncate, truncSt = append(truncate, p), append(truncSt, sts[i])
			default:
				fetch, fetchSt = append(fetch, p), append(fetchSt, sts[i])
			}
		}
		if len(truncate) > 0 || len(fetch) > 0 {
			cl, err := f.set.peerClient()
			if err != nil {
				n.log.Warn("replication client", "err", err)
			} else {
				if len(truncate) > 0 {
					// Go round before fetching, so the partitions just
					// truncated are in the next fetch rather than waiting
					// out a long poll of the others (a moved leadership
					// would cost a whole replica.fetch.wait.max.ms).
					f.truncate(cl, truncate, truncSt)
					progressed = true
				} else if len(fetch) > 0 {
					// The long poll ends when a backed-off partition may
					// be fetched again, so it is not left out for a
					// whole replica.fetch.wait.max.ms.
					wait := time.Duration(n.brokerCfg().Int64("replica.fetch.wait.max.ms")) * time.Millisecond
					if nextRetry > 0 {
						wait = max(time.Millisecond, min(wait, time.Duration(nextRetry-now)))
					}
					progressed = f.fetch(cl, fetch, fetchSt, wait) || progressed
				}
			}
		}
		if progressed {
			continue
		}
		idle.Reset(time.Duration(max(1, n.brokerCfg().Int64("replica.fetch.backoff.ms"))) * time.Millisecond)
		select {
		case <-f.ctx.Done():
		case <-f.wake:
		case <-idle.C:
		}
	}
}

// backoff makes the partition skip fetches for replica.fetch.backoff.ms,
// doubled for each request to the leader that failed in a row, up to
// maxRequestBackoff.
func (f *replicaFetcher) backoff(st *followState) {
	d := time.Duration(f.set.n.brokerCfg().Int64("replica.fetch.backoff.ms")) * time.Millisecond
	if f.reqFails > 1 {
		d = min(max(d, maxRequestBackoff), d<<min(f.reqFails-1, 16))
	}
	st.retryAt.Store(time.Now().Add(d).UnixNano())
}

// maxRequestBackoff bounds the backoff after failed requests to a leader.
const maxRequestBackoff = 5 * time.Second

// requestFailed counts a failed request to the leader and says so at
// warn level on the first failure and every 50th after it.
func (f *replicaFetcher) requestFailed(what string, err error) {
	f.reqFails++
	if f.ctx.Err() != nil {
		return
	}
	if f.reqFails == 1 || f.reqFails%50 == 0 {
		f.set.n.log.Warn("replication: request to the leader failed", "request", what, "leader", f.leader, "failures_in_a_row", f.reqFails, "err", err)
		return
	}
	f.set.n.log.Debug("replication: request to the leader failed", "request", what, "leader", f.leader, "err", err)
}

// request sends req to the leader, refreshing the client's view of the
// brokers once if the leader is new to it.
func (f *replicaFetcher) request(ctx context.Context, cl *kgo.Client, req kmsg.Request) (kmsg.Response, error) {
	if f.reqFails > 0 || !f.reached {
		// Learn the leader's address first, within a short bound: a
		// client that cannot authenticate fails here at once instead of
		// waiting out ctx for an address it can never learn.
		mctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		md := kmsg.NewPtrMetadataRequest()
		md.Topics = []kmsg.MetadataRequestTopic{}
		_, err := md.RequestWith(mctx, cl)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
	}
	resp, err := cl.Broker(int(f.leader)).Request(ctx, req)
	if err != nil && ctx.Err() == nil {
		md := kmsg.NewPtrMetadataRequest()
		md.Topics = []kmsg.MetadataRequestTopic{}
		if _, merr := md.RequestWith(ctx, cl); merr != nil {
			return nil, fmt.Errorf("%w (metadata refresh: %v)", err, merr)
		}
		resp, err = cl.Broker(int(f.leader)).Request(ctx, req)
	}
	return resp, err
}

// truncate runs the KIP-101/279 step for partitions new to this leader
// epoch.
func (f *replicaFetcher) truncate(cl *kgo.Client, ps []*partition, sts []*followState) {
	n := f.set.n
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = n.cfg.NodeID
	asked := make([]int32, len(ps))
	byTopic := map[string]int{}
	for i, p := range ps {
		eps := p.log.LeaderEpochs()
		if len(eps) == 0 {
			// Nothing written under any epoch (an empty log): nothing
			// can diverge.
			sts[i].truncated.Store(true)
			asked[i] = -1
			continue
		}
		asked[i] = eps[len(eps)-1].Epoch
		ti, ok := byTopic[p.topic]
		if !ok {
			ti = len(req.Topics)
			byTopic[p.topic] = ti
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = p.topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.index, sts[i].epoch, asked[i]
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, rp)
	}
	if len(req.Topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
	defer cancel()
	kresp, err := f.request(ctx, cl, req)
	if err != nil {
		f.requestFailed("OffsetForLeaderEpoch", err)
		for i := range ps {
			f.backoff(sts[i])
		}
		return
	}
	f.reqFails, f.reached = 0, true
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			for i, p := range ps {
				if p.topic != rt.Topic || p.index != rp.Partition || asked[i] < 0 {
					continue
				}
				if rp.ErrorCode != 0 {
					f.backoff(sts[i])
					continue
				}
				p.truncateToLeader(sts[i], asked[i], rp.LeaderEpoch, rp.EndOffset)
			}
		}
	}
}

// truncateToLeader applies the leader's OffsetForLeaderEpoch answer.
func (p *partition) truncateToLeader(st *followState, asked, leaderEpoch int32, leaderEnd int64) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.repl.follow.Load() != st {
		return
	}
	leo := p.log.EndOffset()
	off, again := replica.Truncation(leo, p.log.EndOffsetForEpoch, asked, leaderEpoch, leaderEnd)
	if off < leo {
		if err := p.truncateLocked(off, "divergent tail", leaderEpoch, leaderEnd); err != nil {
			p.n.log.Error("truncating to the leader's log", "topic", p.topic, "partition", p.index, "to", off, "err", err)
			st.retryAt.Store(time.Now().Add(time.Second).UnixNano())
			return
		}
	}
	if !again {
		st.truncated.Store(true)
	}
}

// truncateLocked cuts the log at off (or resets it there when reset) and
// rebuilds the producer state. appendMu is held.
func (p *partition) truncateLocked(off int64, why string, leaderEpoch int32, leaderEnd int64) error {
	was := p.log.EndOffset()
	var end int64
	var err error
	if off < p.log.StartOffset() || why == "reset" {
		err, end = p.log.ResetTo(off), off
	} else {
		end, err = p.log.TruncateTo(off)
	}
	if err != nil {
		return err
	}
	if p.hw.Load() > end {
		p.hw.Store(end)
	}
	p.mu.Lock()
	p.dropPendingPastLocked(end)
	p.mu.Unlock()
	p.n.metrics.truncations.Inc()
	p.n.log.Warn("follower log truncated", "topic", p.topic, "partition", p.index, "reason", why,
		"from", was, "to", end, "leader_epoch", leaderEpoch, "leader_end", leaderEnd)
	p.prod.resetAborted()
	p.loadProducersLocked()
	return nil
}

// fetch sends one Fetch to the leader for ps and applies the answer. It
// reports whether anything was appended.
func (f *replicaFetcher) fetch(cl *kgo.Client, ps []*partition, sts []*followState, wait time.Duration) bool {
	n := f.set.n
	b := n.brokerCfg()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = n.cfg.NodeID
	req.ReplicaState.ID = n.cfg.NodeID
	req.ReplicaState.Epoch = -1
	req.MaxWaitMillis = int32(max(1, wait.Milliseconds()))
	req.MinBytes = 1
	req.MaxBytes = int32(b.Int64("replica.fetch.response.max.bytes"))
	req.SessionEpoch = -1
	perPart := int32(b.Int64("replica.fetch.max.bytes"))
	type key struct {
		topic string
		part  int32
	}
	idx := map[key]int{}
	offsets := make([]int64, len(ps))
	byTopic := map[string]int{}
	for i, p := range ps {
		offsets[i] = p.log.EndOffset()
		idx[key{p.topic, p.index}] = i
		ti, ok := byTopic[p.topic]
		if !ok {
			ti = len(req.Topics)
			byTopic[p.topic] = ti
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = p.topic, p.topicID
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset = p.index, sts[i].epoch, offsets[i]
		rp.LogStartOffset, rp.PartitionMaxBytes, rp.LastFetchedEpoch = p.log.StartOffset(), perPart, -1
		req.Topics[ti].Partitions = append(req.Topics[ti].Partitions, rp)
	}
	ctx, cancel := context.WithTimeout(f.ctx, time.Duration(req.MaxWaitMillis)*time.Millisecond+10*time.Second)
	defer cancel()
	poll, interrupt := context.WithCancel(ctx)
	f.setPoll(interrupt)
	kresp, err := f.request(poll, cl, req)
	f.setPoll(nil)
	interrupt()
	if err != nil && poll.Err() != nil && ctx.Err() == nil {
		return true // interrupted by kick: go round with the new partitions
	}
	if err != nil {
		f.requestFailed("Fetch", err)
		for _, st := range sts {
			f.backoff(st)
		}
		return false
	}
	f.reqFails, f.reached = 0, true
	resp := kresp.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		for _, st := range sts {
			f.backoff(st)
		}
		return false
	}
	appended := false
	var syncs sync.WaitGroup
	for _, rt := range resp.Topics {
		name := rt.Topic
		if name == "" {
			if nm, ok := n.parts.topicName(rt.TopicID); ok {
				name = nm
			}
		}
		for _, rp := range rt.Partitions {
			i, ok := idx[key{name, rp.Partition}]
			if !ok {
				continue
			}
			p, st := ps[i], sts[i]
			switch rp.ErrorCode {
			case 0:
			case kerr.OffsetOutOfRange.Code:
				p.outOfRange(st, offsets[i], rp.LogStartOffset)
				continue
			default:
				f.backoff(st)
				continue
			}
			leaderHW := rp.HighWatermark
			if len(rp.RecordBatches) == 0 {
				p.advanceHW(leaderHW)
				continue
			}
			end, err := p.appendFromLeader(st, rp.RecordBatches)
			if err != nil {
				if !errors.Is(err, errStaleFollow) {
					n.log.Warn("appending replicated batches", "topic", p.topic, "partition", p.index, "leader", f.leader, "err", err)
					f.backoff(st)
					if storageFailure(err) {
						p.leaveISR(st, err)
					}
				}
				continue
			}
			appended = true
			if rate := b.Int64("follower.replication.throttled.rate"); rate < math.MaxInt64 && p.leadership().adding {
				f.set.throttle.take(rate, len(rp.RecordBatches), time.Now())
			}
			if !p.cfg.Load().syncEveryAppend() {
				p.advanceHW(leaderHW)
				continue
			}
			syncs.Add(1)
			n.syncer.Sync(p.log, end, func(err error) {
				defer syncs.Done()
				if err != nil {
					p.syncFailed(err)
					p.leaveISR(st, err)
					return
				}
				p.advanceHW(min(leaderHW, p.log.SyncedOffset()))
			})
		}
	}
	// The next fetch's offsets tell the leader what is durable here.
	syncs.Wait()
	return appended
}

var errStaleFollow = errors.New("partition no longer follows that leader epoch")

// appendFromLeader appends batches fetched from the leader at its offsets
// and applies them to the producer state; it returns the new log end.
func (p *partition) appendFromLeader(st *followState, batches []byte) (int64, error) {
	hdrs, err := record.ValidateStored(batches)
	if err != nil {
		return 0, fmt.Errorf("leader sent batches that do not verify: %w", err)
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.repl.follow.Load() != st {
		return 0, errStaleFollow
	}
	if p.recovering.Load() {
		return 0, fmt.Errorf("%w: log is recovering", storage.ErrStorage)
	}
	info, err := p.log.AppendReplica(batches, hdrs)
	if err != nil {
		if errors.Is(err, storage.ErrOffsetMismatch) {
			st.truncated.Store(false)
		}
		if errors.Is(err, storage.ErrLogFailed) {
			p.startRecover(err)
		}
		return 0, err
	}
	now := time.Now().UnixMilli()
	pos := 0
	for _, h := range hdrs {
		p.applyBatch(h, batches[pos:pos+h.Size()], now)
		pos += h.Size()
	}
	p.prod.firstOpen.Store(p.prod.state.FirstOpenTxnOffset())
	p.n.metrics.replicationIn.Add(float64(len(batches)))
	// Consumers reading this follower (KIP-392) wait on visible bytes,
	// which the high watermark releases as on a leader.
	p.mu.Lock()
	p.mu.appendBytes += int64(len(batches))
	p.mu.pending = append(p.mu.pending, pendingBytes{end: info.LastOffset + 1, total: p.mu.appendBytes})
	p.mu.Unlock()
	return info.LastOffset + 1, nil
}

// outOfRange handles OFFSET_OUT_OF_RANGE from the leader: below the
// leader's local log start the follower starts over there (the records
// before it are in the cold tier or deleted); otherwise its log is ahead
// of the leader's, and the truncation step runs again.
func (p *partition) outOfRange(st *followState, offset, leaderStart int64) {
	if leaderStart < 0 || offset >= leaderStart {
		st.truncated.Store(false)
		return
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.repl.follow.Load() != st {
		return
	}
	if err := p.truncateLocked(leaderStart, "reset", -1, leaderStart); err != nil {
		p.n.log.Error("resetting follower log to the leader's start", "topic", p.topic, "partition", p.index, "to", leaderStart, "err", err)
		st.retryAt.Store(time.Now().Add(time.Second).UnixNano())
		return
	}
	gen := p.repl.resets.Add(1)
	if tp := p.tier.Load(); tp != nil && !p.n.draining() {
		tp.RequestSync() // what lies below the new local start is in the store
		p.n.parts.recovers.Add(1)
		go p.runRestoreAfterReset(st, gen)
	}
}

// storageFailure reports whether err says the local disk failed (full,
// read-only, an I/O error), as opposed to a bad batch or a moved leader.
func storageFailure(err error) bool {
	return storage.IsStorageErrno(err) || errors.Is(err, storage.ErrStorage) || errors.Is(err, storage.ErrLogFailed)
}

// storageRetry is how long a follower whose disk failed waits before it
// fetches that partition again: long enough that its leader does not see
// it caught up (an idle partition) and take it back into the ISR while
// the disk still cannot take a write.
const storageRetry = 5 * time.Second

// leaveISR takes this follower out of the partition's ISR after its disk
// failed to take the leader's records (full, read-only, failing): it asks
// the controller itself, guarded by the leader epoch and the ISR it saw,
// so the leader's acks=all writes do not wait replica.lag.time.max.ms for
// a replica that cannot store them. It fetches the partition again after
// storageRetry and rejoins as any follower does once it has caught up.
func (p *partition) leaveISR(st *followState, cause error) {
	st.retryAt.Store(time.Now().Add(storageRetry).UnixNano())
	l := p.leadership()
	self := p.n.cfg.NodeID
	if l.isLeader() || l.leader < 0 || !slices.Contains(l.isr, self) || p.n.draining() {
		return
	}
	now := time.Now().UnixNano()
	last := p.repl.leftISRAt.Load()
	if last != 0 && now-last < int64(time.Second) || !p.repl.leftISRAt.CompareAndSwap(last, now) {
		return
	}
	p.n.isrChanges.Add(1)
	go p.runLeaveISR(l, cause)
}

// runLeaveISR is leaveISR's request to the controller. Owned by the
// partition (Node.isrChanges); it ends when the controller answers or
// after isrRetryAfter.
func (p *partition) runLeaveISR(l *leadership, cause error) {
	defer p.n.isrChanges.Done()
	self := p.n.cfg.NodeID
	isr := slices.DeleteFunc(slices.Clone(l.isr), func(id int32) bool { return id == self })
	ctx, cancel := context.WithTimeout(context.Background(), isrRetryAfter)
	defer cancel()
	err := p.n.meta.UpdatePartition(ctx, meta.PartitionUpdate{
		Topic: p.topic, Partition: p.index, Leader: l.leader, ISR: isr,
		ExpectedLeaderEpoch: l.epoch, ExpectedISR: slices.Clone(l.isr),
	})
	if err != nil {
		p.n.log.Warn("leaving the ISR after a storage failure", "topic", p.topic, "partition", p.index, "cause", cause, "err", err)
		p.repl.leftISRAt.Store(0)
		return
	}
	p.n.metrics.isrChanges.WithLabelValues("shrink").Inc()
	p.n.log.Warn("left the ISR: this follower's disk cannot take the leader's records", "topic", p.topic, "partition", p.index,
		"leader", l.leader, "leader_epoch", l.epoch, "isr", isr, "cause", cause)
}
