package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/group"
)

// ListGroups (key 16): versions 0-5. Filters by state (v4+) and by group
// type (v5+); every Strata group is a "classic" group.
func init() { register(16, 0, 5, (*Node).handleListGroups) }

func (n *Node) handleListGroups(r *request, rep *reply) {
	req := r.kreq.(*kmsg.ListGroupsRequest)
	states := map[string]bool{}
	for _, s := range req.StatesFilter {
		states[s] = true
	}
	typeOK := len(req.TypesFilter) == 0
	for _, t := range req.TypesFilter {
		if t == "classic" || t == "Classic" {
			typeOK = true
		}
	}
	n.groups.c.List(func(ls []group.Listing) {
		resp := kmsg.NewPtrListGroupsResponse()
		for _, l := range ls {
			if !typeOK || (len(states) > 0 && !states[l.State.String()]) {
				continue
			}
			g := kmsg.NewListGroupsResponseGroup()
			g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.Group, l.ProtocolType, l.State.String(), "classic"
			resp.Groups = append(resp.Groups, g)
		}
		rep.finish(resp)
	})
}
