package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddOffsetsToTxn (key 25): versions 0-3. It adds the group's
// __consumer_offsets partition to the producer's transaction, so EndTxn
// writes a marker there and completes the group's staged offsets.
// PRODUCER_FENCED is sent from v2, INVALID_PRODUCER_EPOCH before.
func init() { register(25, 0, 3, (*Node).handleAddOffsetsToTxn) }

func (n *Node) handleAddOffsetsToTxn(r *request, rep *reply) {
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := kmsg.NewPtrAddOffsetsToTxnResponse()
	if code := n.checkTxnCoordinator(req.TransactionalID); code != 0 {
		resp.ErrorCode = code
		rep.finish(resp)
		return
	}
	n.safeGo(r, rep, func() {
		ctx, cancel := txnCtx()
		defer cancel()
		if _, err := n.ensureOffsetsTopic(ctx); err != nil {
			resp.ErrorCode = txnErrCode(err, r.version, 2)
			rep.finish(resp)
			return
		}
		part := n.GroupCoordinator().OffsetsPartition(req.Group)
		err := n.txns.coord.AddOffsets(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, part)
		resp.ErrorCode = txnErrCode(err, r.version, 2)
		rep.finish(resp)
	})
}
