package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords (key 21): versions 0-2. Moves a partition's log start offset
// forward (-1 means the high watermark); whole segments below it are deleted.
// As in Kafka the log start is the whole log's: below the local log start
// of a tiered partition it moves the remote log start, and remote segments
// wholly below it are deleted by the tiering manager.
func init() { register(21, 0, 2, (*Node).handleDeleteRecords) }

func (n *Node) handleDeleteRecords(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := kmsg.NewPtrDeleteRecordsResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			p, code := n.lookupPartition(rt.Topic, rp.Partition)
			if n.readReplica() && code == 0 && !isInternalTopic(rt.Topic) {
				code = kerr.TopicAuthorizationFailed.Code
			}
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			hw := p.highWatermark()
			off := rp.Offset
			if off == -1 {
				off = hw
			}
			switch {
			case off < 0 || off > hw:
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				if off > p.logStartOffset() {
					// Both tiers: below the local start it moves the remote start (tiering.go).
					if err := p.deleteRecordsBefore(off); err != nil {
						sp.ErrorCode = errCode(err)
						n.log.Error("DeleteRecords", "topic", rt.Topic, "partition", rp.Partition, "err", err)
					}
				}
				sp.LowWatermark = p.logStartOffset()
				if sp.ErrorCode == 0 {
					n.log.Info("log start offset moved by DeleteRecords", "topic", rt.Topic, "partition", rp.Partition, "log_start", sp.LowWatermark)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	rep.finish(resp)
}
