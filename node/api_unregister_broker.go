package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// UnregisterBroker (key 64, version 0): removes a decommissioned broker's
// registration, what `kafka-cluster unregister` and `strata cluster remove`
// send. Only a broker that is down (fenced) and is no replica of any
// partition may go, so nothing is left pointing at it; a live broker is
// refused, as is one that still holds replicas (move them first:
// `strata cluster decommission`). A broker that starts again registers
// again.
func init() { register(64, 0, 0, (*Node).handleUnregisterBroker) }

func (n *Node) handleUnregisterBroker(r *request, rep *reply) {
	req := r.kreq.(*kmsg.UnregisterBrokerRequest)
	resp := kmsg.NewPtrUnregisterBrokerResponse()
	err := n.unregisterBroker(req.BrokerID)
	if err != nil {
		var ke *kerr.Error
		switch {
		case errors.As(err, &ke):
			resp.ErrorCode = ke.Code
		case errors.Is(err, meta.ErrUnknownBroker):
			resp.ErrorCode = kerr.BrokerIDNotRegistered.Code
		default:
			resp.ErrorCode = errCode(err)
		}
		resp.ErrorMessage = errMsg(err)
	}
	rep.finish(resp)
}

func (n *Node) unregisterBroker(id int32) error {
	bs := n.meta.Brokers()
	i := slices.IndexFunc(bs, func(b meta.Broker) bool { return b.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: broker %d is not registered", kerr.BrokerIDNotRegistered, id)
	}
	if !bs[i].Fenced {
		return fmt.Errorf("%w: broker %d is live; stop it first", kerr.InvalidRequest, id)
	}
	held := 0
	for _, t := range n.meta.Topics() {
		for _, p := range t.Partitions {
			if slices.Contains(p.Replicas, id) {
				held++
			}
		}
	}
	if held > 0 {
		return fmt.Errorf("%w: broker %d is still a replica of %d partitions; move them first (strata cluster decommission %d)", kerr.InvalidRequest, id, held, id)
	}
	ctx, cancel := adminCtx(0)
	defer cancel()
	if err := n.meta.UnregisterBroker(ctx, id); err != nil {
		return err
	}
	n.log.Info("broker unregistered", "broker", id)
	n.awaitOwnWrite(ctx, "broker unregistration", "broker", id)
	return nil
}
