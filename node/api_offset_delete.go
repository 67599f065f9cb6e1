package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/group"
)

// OffsetDelete (key 47): version 0. Offsets of a topic that a member of the
// group subscribes to cannot be deleted (GROUP_SUBSCRIBED_TO_TOPIC).
func init() { register(47, 0, 0, (*Node).handleOffsetDelete) }

func (n *Node) handleOffsetDelete(r *request, rep *reply) {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	topics := map[string][]int32{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			topics[t.Topic] = append(topics[t.Topic], p.Partition)
		}
	}
	n.groups.c.DeleteOffsets(req.Group, topics, func(code int16, codes map[group.TopicPartition]int16) {
		resp := kmsg.NewPtrOffsetDeleteResponse()
		resp.ErrorCode = code
		if code == 0 {
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetDeleteResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetDeleteResponseTopicPartition()
					rp.Partition = p.Partition
					rp.ErrorCode = codes[group.TopicPartition{Topic: t.Topic, Partition: p.Partition}]
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		rep.finish(resp)
	})
}
