package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId (key 22): versions 0-4.
//
// Without a transactional ID it hands out a fresh producer ID (epoch 0)
// from this node's block of cluster-unique IDs, allocated through the
// metadata quorum. With one it goes to the transaction coordinator, which
// bumps the epoch (aborting and fencing an open transaction of an earlier
// producer), or, from v3, recognises a recovering producer's current ID
// and epoch (KIP-360). PRODUCER_FENCED is sent from v4; earlier versions
// get INVALID_PRODUCER_EPOCH, as Kafka does. Version 5 (KIP-890
// transactions v2) is not served.
func init() { register(22, 0, 4, (*Node).handleInitProducerID) }

func (n *Node) handleInitProducerID(r *request, rep *reply) {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID == nil {
		n.safeGo(r, rep, func() {
			ctx, cancel := txnCtx()
			defer cancel()
			pid, err := n.txns.newProducerID(ctx)
			if err != nil {
				n.log.Warn("allocating a producer id", "err", err)
				resp.ErrorCode = txnErrCode(err, r.version, 4)
			} else {
				resp.ProducerID, resp.ProducerEpoch = pid, 0
			}
			rep.finish(resp)
		})
		return
	}
	id := *req.TransactionalID
	if code := n.checkTxnCoordinator(id); code != 0 {
		resp.ErrorCode = code
		rep.finish(resp)
		return
	}
	reqPID, reqEpoch := int64(-1), int16(-1)
	if r.version >= 3 {
		reqPID, reqEpoch = req.ProducerID, req.ProducerEpoch
	}
	n.safeGo(r, rep, func() {
		ctx, cancel := txnCtx()
		defer cancel()
		pid, epoch, err := n.txns.coord.InitProducerID(ctx, id, req.TransactionTimeoutMillis, reqPID, reqEpoch)
		if err != nil {
			n.log.Debug("InitProducerId refused", "transactional_id", id, "err", err)
			resp.ErrorCode = txnErrCode(err, r.version, 4)
		} else {
			resp.ProducerID, resp.ProducerEpoch = pid, epoch
		}
		rep.finish(resp)
	})
}
