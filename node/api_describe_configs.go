package node

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/kconfig"
)

// DescribeConfigs (key 32): versions 0-4. Topic and broker resources, with
// each value's source, its synonyms (v1+) and type and documentation (v3+).
func init() { register(32, 0, 4, (*Node).handleDescribeConfigs) }

func (n *Node) handleDescribeConfigs(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	resp := kmsg.NewPtrDescribeConfigsResponse()
	b := n.brokerCfg()
	for _, rr := range req.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		t, code, msg := n.resolveConfigResource(rr.ResourceType, rr.ResourceName, false)
		if code != 0 {
			res.ErrorCode, res.ErrorMessage = code, kmsg.StringPtr(msg)
			resp.Resources = append(resp.Resources, res)
			continue
		}
		names := rr.ConfigNames
		if names == nil {
			if t.topic {
				names = kconfig.TopicNames()
			} else {
				names = kconfig.BrokerNames()
			}
		}
		for _, name := range names {
			if !t.known(name) {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name = name
			var def *kconfig.Def
			if t.topic {
				def, _ = kconfig.TopicDef(name)
				v, src := b.TopicLookup(t.current, name)
				c.Value, c.Source = kmsg.StringPtr(v), kmsg.ConfigSource(src)
				if req.IncludeSynonyms {
					c.ConfigSynonyms = topicSynonyms(b, t.current, def)
				}
			} else {
				def, _ = kconfig.BrokerDef(name)
				v, src := b.Lookup(name)
				c.Value, c.Source = kmsg.StringPtr(v), kmsg.ConfigSource(src)
				if req.IncludeSynonyms {
					c.ConfigSynonyms = brokerSynonyms(b, def)
				}
			}
			if def.Nullable && c.Value != nil && *c.Value == "" {
				c.Value = nil
			}
			c.IsDefault = c.Source == kmsg.ConfigSourceDefaultConfig
			c.ReadOnly = !t.topic && rr.ResourceName != ""
			c.ConfigType = kmsg.ConfigType(def.Type)
			if req.IncludeDocumentation && def.Doc != "" {
				c.Documentation = kmsg.StringPtr(def.Doc)
			}
			res.Configs = append(res.Configs, c)
		}
		resp.Resources = append(resp.Resources, res)
	}
	rep.finish(resp)
}

func synonym(name, value string, src kconfig.Source) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, kmsg.StringPtr(value), kmsg.ConfigSource(src)
	return s
}

func topicSynonyms(b kconfig.Broker, overrides map[string]string, d *kconfig.Def) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	if v, ok := overrides[d.Topic]; ok {
		out = append(out, synonym(d.Topic, v, kconfig.SourceTopic))
	}
	if d.Broker != "" {
		out = append(out, brokerSynonyms(b, d)...)
	} else {
		out = append(out, synonym(d.Topic, d.Default, kconfig.SourceDefault))
	}
	return out
}

func brokerSynonyms(b kconfig.Broker, d *kconfig.Def) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	v, src := b.Lookup(d.Broker)
	if src != kconfig.SourceDefault {
		out = append(out, synonym(d.Broker, v, src))
	}
	return append(out, synonym(d.Broker, d.Default, kconfig.SourceDefault))
}
