package loadtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producerSet is the run's producer clients and their send loops.
type producerSet struct {
	r       *run
	clients []*kgo.Client
	wg      sync.WaitGroup
	stop    context.CancelFunc
	done    chan struct{} // closed when every send loop has returned
}

// startProducers starts one send loop per producer writing to topics at
// rate records/s in total (0: max). limits, when not nil, bounds how many
// records each producer sends.
func (r *run) startProducers(ctx context.Context, topics []string, rate float64, limits []int64) (*producerSet, error) {
	stopCtx, stop := context.WithCancel(ctx)
	ps := &producerSet{r: r, stop: stop, done: make(chan struct{})}
	rates := splitRate(rate, r.w.Producers)
	for i := range r.w.Producers {
		cl, err := kgo.NewClient(producerOpts(r.w, r.o.RunID, i)...)
		if err != nil {
			stop()
			ps.closeClients()
			return nil, fmt.Errorf("producer %d: %w", i, err)
		}
		ps.clients = append(ps.clients, cl)
		var limit int64 = -1
		if limits != nil {
			limit = limits[i]
		}
		ps.wg.Add(1)
		go func() {
			defer ps.wg.Done()
			r.runProducer(ctx, stopCtx, cl, i, topics, rates[i], limit)
		}()
	}
	go func() { ps.wg.Wait(); close(ps.done) }()
	return ps, nil
}

// stopAndFlush ends the send loops, waits up to timeout for buffered
// records to be acknowledged, and closes the clients.
func (ps *producerSet) stopAndFlush(ctx context.Context, timeout time.Duration) {
	ps.stop()
	<-ps.done
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, cl := range ps.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cl.Flush(fctx); err != nil {
				ps.r.errs.add("produce-flush", err)
			}
		}()
	}
	wg.Wait()
	ps.closeClients()
}

func (ps *producerSet) closeClients() {
	for _, cl := range ps.clients {
		cl.Close()
	}
}

// runProducer is one producer's send loop. ctx is the run's (records in
// flight die with it); stop ends sending. limit < 0 means unbounded.
func (r *run) runProducer(ctx, stop context.Context, cl *kgo.Client, id int, topics []string, rate float64, limit int64) {
	src := newPayloadSource(r.w, r.files, uint64(time.Now().UnixNano())+uint64(id)*7919)
	var pacer *Pacer
	if rate > 0 {
		pacer = NewPacer(time.Now(), rate)
	}
	txn := r.w.Transactions
	lastCommit := time.Now()
	if txn {
		if err := cl.BeginTransaction(); err != nil {
			r.errs.add("transaction", err)
			return
		}
	}
	maxBytes := int64(r.w.MaxBytes)
	for n := int64(0); limit < 0 || n < limit; n++ {
		if stop.Err() != nil {
			break
		}
		if maxBytes > 0 && r.sentBytes.Load() >= maxBytes {
			break
		}
		var due time.Time
		if pacer != nil {
			var ok bool
			if due, ok = pacer.Wait(stop); !ok {
				break
			}
		} else {
			due = time.Now()
		}
		value := src.value()
		rec := &kgo.Record{
			Topic:   topics[int(n)%len(topics)],
			Key:     src.key(),
			Value:   value,
			Headers: []kgo.RecordHeader{{Key: tsHeader, Value: tsValue(due)}},
		}
		size := int64(len(value))
		if n == 0 && r.firstSend.Load() == 0 {
			r.firstSend.CompareAndSwap(0, time.Now().UnixNano())
		}
		r.sent.Add(1)
		r.sentBytes.Add(size)
		cl.Produce(ctx, rec, func(rec *kgo.Record, err error) {
			if err != nil {
				r.failed.Add(1)
				r.errs.add("produce", err)
				return
			}
			r.ack.record(time.Since(due))
			r.acked.Add(1)
			r.ackedBytes.Add(size)
			r.noteAcked(rec.Topic, rec.Partition, rec.Offset)
		})
		if txn && time.Since(lastCommit) >= r.w.TransactionInterval.D() {
			if !r.commit(ctx, cl, true) {
				return
			}
			lastCommit = time.Now()
		}
	}
	if txn {
		r.commit(ctx, cl, false)
	}
}

// commit flushes and commits the open transaction, and opens the next one
// when again is set. It reports whether the producer can go on.
func (r *run) commit(ctx context.Context, cl *kgo.Client, again bool) bool {
	if err := cl.Flush(ctx); err != nil {
		r.errs.add("transaction", err)
		return false
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		r.errs.add("transaction", err)
		return false
	}
	if again {
		if err := cl.BeginTransaction(); err != nil {
			r.errs.add("transaction", err)
			return false
		}
	}
	return true
}

// groupState is one consumer group of the run.
type groupState struct {
	name      string
	topics    []string
	recordE2E bool
	consumed  [][]atomic.Int64 // [topic index][partition] consumed end
	records   atomic.Int64
	assigned  atomic.Int64
	members   []atomic.Int64 // partitions assigned to each member
	clients   []*kgo.Client
	wg        sync.WaitGroup
	cancel    context.CancelFunc
}

