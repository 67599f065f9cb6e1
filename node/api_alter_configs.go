package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AlterConfigs (key 33): versions 0-2. Replaces a resource's whole set of
// dynamic configs with the request's (configs not named are removed), as
// Kafka's non-incremental API does.
func init() { register(33, 0, 2, (*Node).handleAlterConfigs) }

func (n *Node) handleAlterConfigs(r *request, rep *reply) {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	resp := kmsg.NewPtrAlterConfigsResponse()
	for _, rr := range req.Resources {
		res := kmsg.NewAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		t, code, msg := n.resolveConfigResource(rr.ResourceType, rr.ResourceName, true)
		if code != 0 {
			res.ErrorCode, res.ErrorMessage = code, kmsg.StringPtr(msg)
			resp.Resources = append(resp.Resources, res)
			continue
		}
		values := map[string]string{}
		for _, c := range rr.Configs {
			if c.Value == nil {
				continue
			}
			if err := t.check(c.Name, *c.Value); err != nil {
				res.ErrorCode, res.ErrorMessage = kerr.InvalidConfig.Code, errMsg(err)
				break
			}
			values[c.Name] = *c.Value
		}
		if res.ErrorCode == 0 {
			if err := n.checkCombination(t, values); err != nil {
				res.ErrorCode, res.ErrorMessage = kerr.InvalidConfig.Code, errMsg(err)
			}
		}
		if res.ErrorCode == 0 && !req.ValidateOnly {
			if err := n.applyConfigs(t, values, 0); err != nil {
				res.ErrorCode, res.ErrorMessage = errCode(err), errMsg(err)
			}
		}
		resp.Resources = append(resp.Resources, res)
	}
	rep.finish(resp)
}
