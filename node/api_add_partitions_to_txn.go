package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/txn"
)

// AddPartitionsToTxn (key 24): versions 0-3, the client form. Versions
// 4+ (KIP-890 broker-to-broker verification) are not served.
//
// Unknown partitions fail with UNKNOWN_TOPIC_OR_PARTITION and the rest of
// the request with OPERATION_NOT_ATTEMPTED, as in Kafka; otherwise every
// partition gets the coordinator's answer. PRODUCER_FENCED is sent from
// v2, INVALID_PRODUCER_EPOCH before.
func init() { register(24, 0, 3, (*Node).handleAddPartitionsToTxn) }

func (n *Node) handleAddPartitionsToTxn(r *request, rep *reply) {
	req := r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	var parts []txn.Partition
	unknown := map[txn.Partition]bool{}
	for _, t := range req.Topics {
		mt, ok := n.meta.Topic(t.Topic)
		for _, p := range t.Partitions {
			tp := txn.Partition{Topic: t.Topic, Partition: p}
			parts = append(parts, tp)
			if !ok || p < 0 || int(p) >= len(mt.Partitions) {
				unknown[tp] = true
			}
		}
	}
	answer := func(code int16) {
		byTopic := map[string]int{}
		for _, tp := range parts {
			i, ok := byTopic[tp.Topic]
			if !ok {
				i = len(resp.Topics)
				byTopic[tp.Topic] = i
				st := kmsg.NewAddPartitionsToTxnResponseTopic()
				st.Topic = tp.Topic
				resp.Topics = append(resp.Topics, st)
			}
			sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			sp.Partition = tp.Partition
			sp.ErrorCode = code
			if len(unknown) > 0 {
				sp.ErrorCode = kerr.OperationNotAttempted.Code
				if unknown[tp] {
					sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
			}
			resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
		}
		rep.finish(resp)
	}
	if code := n.checkTxnCoordinator(req.TransactionalID); code != 0 || len(unknown) > 0 {
		answer(code)
		return
	}
	n.safeGo(r, rep, func() {
		ctx, cancel := txnCtx()
		defer cancel()
		err := n.txns.coord.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts)
		answer(txnErrCode(err, r.version, 2))
	})
}
