package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// Leader hints (KIP-951): a Produce (v10+) or Fetch (v12+) partition
// refused with NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH carries the
// leader and leader epoch this node's metadata names, with that broker's
// endpoint in the response (Produce v10+, Fetch v16+), so a client moves
// the partition at once instead of refreshing metadata first. Clients act
// on a hint only when its epoch is newer than the one they know, so a
// stale view here costs nothing. No hint is given for a partition without
// a live leader, or one this node itself leads (a stranded leader).

// leaderHint returns the leader, its epoch and its broker for a partition
// whose leader is another live broker.
func (n *Node) leaderHint(topic string, part int32) (int32, int32, meta.Broker, bool) {
	t, ok := n.meta.Topic(topic)
	if !ok || part < 0 || int(part) >= len(t.Partitions) {
		return 0, 0, meta.Broker{}, false
	}
	p := t.Partitions[part]
	if p.Leader < 0 || p.Leader == n.cfg.NodeID {
		return 0, 0, meta.Broker{}, false
	}
	for _, b := range n.meta.Brokers() {
		if b.ID == p.Leader && !b.Fenced {
			return p.Leader, p.LeaderEpoch, b, true
		}
	}
	return 0, 0, meta.Broker{}, false
}

func hintable(code int16) bool {
	return code == kerr.NotLeaderForPartition.Code || code == kerr.FencedLeaderEpoch.Code
}

// hintProduce fills the leader hints of a Produce response.
func (n *Node) hintProduce(version int16, resp *kmsg.ProduceResponse) {
	if version < 10 {
		return
	}
	listed := map[int32]bool{}
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		for pi := range rt.Partitions {
			sp := &rt.Partitions[pi]
			if !hintable(sp.ErrorCode) {
				continue
			}
			leader, epoch, b, ok := n.leaderHint(rt.Topic, sp.Partition)
			if !ok {
				continue
			}
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
			if !listed[leader] {
				listed[leader] = true
				rb := kmsg.NewProduceResponseBroker()
				rb.NodeID, rb.Host, rb.Port = b.ID, b.Host, b.Port
				if b.Rack != "" {
					rb.Rack = kmsg.StringPtr(b.Rack)
				}
				resp.Brokers = append(resp.Brokers, rb)
			}
		}
	}
}

// hintFetch fills the leader hints of a consumer's Fetch response; topic
// names the partitions' topic for a response that carries only IDs.
func (n *Node) hintFetch(version int16, resp *kmsg.FetchResponse, topic func(rt *kmsg.FetchResponseTopic) (string, bool)) {
	if version < 12 {
		return
	}
	listed := map[int32]bool{}
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		name, known := topic(rt)
		if !known {
			continue
		}
		for pi := range rt.Partitions {
			sp := &rt.Partitions[pi]
			if !hintable(sp.ErrorCode) {
				continue
			}
			leader, epoch, b, ok := n.leaderHint(name, sp.Partition)
			if !ok {
				continue
			}
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
			if version >= 16 && !listed[leader] {
				listed[leader] = true
				rb := kmsg.NewFetchResponseBroker()
				rb.NodeID, rb.Host, rb.Port = b.ID, b.Host, b.Port
				if b.Rack != "" {
					rb.Rack = kmsg.StringPtr(b.Rack)
				}
				resp.Brokers = append(resp.Brokers, rb)
			}
		}
	}
}
