package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions (key 65): version 0. Each transactional ID's state
// as the coordinator holds it; an unknown ID is TRANSACTIONAL_ID_NOT_FOUND
// and one coordinated elsewhere NOT_COORDINATOR.
func init() { register(65, 0, 0, (*Node).handleDescribeTransactions) }

func (n *Node) handleDescribeTransactions(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DescribeTransactionsRequest)
	resp := kmsg.NewPtrDescribeTransactionsResponse()
	for _, id := range req.TransactionalIDs {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID = id
		ts.ProducerID, ts.ProducerEpoch, ts.StartTimestamp = -1, -1, -1
		if code := n.checkTxnCoordinator(id); code != 0 {
			ts.ErrorCode = code
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		m, ok := n.txns.coord.Describe(id)
		if !ok {
			ts.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		ts.State = m.State.KafkaState()
		ts.TimeoutMillis = m.TimeoutMs
		ts.StartTimestamp = m.StartMs
		ts.ProducerID, ts.ProducerEpoch = m.ProducerID, m.Epoch
		for _, p := range m.SortedPartitions() {
			if n := len(ts.Topics); n == 0 || ts.Topics[n-1].Topic != p.Topic {
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic = p.Topic
				ts.Topics = append(ts.Topics, t)
			}
			last := &ts.Topics[len(ts.Topics)-1]
			last.Partitions = append(last.Partitions, p.Partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	rep.finish(resp)
}
