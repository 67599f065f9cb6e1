package node

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/group"
)

// OffsetFetch (key 9): versions 0-8; v8 fetches for many groups at once.
// Null topics (v2+) return every committed offset of the group. With
// RequireStable (v7+), partitions with uncommitted transactional offsets
// answer UNSTABLE_OFFSET_COMMIT. A partition without a commit has offset -1.
func init() { register(9, 0, 8, (*Node).handleOffsetFetch) }

func (n *Node) handleOffsetFetch(r *request, rep *reply) {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	if r.version < 8 {
		topics := map[string][]int32{}
		if req.Topics == nil {
			topics = nil
		}
		for _, t := range req.Topics {
			topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
		}
		n.groups.c.Fetch(req.Group, topics, req.RequireStable, func(code int16, offs []group.FetchedOffset) {
			resp := kmsg.NewPtrOffsetFetchResponse()
			resp.ErrorCode = code
			var cur *kmsg.OffsetFetchResponseTopic
			for _, o := range offs {
				if cur == nil || cur.Topic != o.Topic {
					resp.Topics = append(resp.Topics, kmsg.NewOffsetFetchResponseTopic())
					cur = &resp.Topics[len(resp.Topics)-1]
					cur.Topic = o.Topic
				}
				p := kmsg.NewOffsetFetchResponseTopicPartition()
				p.Partition, p.Offset, p.LeaderEpoch, p.ErrorCode = o.Partition, o.Offset, o.LeaderEpoch, o.Err
				p.Metadata = metadataOrEmpty(o.Metadata)
				if r.version < 2 && code != 0 {
					p.ErrorCode = code
				}
				cur.Partitions = append(cur.Partitions, p)
			}
			if r.version < 2 && code != 0 && len(resp.Topics) == 0 {
				// v0-v1 have no group-level error: report it per partition.
				for _, t := range req.Topics {
					rt := kmsg.NewOffsetFetchResponseTopic()
					rt.Topic = t.Topic
					for _, part := range t.Partitions {
						p := kmsg.NewOffsetFetchResponseTopicPartition()
						p.Partition, p.Offset, p.ErrorCode = part, -1, code
						rt.Partitions = append(rt.Partitions, p)
					}
					resp.Topics = append(resp.Topics, rt)
				}
			}
			rep.finish(resp)
		})
		return
	}
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Groups = make([]kmsg.OffsetFetchResponseGroup, len(req.Groups))
	var wg sync.WaitGroup
	for i, g := range req.Groups {
		resp.Groups[i] = kmsg.NewOffsetFetchResponseGroup()
		rg := &resp.Groups[i]
		rg.Group = g.Group
		var topics map[string][]int32
		if g.Topics != nil {
			topics = map[string][]int32{}
			for _, t := range g.Topics {
				topics[t.Topic] = append(topics[t.Topic], t.Partitions...)
			}
		}
		wg.Add(1)
		n.groups.c.Fetch(g.Group, topics, req.RequireStable, func(code int16, offs []group.FetchedOffset) {
			defer wg.Done()
			rg.ErrorCode = code
			var cur *kmsg.OffsetFetchResponseGroupTopic
			for _, o := range offs {
				if cur == nil || cur.Topic != o.Topic {
					rg.Topics = append(rg.Topics, kmsg.NewOffsetFetchResponseGroupTopic())
					cur = &rg.Topics[len(rg.Topics)-1]
					cur.Topic = o.Topic
				}
				p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				p.Partition, p.Offset, p.LeaderEpoch, p.ErrorCode = o.Partition, o.Offset, o.LeaderEpoch, o.Err
				p.Metadata = metadataOrEmpty(o.Metadata)
				cur.Partitions = append(cur.Partitions, p)
			}
		})
	}
	n.safeGo(r, rep, func() {
		wg.Wait()
		rep.finish(resp)
	})
}

func metadataOrEmpty(s *string) *string {
	if s == nil {
		return kmsg.StringPtr("")
	}
	return s
}
