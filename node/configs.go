package node

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/kconfig"
)

// Shared logic of DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.
//
// Topic resources hold per-topic overrides. Broker resources are served for
// the cluster-wide dynamic defaults (empty resource name) and for any
// registered broker ID (which reports the effective values); alterations are
// accepted for the cluster-wide defaults only.

// configTarget is a resolved config resource.
type configTarget struct {
	topic   bool
	name    string            // topic name or broker resource name
	current map[string]string // current dynamic values (topic overrides or cluster configs)
}

func (n *Node) resolveConfigResource(typ kmsg.ConfigResourceType, name string, alter bool) (configTarget, int16, string) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := n.meta.Topic(name)
		if !ok {
			return configTarget{}, kerr.UnknownTopicOrPartition.Code, fmt.Sprintf("unknown topic %q", name)
		}
		return configTarget{topic: true, name: name, current: copyMap(t.Configs)}, 0, ""
	case kmsg.ConfigResourceTypeBroker:
		if name != "" {
			id, err := strconv.ParseInt(name, 10, 32)
			if err != nil {
				return configTarget{}, kerr.InvalidRequest.Code, fmt.Sprintf("broker resource name %q is not a broker ID", name)
			}
			if _, ok := n.brokerByID(int32(id)); !ok {
				return configTarget{}, kerr.InvalidRequest.Code, fmt.Sprintf("unknown broker %d", id)
			}
			if alter {
				return configTarget{}, kerr.InvalidRequest.Code, "per-broker dynamic configs are not supported; alter the cluster-wide default (empty resource name)"
			}
		}
		return configTarget{name: name, current: copyMap(n.meta.ClusterConfigs())}, 0, ""
	}
	return configTarget{}, kerr.InvalidRequest.Code, fmt.Sprintf("config resource type %d is not supported", typ)
}

func (n *Node) brokerByID(id int32) (struct{}, bool) {
	for _, b := range n.meta.Brokers() {
		if b.ID == id {
			return struct{}{}, true
		}
	}
	return struct{}{}, false
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (t configTarget) check(name, value string) error {
	if t.topic {
		return kconfig.CheckTopic(name, value)
	}
	return kconfig.CheckBroker(name, value)
}

func (t configTarget) known(name string) bool {
	if t.topic {
		_, ok := kconfig.TopicDef(name)
		return ok
	}
	_, ok := kconfig.BrokerDef(name)
	return ok
}

// checkCombination refuses value sets that are valid one by one but not
// together (a local tail kept longer than the whole log).
func (n *Node) checkCombination(t configTarget, values map[string]string) error {
	if !t.topic {
		return nil
	}
	return kconfig.CheckRetentions(n.brokerCfg().Topic(values))
}

// apply stores new dynamic values for the target.
func (n *Node) applyConfigs(t configTarget, values map[string]string, timeoutMs int32) error {
	ctx, cancel := adminCtx(timeoutMs)
	defer cancel()
	var err error
	if t.topic {
		err = n.meta.SetTopicConfigs(ctx, t.name, values)
	} else {
		err = n.meta.SetClusterConfigs(ctx, values)
	}
	if err != nil {
		return err
	}
	n.awaitOwnWrite(ctx, "config change")
	n.log.Info("configs altered", "topic", t.topic, "resource", t.name, "configs", values)
	return nil
}

// listAppend and listSubtract implement IncrementalAlterConfigs' APPEND and
// SUBTRACT on list configs.
func listAppend(cur, add string) string {
	items := splitItems(cur)
	for _, a := range splitItems(add) {
		if !containsStr(items, a) {
			items = append(items, a)
		}
	}
	return strings.Join(items, ",")
}

func listSubtract(cur, sub string) string {
	var out []string
	rm := splitItems(sub)
	for _, c := range splitItems(cur) {
		if !containsStr(rm, c) {
			out = append(out, c)
		}
	}
	return strings.Join(out, ",")
}

func splitItems(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func containsStr(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
