package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/txn"
)

// Transaction markers. The transaction coordinator of a transactional ID
// writes its commit or abort marker to every partition of the transaction:
// itself where it leads the partition, and through WriteTxnMarkers (key
// 27) to the leader of each other one, as Kafka's coordinators do. A
// marker on a __consumer_offsets partition also completes the staged
// transactional offsets of that producer in the groups of that partition.

// WriteTxnMarkers (key 27): versions 0-1. Sent by transaction coordinators
// to partition leaders; each partition answers on its own.
func init() { register(27, 0, 1, (*Node).handleWriteTxnMarkers) }

func (n *Node) handleWriteTxnMarkers(r *request, rep *reply) {
	req := r.kreq.(*kmsg.WriteTxnMarkersRequest)
	n.safeGo(r, rep, func() {
		ctx, cancel := txnCtx()
		defer cancel()
		resp := kmsg.NewPtrWriteTxnMarkersResponse()
		for _, mk := range req.Markers {
			var parts []txn.Partition
			for _, t := range mk.Topics {
				for _, p := range t.Partitions {
					parts = append(parts, txn.Partition{Topic: t.Topic, Partition: p})
				}
			}
			errs := n.writeLocalMarkers(ctx, txnMarker{producerID: mk.ProducerID, epoch: mk.ProducerEpoch,
				coordinatorEpoch: mk.CoordinatorEpoch, commit: mk.Committed}, parts)
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = mk.ProducerID
			for _, t := range mk.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition = p
					if err := errs[txn.Partition{Topic: t.Topic, Partition: p}]; err != nil {
						rp.ErrorCode = errCode(err)
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			resp.Markers = append(resp.Markers, rm)
		}
		rep.finish(resp)
	})
}

// writeLocalMarkers appends mk to each of parts this node leads and waits
// until every append is durable (or ctx ends). It returns the error of
// each partition that failed; a partition this node does not lead gets
// NOT_LEADER_OR_FOLLOWER, one of a deleted topic UNKNOWN_TOPIC_OR_PARTITION.
func (n *Node) writeLocalMarkers(ctx context.Context, mk txnMarker, parts []txn.Partition) map[txn.Partition]error {
	errs := map[txn.Partition]error{}
	var mu sync.Mutex
	fail := func(tp txn.Partition, err error) {
		mu.Lock()
		errs[tp] = err
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for _, tp := range parts {
		p := n.parts.get(tp.Topic, tp.Partition)
		if p == nil || !p.leadership().isLeader() {
			if _, ok := n.meta.Topic(tp.Topic); !ok {
				fail(tp, kerr.UnknownTopicOrPartition)
			} else {
				fail(tp, kerr.NotLeaderForPartition)
			}
			continue
		}
		wg.Add(1)
		err := p.appendMarker(mk, func(err error) {
			defer wg.Done()
			if err != nil {
				fail(tp, err)
				return
			}
			if tp.Topic == offsetsTopic && n.groups != nil {
				n.groups.c.CompleteTxnInPartition(tp.Partition, mk.producerID, mk.commit)
			}
		})
		if err != nil {
			wg.Done()
			fail(tp, err)
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		out := map[txn.Partition]error{}
		for _, tp := range parts {
			out[tp] = ctx.Err()
		}
		return out
	}
	mu.Lock()
	defer mu.Unlock()
	return errs
}

// writeMarkers writes mk to every partition of parts wherever it is led,
// retrying briefly the partitions whose leader moved meanwhile. A
// partition of a deleted topic needs no marker.
func (n *Node) writeMarkers(ctx context.Context, mk txnMarker, parts []txn.Partition) error {
	pending := parts
	var last map[txn.Partition]error
	for attempt := 0; ; attempt++ {
		last = n.writeMarkersOnce(ctx, mk, pending)
		pending = pending[:0:0]
		for tp, err := range last {
			if !errors.Is(err, kerr.UnknownTopicOrPartition) {
				pending = append(pending, tp)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		retriable := true
		for _, tp := range pending {
			if !kerr.IsRetriable(last[tp]) && !errors.Is(last[tp], errPeerUnreachable) {
				retriable = false
			}
		}
		if !retriable || attempt >= 20 || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	var errs []error
	for _, tp := range pending {
		errs = append(errs, fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, last[tp]))
	}
	return errors.Join(errs...)
}

var errPeerUnreachable = errors.New("partition leader unreachable")

// writeMarkersOnce sends each partition's marker to its current leader
// once: local ones appended here, the others in one WriteTxnMarkers per
// leader, all concurrently.
func (n *Node) writeMarkersOnce(ctx context.Context, mk txnMarker, parts []txn.Partition) map[txn.Partition]error {
	errs := map[txn.Partition]error{}
	var mu sync.Mutex
	merge := func(m map[txn.Partition]error) {
		mu.Lock()
		for tp, err := range m {
			errs[tp] = err
		}
		mu.Unlock()
	}
	var local []txn.Partition
	remote := map[int32][]txn.Partition{}
	for _, tp := range parts {
		t, ok := n.meta.Topic(tp.Topic)
		switch {
		case !ok || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions):
			errs[tp] = kerr.UnknownTopicOrPartition
		case t.Partitions[tp.Partition].Leader == n.cfg.NodeID:
			local = append(local, tp)
		case t.Partitions[tp.Partition].Leader < 0:
			errs[tp] = kerr.LeaderNotAvailable
		default:
			l := t.Partitions[tp.Partition].Leader
			remote[l] = append(remote[l], tp)
		}
	}
	var wg sync.WaitGroup
	if len(local) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			merge(n.writeLocalMarkers(ctx, mk, local))
		}()
	}
	for leader, ps := range remote {
		wg.Add(1)
		go func() {
			defer wg.Done()
			merge(n.txns.sendMarkers(ctx, leader, mk, ps))
		}()
	}
	wg.Wait()
	return errs
}

// peerClient is the Kafka client this node uses to reach other brokers
// (WriteTxnMarkers), created on first use from its own listener.
func (s *txnService) peerClient() (*kgo.Client, error) {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	if s.peers != nil {
		return s.peers, nil
	}
	cl, err := kgo.NewClient(append(s.n.internalClientOpts(), kgo.ClientID(fmt.Sprintf("strata-broker-%d", s.n.cfg.NodeID)),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.RequestRetries(0))...)
	if err != nil {
		return nil, err
	}
	s.peers = cl
	return cl, nil
}

// closePeers closes the peer client, if it was created.
func (s *txnService) closePeers() {
	s.peerMu.Lock()
	defer s.peerMu.Unlock()
	if s.peers != nil {
		s.peers.Close()
		s.peers = nil
	}
}

// sendMarkers asks broker leader to write mk to parts.
func (s *txnService) sendMarkers(ctx context.Context, leader int32, mk txnMarker, parts []txn.Partition) map[txn.Partition]error {
	all := func(err error) map[txn.Partition]error {
		out := map[txn.Partition]error{}
		for _, tp := range parts {
			out[tp] = err
		}
		return out
	}
	cl, err := s.peerClient()
	if err != nil {
		return all(fmt.Errorf("%w: %v", errPeerUnreachable, err))
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = mk.producerID, mk.epoch, mk.commit, mk.coordinatorEpoch
	byTopic := map[string]int{}
	for _, tp := range parts {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(m.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			m.Topics = append(m.Topics, t)
		}
		m.Topics[i].Partitions = append(m.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, m)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, cl.Broker(int(leader)))
	if err != nil {
		// The client learns broker addresses only from Metadata responses:
		// refresh them once (the leader may be new to this client) and retry.
		md := kmsg.NewPtrMetadataRequest()
		md.Topics = []kmsg.MetadataRequestTopic{}
		if _, merr := md.RequestWith(rctx, cl); merr != nil {
			return all(fmt.Errorf("%w: metadata: %v", errPeerUnreachable, merr))
		}
		resp, err = req.RequestWith(rctx, cl.Broker(int(leader)))
	}
	if err != nil {
		return all(fmt.Errorf("%w: broker %d: %v", errPeerUnreachable, leader, err))
	}
	out := all(fmt.Errorf("%w: broker %d answered no status", errPeerUnreachable, leader))
	for _, rm := range resp.Markers {
		for _, t := range rm.Topics {
			for _, p := range t.Partitions {
				tp := txn.Partition{Topic: t.Topic, Partition: p.Partition}
				if _, asked := out[tp]; !asked {
					continue
				}
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					out[tp] = err
				} else {
					delete(out, tp)
				}
			}
		}
	}
	return out
}
