package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch (key 23): versions 0-4. Returns, for a leader epoch,
// the largest epoch at or below it and the offset where it ended — what a
// consumer uses to detect log truncation after a leader change, and what a
// follower truncates a divergent tail to (replication_follower.go).
func init() { register(23, 0, 4, (*Node).handleOffsetForLeaderEpoch) }

func (n *Node) handleOffsetForLeaderEpoch(r *request, rep *reply) {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	// A follower (or consumer) that names a leader epoch this node has not
	// applied yet gets its answer once the node has (awaitNewerEpochs).
	newer := func() bool {
		return r.version >= 2 && n.namesNewerEpoch(func(yield func(*partition, int32) bool) {
			for _, rt := range req.Topics {
				for _, rp := range rt.Partitions {
					if !yield(n.parts.get(rt.Topic, rp.Partition), rp.CurrentLeaderEpoch) {
						return
					}
				}
			}
		})
	}
	if newer() {
		n.safeGo(r, rep, func() {
			n.awaitNewerEpochs(newer)
			n.answerOffsetForLeaderEpoch(r, rep, req)
		})
		return
	}
	n.answerOffsetForLeaderEpoch(r, rep, req)
}

func (n *Node) answerOffsetForLeaderEpoch(r *request, rep *reply, req *kmsg.OffsetForLeaderEpochRequest) {
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			p, code := n.lookupPartition(rt.Topic, rp.Partition)
			if code == 0 && r.version >= 2 {
				code = checkLeaderEpoch(p, rp.CurrentLeaderEpoch)
			}
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			epoch, end := p.log.EndOffsetForEpoch(rp.LeaderEpoch)
			// A follower (replica ID set, v3+) learns where the epoch ends
			// in the log, past the high watermark: it truncates only what
			// the leader does not have. A consumer sees no further than
			// the high watermark.
			if req.ReplicaID < 0 && end > p.highWatermark() && epoch == p.leadership().epoch {
				end = p.highWatermark()
			}
			sp.LeaderEpoch, sp.EndOffset = epoch, end
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	rep.finish(resp)
}
