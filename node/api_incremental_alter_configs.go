package node

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/kconfig"
)

// IncrementalAlterConfigs (key 44): versions 0-1. SET, DELETE, and APPEND /
// SUBTRACT on list configs, applied to the resource's current dynamic values.
func init() { register(44, 0, 1, (*Node).handleIncrementalAlterConfigs) }

func (n *Node) handleIncrementalAlterConfigs(r *request, rep *reply) {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := kmsg.NewPtrIncrementalAlterConfigsResponse()
	for _, rr := range req.Resources {
		res := kmsg.NewIncrementalAlterConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		t, code, msg := n.resolveConfigResource(rr.ResourceType, rr.ResourceName, true)
		if code != 0 {
			res.ErrorCode, res.ErrorMessage = code, kmsg.StringPtr(msg)
			resp.Resources = append(resp.Resources, res)
			continue
		}
		values := t.current
		err := applyIncremental(t, values, rr.Configs, n.brokerCfg())
		if err == nil {
			err = n.checkCombination(t, values)
		}
		if err != nil {
			res.ErrorCode, res.ErrorMessage = kerr.InvalidConfig.Code, errMsg(err)
			resp.Resources = append(resp.Resources, res)
			continue
		}
		if !req.ValidateOnly {
			if err := n.applyConfigs(t, values, 0); err != nil {
				res.ErrorCode, res.ErrorMessage = errCode(err), errMsg(err)
			}
		}
		resp.Resources = append(resp.Resources, res)
	}
	rep.finish(resp)
}

func applyIncremental(t configTarget, values map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, b kconfig.Broker) error {
	for _, c := range ops {
		if !t.known(c.Name) {
			return fmt.Errorf("%w: %q", kconfig.ErrUnknown, c.Name)
		}
		val := ""
		if c.Value != nil {
			val = *c.Value
		}
		switch c.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if err := t.check(c.Name, val); err != nil {
				return err
			}
			values[c.Name] = val
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(values, c.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			def, _ := kconfig.TopicDef(c.Name)
			if !t.topic {
				def, _ = kconfig.BrokerDef(c.Name)
			}
			if def.Type != kconfig.List {
				return fmt.Errorf("%w: %s is not a list config", kconfig.ErrInvalid, c.Name)
			}
			cur, ok := values[c.Name]
			if !ok {
				if t.topic {
					cur, _ = b.TopicLookup(nil, c.Name)
				} else {
					cur = b.Get(c.Name)
				}
			}
			nv := listAppend(cur, val)
			if c.Op == kmsg.IncrementalAlterConfigOpSubtract {
				nv = listSubtract(cur, val)
			}
			if err := t.check(c.Name, nv); err != nil {
				return err
			}
			values[c.Name] = nv
		default:
			return fmt.Errorf("%w: unknown operation %d on %s", kconfig.ErrInvalid, c.Op, c.Name)
		}
	}
	return nil
}
