package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/group"
)

// SyncGroup (key 14): versions 0-5. The leader's assignments are written to
// __consumer_offsets before any member gets its assignment; followers wait,
// off the connection's reader, until then.
func init() { register(14, 0, 5, (*Node).handleSyncGroup) }

func (n *Node) handleSyncGroup(r *request, rep *reply) {
	req := r.kreq.(*kmsg.SyncGroupRequest)
	sr := group.SyncRequest{
		MemberID:     req.MemberID,
		Generation:   req.Generation,
		ProtocolType: req.ProtocolType,
		Protocol:     req.Protocol,
	}
	if req.InstanceID != nil {
		sr.InstanceID = *req.InstanceID
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = map[string][]byte{}
		for _, a := range req.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	n.groups.c.Sync(req.Group, sr, func(res group.SyncResult) {
		resp := kmsg.NewPtrSyncGroupResponse()
		resp.ErrorCode = res.Err
		if res.Err == 0 {
			pt, p := res.ProtocolType, res.Protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
			resp.MemberAssignment = res.Assignment
			if resp.MemberAssignment == nil {
				resp.MemberAssignment = []byte{}
			}
		}
		rep.finish(resp)
	})
}
