package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/group"
)

// LeaveGroup (key 13): versions 0-5; v3+ removes a batch of members, by
// member ID or by group.instance.id (static members).
func init() { register(13, 0, 5, (*Node).handleLeaveGroup) }

func (n *Node) handleLeaveGroup(r *request, rep *reply) {
	req := r.kreq.(*kmsg.LeaveGroupRequest)
	var reqs []group.LeaveRequest
	if r.version < 3 {
		reqs = []group.LeaveRequest{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			lr := group.LeaveRequest{MemberID: m.MemberID}
			if m.InstanceID != nil {
				lr.InstanceID = *m.InstanceID
			}
			reqs = append(reqs, lr)
		}
	}
	n.groups.c.Leave(req.Group, reqs, func(code int16, codes []int16) {
		resp := kmsg.NewPtrLeaveGroupResponse()
		resp.ErrorCode = code
		if r.version < 3 {
			if code == 0 && len(codes) == 1 {
				resp.ErrorCode = codes[0]
			}
			rep.finish(resp)
			return
		}
		if code == 0 {
			for i, m := range req.Members {
				rm := kmsg.NewLeaveGroupResponseMember()
				rm.MemberID = m.MemberID
				rm.InstanceID = m.InstanceID
				rm.ErrorCode = codes[i]
				resp.Members = append(resp.Members, rm)
			}
		}
		rep.finish(resp)
	})
}
