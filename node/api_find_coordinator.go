package node

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// FindCoordinator (key 10): versions 0-5; v4+ is batched (CoordinatorKeys).
// Group keys (type 0) are answered with the leader of the group's
// __consumer_offsets partition, creating the topic on first use as Kafka
// does. Transaction keys (type 1) are answered by txnCoordinatorFor, which
// the transaction coordinator sets; without it they get
// COORDINATOR_NOT_AVAILABLE. Other key types are INVALID_REQUEST.
func init() { register(10, 0, 5, (*Node).handleFindCoordinator) }

// txnCoordinatorFor finds the transaction coordinator of a transactional
// ID; nil until transactions are served.
var txnCoordinatorFor func(n *Node, ctx context.Context, txnID string) (meta.Broker, error)

func (n *Node) handleFindCoordinator(r *request, rep *reply) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	keys := req.CoordinatorKeys
	if r.version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	n.safeGo(r, rep, func() {
		ctx, cancel := adminCtx(0)
		defer cancel()
		resp := kmsg.NewPtrFindCoordinatorResponse()
		for _, key := range keys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key = key
			c.NodeID = -1
			var (
				b   meta.Broker
				err error
			)
			switch req.CoordinatorType {
			case 0:
				b, err = n.groupCoordinatorFor(ctx, key)
			case 1:
				if txnCoordinatorFor == nil {
					err = kerr.CoordinatorNotAvailable
				} else {
					b, err = txnCoordinatorFor(n, ctx, key)
				}
			default:
				err = kerr.InvalidRequest
			}
			if err != nil {
				c.ErrorCode = errCode(err)
				if c.ErrorCode == kerr.UnknownServerError.Code || c.ErrorCode == kerr.RequestTimedOut.Code || c.ErrorCode == kerr.InvalidReplicationFactor.Code {
					c.ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
				c.ErrorMessage = errMsg(err)
			} else {
				c.NodeID = b.ID
				c.Host, c.Port = b.Addr(r.conn.listener.spec.Name)
			}
			resp.Coordinators = append(resp.Coordinators, c)
		}
		if r.version < 4 && len(resp.Coordinators) == 1 {
			c := resp.Coordinators[0]
			resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
			resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
			resp.Coordinators = nil
		}
		rep.finish(resp)
	})
}
