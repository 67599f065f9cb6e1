package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn (key 26): versions 0-3. The coordinator persists PrepareCommit or
// PrepareAbort, writes a control batch (commit or abort marker) to every
// partition of the transaction — the group offsets partitions included,
// after which the groups apply or drop the staged offsets — waits until
// the markers are durable, persists the Complete state and answers. A
// retried EndTxn of a completed transaction succeeds. PRODUCER_FENCED is
// sent from v2, INVALID_PRODUCER_EPOCH before. Versions 4+ (KIP-890) are
// not served.
func init() { register(26, 0, 3, (*Node).handleEndTxn) }

func (n *Node) handleEndTxn(r *request, rep *reply) {
	req := r.kreq.(*kmsg.EndTxnRequest)
	resp := kmsg.NewPtrEndTxnResponse()
	if code := n.checkTxnCoordinator(req.TransactionalID); code != 0 {
		resp.ErrorCode = code
		rep.finish(resp)
		return
	}
	n.safeGo(r, rep, func() {
		ctx, cancel := txnCtx()
		defer cancel()
		err := n.txns.coord.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
		if err != nil {
			n.log.Debug("EndTxn refused", "transactional_id", req.TransactionalID, "commit", req.Commit, "err", err)
		}
		resp.ErrorCode = txnErrCode(err, r.version, 2)
		rep.finish(resp)
	})
}
