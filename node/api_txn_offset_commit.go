package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/group"
)

// TxnOffsetCommit (key 28): versions 0-3 (v3 adds the member and
// generation checks of KIP-447). When this node also coordinates the
// transactional ID it first checks that the producer's open transaction
// includes the group (AddOffsetsToTxn); the group coordinator then writes the offsets to the
// group's __consumer_offsets partition as a transactional batch of that
// producer and stages them until EndTxn's marker commits or aborts them.
// A producer whose transaction does not include the group gets
// INVALID_TXN_STATE for every partition, a fenced one PRODUCER_FENCED from
// v3 and INVALID_PRODUCER_EPOCH before, as Kafka answers.
func init() { register(28, 0, 3, (*Node).handleTxnOffsetCommit) }

func (n *Node) handleTxnOffsetCommit(r *request, rep *reply) {
	req := r.kreq.(*kmsg.TxnOffsetCommitRequest)
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	answer := func(codeFor func(topic string, part int32) int16) {
		for _, t := range req.Topics {
			st := kmsg.NewTxnOffsetCommitResponseTopic()
			st.Topic = t.Topic
			for _, p := range t.Partitions {
				sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				sp.Partition = p.Partition
				sp.ErrorCode = codeFor(t.Topic, p.Partition)
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		rep.finish(resp)
	}
	all := func(code int16) func(string, int32) int16 { return func(string, int32) int16 { return code } }
	// This node is the group's coordinator. Where it also coordinates
	// the transactional ID it checks the transaction includes the group;
	// where another node does, the transactional append to the offsets
	// partition still fences a stale producer epoch, as in Kafka before
	// KIP-890's verification.
	if n.checkTxnCoordinator(req.TransactionalID) == 0 {
		if err := n.txns.coord.InTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group); err != nil {
			answer(all(txnErrCode(err, r.version, 3)))
			return
		}
	}
	offsets := map[string]map[int32]group.OffsetCommit{}
	for _, t := range req.Topics {
		if offsets[t.Topic] == nil {
			offsets[t.Topic] = map[int32]group.OffsetCommit{}
		}
		for _, p := range t.Partitions {
			le := int32(-1)
			if r.version >= 2 {
				le = p.LeaderEpoch
			}
			offsets[t.Topic][p.Partition] = group.OffsetCommit{Offset: p.Offset, LeaderEpoch: le, Metadata: p.Metadata}
		}
	}
	generation, memberID, instanceID := int32(-1), "", (*string)(nil)
	if r.version >= 3 {
		generation, memberID, instanceID = req.Generation, req.MemberID, req.InstanceID
	}
	n.safeGo(r, rep, func() {
		ctx, cancel := txnCtx()
		defer cancel()
		res, err := n.GroupCoordinator().TxnOffsetCommit(ctx, req.Group, req.ProducerID, req.ProducerEpoch, generation, memberID, instanceID, offsets)
		if err != nil {
			n.log.Debug("TxnOffsetCommit failed", "group", req.Group, "err", err)
			answer(all(kerr.CoordinatorNotAvailable.Code))
			return
		}
		answer(func(t string, p int32) int16 {
			if e := res[t][p]; e != nil {
				return txnErrCode(e, r.version, 3)
			}
			return 0
		})
	})
}
