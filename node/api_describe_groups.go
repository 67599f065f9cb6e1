package node

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/group"
)

// DescribeGroups (key 15): versions 0-6. As in Kafka, members' metadata and
// assignments and the group's protocol are given only for a Stable group;
// an unknown group is described as Dead. Authorized operations are not
// computed (Strata has no ACLs yet).
func init() { register(15, 0, 6, (*Node).handleDescribeGroups) }

func (n *Node) handleDescribeGroups(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DescribeGroupsRequest)
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Groups = make([]kmsg.DescribeGroupsResponseGroup, len(req.Groups))
	var wg sync.WaitGroup
	for i, id := range req.Groups {
		rg := &resp.Groups[i]
		*rg = kmsg.NewDescribeGroupsResponseGroup()
		wg.Add(1)
		n.groups.c.Describe(id, func(d group.Description) {
			defer wg.Done()
			rg.ErrorCode, rg.Group, rg.State, rg.ProtocolType, rg.Protocol = d.Err, d.Group, d.State, d.ProtocolType, d.Protocol
			for _, m := range d.Members {
				gm := kmsg.NewDescribeGroupsResponseGroupMember()
				gm.MemberID, gm.ClientID, gm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
				if m.InstanceID != "" {
					id := m.InstanceID
					gm.InstanceID = &id
				}
				gm.ProtocolMetadata, gm.MemberAssignment = nonNil(m.Metadata), nonNil(m.Assignment)
				rg.Members = append(rg.Members, gm)
			}
		})
	}
	n.safeGo(r, rep, func() {
		wg.Wait()
		rep.finish(resp)
	})
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