// startGroup starts a consumer group of w.Consumers members reading topics
// from the earliest offset. recordE2E selects whether its reads count
// toward end-to-end latency (not for backlog replays).
func (r *run) startGroup(ctx context.Context, label string, topics []string, recordE2E bool) (*groupState, error) {
	gctx, cancel := context.WithCancel(ctx)
	g := &groupState{
		name:      fmt.Sprintf("%s-%s-%s", r.w.TopicPrefix, r.o.RunID, label),
		topics:    topics,
		recordE2E: recordE2E,
		cancel:    cancel,
		consumed:  make([][]atomic.Int64, len(r.ackedEnd)),
	}
	for i := range g.consumed {
		g.consumed[i] = make([]atomic.Int64, r.w.Partitions)
	}
	r.mu.Lock()
	r.groups = append(r.groups, g)
	r.mu.Unlock()
	g.members = make([]atomic.Int64, r.w.Consumers)
	for i := range r.w.Consumers {
		change := func(n int) { g.assigned.Add(int64(n)); g.members[i].Add(int64(n)) }
		opts := consumerOpts(r.w, g.name, topics, change)
		opts = append(opts,
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { change(-countParts(m)) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { change(-countParts(m)) }),
		)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("consumer for %s: %w", g.name, err)
		}
		g.clients = append(g.clients, cl)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			r.runConsumer(gctx, g, cl)
		}()
	}
	return g, nil
}

func countParts(m map[string][]int32) int {
	n := 0
	for _, ps := range m {
		n += len(ps)
	}
	return n
}

// runConsumer polls until ctx is done, counting records, their end-to-end
// latency and the consumed position of each partition.
func (r *run) runConsumer(ctx context.Context, g *groupState, cl *kgo.Client) {
	for {
		fetches := cl.PollRecords(ctx, 10_000)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			if ctx.Err() == nil {
				r.errs.add("consume", err)
			}
		})
		now := time.Now()
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) == 0 {
				return
			}
			var n, bytes int64
			for _, rec := range p.Records {
				n++
				bytes += int64(len(rec.Value))
				if g.recordE2E {
					for _, h := range rec.Headers {
						if h.Key == tsHeader {
							if t, ok := parseTS(h.Value); ok {
								r.e2e.record(now.Sub(t))
							}
							break
						}
					}
				}
			}
			r.consumed.Add(n)
			r.consBytes.Add(bytes)
			g.records.Add(n)
			if i, ok := r.topicIdx[p.Topic]; ok && p.Partition >= 0 && int(p.Partition) < len(g.consumed[i]) {
				raise(&g.consumed[i][p.Partition], p.Records[len(p.Records)-1].Offset+1)
			}
		})
	}
}

// lagOf is how many acked records group g has yet to read.
func (r *run) lagOf(g *groupState) int64 {
	var lag int64
	for _, t := range g.topics {
		i := r.topicIdx[t]
		for p := range r.ackedEnd[i] {
			if d := r.ackedEnd[i][p].Load() - g.consumed[i][p].Load(); d > 0 {
				lag += d
			}
		}
	}
	return lag
}

// lag is the total lag of every group.
func (r *run) lag() int64 {
	r.mu.Lock()
	groups := append([]*groupState(nil), r.groups...)
	r.mu.Unlock()
	var lag int64
	for _, g := range groups {
		lag += r.lagOf(g)
	}
	return lag
}

// waitAssigned waits until each group has all partitions of its topics
// assigned, or timeout. It reports whether they all were.
func (r *run) waitAssigned(ctx context.Context, groups []*groupState, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	want := int64(len(groups[0].topics) * r.w.Partitions)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		all := true
		for _, g := range groups {
			if !groupSettled(g.assigned.Load(), loadAll(g.members), want) {
				all = false
			}
		}
		if all {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// groupSettled reports whether a group's assignment is complete: every
// partition assigned and, when there are enough partitions, every member
// holding some, so no rebalance is still to come.
func groupSettled(total int64, members []int64, want int64) bool {
	if total < want {
		return false
	}
	if want < int64(len(members)) {
		return true
	}
	for _, n := range members {
		if n <= 0 {
			return false
		}
	}
	return true
}

func loadAll(a []atomic.Int64) []int64 {
	out := make([]int64, len(a))
	for i := range a {
		out[i] = a[i].Load()
	}
	return out
}

// positionOf is the sum over g's partitions of the offset g has read to,
// and ackedIn the acked records of the same partitions. On fresh topics
// without transactions the two are equal once g has read everything.
func (r *run) positionOf(g *groupState) (position, ackedIn int64) {
	for _, t := range g.topics {
		i := r.topicIdx[t]
		for p := range r.ackedEnd[i] {
			position += g.consumed[i][p].Load()
			ackedIn += r.ackedEnd[i][p].Load()
		}
	}
	return position, ackedIn
}

// waitCaughtUp waits until every group has read everything acked, or
// timeout (0: no limit besides ctx). It reports whether they caught up.
func (r *run) waitCaughtUp(ctx context.Context, groups []*groupState, timeout time.Duration) bool {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for ctx.Err() == nil && (deadline.IsZero() || time.Now().Before(deadline)) {
		caught := true
		for _, g := range groups {
			if r.lagOf(g) > 0 {
				caught = false
				break
			}
		}
		if caught {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// stopGroups closes every consumer.
func (r *run) stopGroups() {
	r.mu.Lock()
	groups := r.groups
	r.mu.Unlock()
	for _, g := range groups {
		g.cancel()
	}
	for _, g := range groups {
		g.wg.Wait()
		for _, cl := range g.clients {
			cl.Close()
		}
	}
}
