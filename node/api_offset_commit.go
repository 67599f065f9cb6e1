package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/group"
)

// OffsetCommit (key 8): versions 0-9 (v10 names topics by ID). Offsets are
// written to the group's __consumer_offsets partition and answered once
// durable. v0 (ZooKeeper storage in Kafka) is stored like every other
// version. A commit with generation -1 to an empty group is a standalone
// commit; otherwise the member and generation must be current. The
// retention time of v2-v4 is ignored, as Kafka does since 2.1:
// offsets.retention.minutes applies.
func init() { register(8, 0, 9, (*Node).handleOffsetCommit) }

func (n *Node) handleOffsetCommit(r *request, rep *reply) {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	cr := group.CommitRequest{
		Group:      req.Group,
		MemberID:   req.MemberID,
		Generation: req.Generation,
		Offsets:    map[string]map[int32]group.OffsetCommit{},
	}
	if r.version == 0 {
		cr.Generation = -1
	}
	if req.InstanceID != nil {
		cr.InstanceID = *req.InstanceID
	}
	for _, t := range req.Topics {
		ps := cr.Offsets[t.Topic]
		if ps == nil {
			ps = map[int32]group.OffsetCommit{}
			cr.Offsets[t.Topic] = ps
		}
		for _, p := range t.Partitions {
			epoch := p.LeaderEpoch
			if r.version < 6 {
				epoch = -1
			}
			ps[p.Partition] = group.OffsetCommit{Offset: p.Offset, LeaderEpoch: epoch, Metadata: p.Metadata}
		}
	}
	n.groups.c.Commit(cr, func(code int16, codes map[group.TopicPartition]int16) {
		resp := kmsg.NewPtrOffsetCommitResponse()
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = code
				if code == 0 {
					rp.ErrorCode = codes[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}]
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		rep.finish(resp)
	})
}
