package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListOffsets (key 2): versions 1-8. Timestamps: -1 latest (the high
// watermark, or the last stable offset for read_committed), -2 earliest
// (the log start), -3 the record with the largest
// timestamp (v7+), -4 earliest local (v8+, the local log start), and >= 0 the
// first offset whose timestamp is at or after it.
func init() { register(2, 1, 8, (*Node).handleListOffsets) }

const (
	listLatest        = -1
	listEarliest      = -2
	listMaxTimestamp  = -3
	listEarliestLocal = -4
)

func (n *Node) handleListOffsets(r *request, rep *reply) {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := kmsg.NewPtrListOffsetsResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp = -1, -1
			p, code := n.lookupPartition(rt.Topic, rp.Partition)
			if code == 0 {
				code = checkLeaderEpoch(p, rp.CurrentLeaderEpoch)
			}
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			sp.LeaderEpoch = p.leadership().epoch
			hw := p.highWatermark()
			switch ts := rp.Timestamp; {
			case ts == listLatest && req.IsolationLevel == 1:
				sp.Offset = p.lastStable(hw)
			case ts == listLatest:
				sp.Offset = hw
			case (ts == listEarliest || ts >= 0) && p.coldNotReady(0):
				sp.ErrorCode = kerr.OffsetNotAvailable.Code // a new leader, reading the store's manifest
			case ts == listEarliest:
				sp.Offset = p.logStartOffset() // the remote log start when tiered
			case ts == listEarliestLocal && r.version >= 8:
				sp.Offset = p.log.StartOffset()
			case ts == listMaxTimestamp && r.version >= 7:
				mts, off := p.log.MaxTimestamp()
				if off >= 0 && off < hw {
					sp.Timestamp, sp.Offset = mts, off
				}
			case ts >= 0:
				off, found, fts, err := p.offsetForTimestampTiered(ts)
				if err != nil {
					sp.ErrorCode = errCode(err)
				} else if found && off < hw {
					sp.Offset, sp.Timestamp = off, fts
				}
			default:
				sp.ErrorCode = kerr.InvalidRequest.Code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	rep.finish(resp)
}
