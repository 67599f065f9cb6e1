package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeProducers (key 61): version 0. For each requested partition
// hosted here, the producers with state on it: ID, epoch, last sequence,
// last write time, coordinator epoch and the start offset of an open
// transaction (-1 when none).
func init() { register(61, 0, 0, (*Node).handleDescribeProducers) }

func (n *Node) handleDescribeProducers(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	resp := kmsg.NewPtrDescribeProducersResponse()
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		for _, part := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = part
			p, code := n.lookupPartition(rt.Topic, part)
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p.appendMu.Lock()
			entries := p.prod.state.Entries()
			p.appendMu.Unlock()
			for _, e := range entries {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID = e.ProducerID
				ap.ProducerEpoch = int32(e.Epoch)
				ap.LastSequence = e.LastSeq()
				ap.LastTimestamp = e.LastWriteMs
				ap.CoordinatorEpoch = e.CoordinatorEpoch
				ap.CurrentTxnStartOffset = e.TxnFirstOffset
				sp.ActiveProducers = append(sp.ActiveProducers, ap)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	rep.finish(resp)
}
