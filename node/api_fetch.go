package node

import (
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch (key 1): versions 4-16. Topic IDs replace names from v13. Strata
// creates no fetch sessions (it answers SessionID 0, which tells clients to
// send full fetches), so an incremental fetch for a session is refused with
// FETCH_SESSION_ID_NOT_FOUND.
//
// Records are never copied: the response carries placeholders that the
// connection writer replaces with segment-file ranges sent with sendfile.
// A fetch that finds fewer than MinBytes waits (up to MaxWaitMillis) for
// appends to its partitions to become visible, without holding the
// connection's reader.
//
// IsolationLevel 1 (read_committed) returns nothing at or past the last
// stable offset and lists the aborted transactions overlapping what it
// returns, from the partition's aborted-transaction index.
func init() { register(1, 4, 16, (*Node).handleFetch) }

func (n *Node) handleFetch(r *request, rep *reply) {
	req := r.kreq.(*kmsg.FetchRequest)
	if id := replicaFetchID(r, req); id >= 0 {
		n.handleReplicaFetch(r, rep, req, id) // replication_leader.go
		return
	}
	if req.SessionID != 0 || req.SessionEpoch > 0 {
		resp := kmsg.NewPtrFetchResponse()
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		rep.finish(resp)
		return
	}
	if n.fetchNeedsCold(r, req) {
		// Cold reads wait on the object store: off the reader goroutine.
		n.safeGo(r, rep, func() {
			resp, splice, bytes, _ := n.readFetch(r, req)
			n.finishFetch(r, rep, resp, splice, bytes)
		})
		return
	}
	resp, splice, bytes, hasErr := n.readFetch(r, req)
	if bytes >= int64(req.MinBytes) || req.MaxWaitMillis <= 0 || hasErr || n.draining() {
		n.finishFetch(r, rep, resp, splice, bytes)
		return
	}
	splice.release()
	w := newFetchWaiter(n, r, req)
	if w == nil {
		resp, splice, bytes, _ = n.readFetch(r, req)
		n.finishFetch(r, rep, resp, splice, bytes)
		return
	}
	n.safeGo(r, rep, func() {
		w.wait()
		resp, splice, bytes, _ := n.readFetch(r, req)
		n.finishFetch(r, rep, resp, splice, bytes)
	})
}

// finishFetch answers a consumer's fetch, or answers it empty when its
// bytes would put the client over its fetch quota (quotas.go).
func (n *Node) finishFetch(r *request, rep *reply, resp *kmsg.FetchResponse, splice *spliceSet, bytes int64) {
	if n.fetchOverQuota(r, bytes) {
		splice.release()
		rep.finish(kmsg.NewPtrFetchResponse()) // no data; the throttle is set when written
		return
	}
	rep.finishSplice(resp, splice)
}

// readFetch reads every requested partition within the request's limits.
func (n *Node) readFetch(r *request, req *kmsg.FetchRequest) (*kmsg.FetchResponse, *spliceSet, int64, bool) {
	resp := kmsg.NewPtrFetchResponse()
	splice := &spliceSet{}
	maxTotal := int64(req.MaxBytes)
	if brokerMax := n.brokerCfg().Int64("fetch.max.bytes"); maxTotal <= 0 || maxTotal > brokerMax {
		maxTotal = brokerMax
	}
	var total int64
	hasErr := false
	sel := n.readReplicaSelector(r, req)
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic = rt.Topic
		st.TopicID = rt.TopicID
		name, known := n.fetchTopicName(r, rt)
		unknownID := !known
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			// Kafka sends empty, never null, record sets; some clients
			// (librdkafka) refuse a null one.
			sp.RecordBatches = []byte{}
			if unknownID {
				sp.ErrorCode = kerr.UnknownTopicID.Code
				hasErr = true
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, asFollower, code := n.fetchPartition(r, name, rp.Partition)
			if code == 0 {
				code = checkLeaderEpoch(p, rp.CurrentLeaderEpoch)
			}
			if code != 0 {
				sp.ErrorCode = code
				hasErr = true
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if !asFollower {
				// KIP-392: a consumer in another replica's rack is sent
				// there, with no records from here.
				if id := sel.preferred(p, rp.FetchOffset); id >= 0 {
					sp.PreferredReadReplica = id
					sp.HighWatermark = p.highWatermark()
					sp.LastStableOffset = p.lastStable(sp.HighWatermark)
					sp.LogStartOffset = p.logStartOffset()
					st.Partitions = append(st.Partitions, sp)
					hasErr = true // answered now, not after a long poll
					continue
				}
			}
			hw := p.highWatermark()
			sp.HighWatermark = hw
			sp.LastStableOffset = p.lastStable(hw)
			sp.LogStartOffset = p.logStartOffset() // across tiers (tiering.go)
			if p.coldNotReady(rp.FetchOffset) {
				sp.ErrorCode = kerr.OffsetNotAvailable.Code // a new leader, reading the store's manifest
				hasErr = true
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if rp.FetchOffset < sp.LogStartOffset || rp.FetchOffset > p.log.EndOffset() {
				if asFollower && rp.FetchOffset > p.log.EndOffset() && rp.CurrentLeaderEpoch < 0 {
					// A follower behind the offset a client without
					// leader epochs asks for: empty, and the client
					// retries (KAFKA-14246); with epochs it goes back to
					// the leader on OFFSET_OUT_OF_RANGE.
					st.Partitions = append(st.Partitions, sp)
					continue
				}
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
				hasErr = true
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			limit := int64(rp.PartitionMaxBytes)
			if rem := maxTotal - total; rem < limit {
				limit = rem
			}
			if req.IsolationLevel == 1 {
				// read_committed: nothing past the last stable offset,
				// and the aborted transactions in what is returned.
				hw = sp.LastStableOffset
				sp.AbortedTransactions = p.abortedIn(rp.FetchOffset, hw)
			}
			// KIP-74: the first non-empty partition of a response returns at
			// least one whole batch even past the limits; later ones only
			// what fits.
			if rp.FetchOffset < hw && (limit > 0 || total == 0) {
				if limit <= 0 {
					limit = 1
				}
				rr, err := p.readTiered(rp.FetchOffset, int(limit), hw)
				switch {
				case err != nil:
					sp.ErrorCode = errCode(err)
					hasErr = true
				case rr.Size > 0 && (total == 0 || rr.Size <= limit):
					sp.RecordBatches = splice.add(rr)
					total += rr.Size
					p.bytesOut.Add(float64(rr.Size))
				default:
					rr.Release()
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	n.hintFetch(r.version, resp, func(rt *kmsg.FetchResponseTopic) (string, bool) {
		if r.version < 13 {
			return rt.Topic, true
		}
		t, ok := n.meta.TopicByID(rt.TopicID)
		return t.Name, ok
	})
	return resp, splice, total, hasErr
}

// fetchTopicName resolves a fetch's topic to its name: the name itself
// before v13, the topic ID from v13 on. Hosted topics resolve from the
// partition set, so the hot path does not copy the topic's metadata; other
// IDs fall back to metadata. ok is false for an unknown topic ID.
func (n *Node) fetchTopicName(r *request, rt kmsg.FetchRequestTopic) (string, bool) {
	if r.version < 13 {
		return rt.Topic, true
	}
	if name, ok := n.parts.topicName(rt.TopicID); ok {
		return name, true
	}
	if t, ok := n.meta.TopicByID(rt.TopicID); ok {
		return t.Name, true
	}
	return "", false
}

// eachFetchPartition calls fn for every requested partition a consumer
// fetch reads here (fetchPartition), resolving topic IDs on the versions
// that use them, until fn returns false.
func (n *Node) eachFetchPartition(r *request, req *kmsg.FetchRequest, fn func(*partition, kmsg.FetchRequestTopicPartition) bool) {
	for _, rt := range req.Topics {
		name, ok := n.fetchTopicName(r, rt)
		if !ok {
			continue
		}
		for _, rp := range rt.Partitions {
			if p, _, code := n.fetchPartition(r, name, rp.Partition); code == 0 && !fn(p, rp) {
				return
			}
		}
	}
}

// fetchPartition finds a partition a consumer fetch reads here: one this
// node leads, or, from Fetch v11 on (KIP-392, where a client is sent to a
// follower by its leader's PreferredReadReplica), one it follows — read up
// to this replica's own high watermark, which trails the leader's by at
// most one fetch round. Otherwise the Kafka error: NOT_LEADER_OR_FOLLOWER
// or UNKNOWN_TOPIC_OR_PARTITION.
func (n *Node) fetchPartition(r *request, topic string, part int32) (*partition, bool, int16) {
	if p := n.parts.get(topic, part); p != nil {
		if l := p.leadership(); l.isLeader() {
			return p, false, 0
		} else if r.version >= 11 && l.leader >= 0 && p.repl.follow.Load() != nil {
			return p, true, 0
		}
	}
	_, code := n.lookupPartition(topic, part)
	return nil, false, code
}

// replicaSelector picks the replica a consumer should read from when the
// broker's replica.selector.class is rack-aware (KIP-392): an in-sync,
// unfenced follower on the consumer's rack (Fetch v11+ client.rack) that
// holds the offset asked for, unless the leader is on that rack itself.
// A nil selector sends everyone to the leader.
type replicaSelector struct {
	n    *Node
	rack string
	self bool           // the leader is on the consumer's rack
	in   map[int32]bool // unfenced brokers on the consumer's rack
}

func (n *Node) readReplicaSelector(r *request, req *kmsg.FetchRequest) *replicaSelector {
	if r.version < 11 || req.Rack == "" || n.brokerCfg().Get("replica.selector.class") == "" {
		return nil
	}
	s := &replicaSelector{n: n, rack: req.Rack, in: map[int32]bool{}}
	for _, b := range n.meta.Brokers() {
		if b.Rack == req.Rack && !b.Fenced {
			s.in[b.ID] = true
		}
	}
	s.self = s.in[n.cfg.NodeID]
	return s
}

// preferred returns the replica to send the consumer of p at offset to,
// or -1 to serve it here.
func (s *replicaSelector) preferred(p *partition, offset int64) int32 {
	if s == nil || s.self || len(s.in) == 0 {
		return -1
	}
	l := p.leadership()
	for _, id := range l.isr {
		if id != s.n.cfg.NodeID && s.in[id] && p.followerHas(id, offset) {
			return id
		}
	}
	return -1
}

// fetchWaiter parks a long-polling fetch until enough bytes become visible
// on its partitions, its wait expires, or the node drains.
type fetchWaiter struct {
	n       *Node
	parts   []*partition
	start   []int64
	minB    int64
	timeout time.Duration
	wakeCh  chan struct{}
	// replica: a follower's fetch, satisfied when a partition's log grows
	// past start (its fetch offset) or this node stops leading it, or when
	// the same follower sent a newer fetch (superseded).
	replica    bool
	superseded atomic.Bool
}

func newFetchWaiter(n *Node, r *request, req *kmsg.FetchRequest) *fetchWaiter {
	w := &fetchWaiter{
		n:       n,
		minB:    int64(req.MinBytes),
		timeout: time.Duration(req.MaxWaitMillis) * time.Millisecond,
		wakeCh:  make(chan struct{}, 1),
	}
	n.eachFetchPartition(r, req, func(p *partition, _ kmsg.FetchRequestTopicPartition) bool {
		w.parts = append(w.parts, p)
		return true
	})
	if len(w.parts) == 0 {
		return nil
	}
	for _, p := range w.parts {
		p.addWaiter(w)
		w.start = append(w.start, p.visible.Load())
	}
	return w
}

func (w *fetchWaiter) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

func (w *fetchWaiter) satisfied() bool {
	if w.replica {
		if w.superseded.Load() {
			return true
		}
		for i, p := range w.parts {
			if p.log.EndOffset() > w.start[i] || !p.leadership().isLeader() {
				return true
			}
		}
		return false
	}
	var got int64
	for i, p := range w.parts {
		got += p.visible.Load() - w.start[i]
	}
	return got >= w.minB
}

func (w *fetchWaiter) wait() {
	defer func() {
		for _, p := range w.parts {
			p.removeWaiter(w)
		}
	}()
	timer := time.NewTimer(w.timeout)
	defer timer.Stop()
	for !w.satisfied() {
		select {
		case <-w.wakeCh:
		case <-timer.C:
			return
		case <-w.n.drain:
			return
		}
	}
}
