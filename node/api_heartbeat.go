package node

import "github.com/twmb/franz-go/pkg/kmsg"

// Heartbeat (key 12): versions 0-4. REBALANCE_IN_PROGRESS tells a member to
// rejoin; a member that sends nothing for its session timeout is removed.
func init() { register(12, 0, 4, (*Node).handleHeartbeat) }

func (n *Node) handleHeartbeat(r *request, rep *reply) {
	req := r.kreq.(*kmsg.HeartbeatRequest)
	inst := ""
	if req.InstanceID != nil {
		inst = *req.InstanceID
	}
	n.groups.c.Heartbeat(req.Group, req.MemberID, inst, req.Generation, func(code int16) {
		resp := kmsg.NewPtrHeartbeatResponse()
		resp.ErrorCode = code
		rep.finish(resp)
	})
}
