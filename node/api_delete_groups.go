package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups (key 42): versions 0-2. Only empty groups can be deleted
// (NON_EMPTY_GROUP otherwise); the group and its offsets are removed with
// tombstones in __consumer_offsets before the answer.
func init() { register(42, 0, 2, (*Node).handleDeleteGroups) }

func (n *Node) handleDeleteGroups(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	n.groups.c.Delete(req.Groups, func(codes map[string]int16) {
		resp := kmsg.NewPtrDeleteGroupsResponse()
		for _, id := range req.Groups {
			g := kmsg.NewDeleteGroupsResponseGroup()
			g.Group, g.ErrorCode = id, codes[id]
			resp.Groups = append(resp.Groups, g)
		}
		rep.finish(resp)
	})
}
