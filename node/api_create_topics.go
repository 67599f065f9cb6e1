package node

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/kconfig"
	"github.com/stratalog/strata/meta"
)

// CreateTopics (key 19): versions 0-7. -1 partitions or replication factor
// take the broker defaults (v4+). Configs are validated against Kafka's names
// and ranges; ValidateOnly checks without creating. v5+ returns the resulting
// configs, v7 the topic ID.
func init() { register(19, 0, 7, (*Node).handleCreateTopics) }

func (n *Node) handleCreateTopics(r *request, rep *reply) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := kmsg.NewPtrCreateTopicsResponse()
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	created := false
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		fail := func(code int16, msg string) {
			st.ErrorCode = code
			st.ErrorMessage = kmsg.StringPtr(msg)
			resp.Topics = append(resp.Topics, st)
		}
		if seen[rt.Topic] > 1 {
			fail(kerr.InvalidRequest.Code, "topic named more than once in the request")
			continue
		}
		spec, code, err := n.topicSpec(rt)
		if err != nil {
			fail(code, err.Error())
			continue
		}
		if _, exists := n.meta.Topic(rt.Topic); exists {
			fail(kerr.TopicAlreadyExists.Code, fmt.Sprintf("topic %q already exists", rt.Topic))
			continue
		}
		if req.ValidateOnly {
			st.NumPartitions, st.ReplicationFactor = spec.NumPartitions, spec.ReplicationFactor
			st.Configs = n.createTopicConfigs(spec.Configs)
			resp.Topics = append(resp.Topics, st)
			continue
		}
		ctx, cancel := adminCtx(req.TimeoutMillis)
		t, err := n.meta.CreateTopic(ctx, spec)
		cancel()
		if err != nil {
			fail(errCode(err), err.Error())
			continue
		}
		created = true
		n.log.Info("created topic", "topic", t.Name, "partitions", len(t.Partitions), "replication_factor", spec.ReplicationFactor)
		st.TopicID = t.ID
		st.NumPartitions, st.ReplicationFactor = spec.NumPartitions, spec.ReplicationFactor
		st.Configs = n.createTopicConfigs(spec.Configs)
		resp.Topics = append(resp.Topics, st)
	}
	if created {
		ctx, cancel := adminCtx(req.TimeoutMillis)
		n.awaitOwnWrite(ctx, "created topics")
		cancel()
	}
	rep.finish(resp)
}

// topicSpec validates a CreateTopics entry and resolves broker defaults.
func (n *Node) topicSpec(rt kmsg.CreateTopicsRequestTopic) (meta.TopicSpec, int16, error) {
	if err := validTopicName(rt.Topic); err != nil {
		return meta.TopicSpec{}, kerr.InvalidTopicException.Code, err
	}
	b := n.brokerCfg()
	spec := meta.TopicSpec{Name: rt.Topic, NumPartitions: rt.NumPartitions, ReplicationFactor: rt.ReplicationFactor, Configs: map[string]string{}}
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return spec, kerr.InvalidRequest.Code, fmt.Errorf("replica assignment given with a partition count or replication factor")
		}
		spec.Assignments = map[int32][]int32{}
		brokers := map[int32]bool{}
		for _, br := range n.meta.Brokers() {
			brokers[br.ID] = true
		}
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || int(a.Partition) >= len(rt.ReplicaAssignment) {
				return spec, kerr.InvalidReplicaAssignment.Code, fmt.Errorf("partitions must be numbered 0 to %d", len(rt.ReplicaAssignment)-1)
			}
			if _, dup := spec.Assignments[a.Partition]; dup {
				return spec, kerr.InvalidReplicaAssignment.Code, fmt.Errorf("partition %d assigned twice", a.Partition)
			}
			if len(a.Replicas) == 0 {
				return spec, kerr.InvalidReplicaAssignment.Code, fmt.Errorf("partition %d has no replicas", a.Partition)
			}
			uniq := map[int32]bool{}
			for _, id := range a.Replicas {
				if !brokers[id] {
					return spec, kerr.InvalidReplicaAssignment.Code, fmt.Errorf("partition %d names unknown broker %d", a.Partition, id)
				}
				if uniq[id] {
					return spec, kerr.InvalidReplicaAssignment.Code, fmt.Errorf("partition %d names broker %d twice", a.Partition, id)
				}
				uniq[id] = true
			}
			spec.Assignments[a.Partition] = append([]int32{}, a.Replicas...)
		}
		spec.NumPartitions = int32(len(rt.ReplicaAssignment))
		spec.ReplicationFactor = int16(len(rt.ReplicaAssignment[0].Replicas))
	}
	if spec.NumPartitions == -1 {
		spec.NumPartitions = int32(b.Int64("num.partitions"))
	}
	if spec.ReplicationFactor == -1 {
		spec.ReplicationFactor = int16(b.Int64("default.replication.factor"))
	}
	if spec.NumPartitions <= 0 || spec.NumPartitions > 100000 {
		return spec, kerr.InvalidPartitions.Code, fmt.Errorf("partition count %d: must be between 1 and 100000", spec.NumPartitions)
	}
	if spec.ReplicationFactor <= 0 {
		return spec, kerr.InvalidReplicationFactor.Code, fmt.Errorf("replication factor %d: must be at least 1", spec.ReplicationFactor)
	}
	if nb := len(n.meta.Brokers()); int(spec.ReplicationFactor) > nb {
		return spec, kerr.InvalidReplicationFactor.Code, fmt.Errorf("replication factor %d is larger than the %d available brokers", spec.ReplicationFactor, nb)
	}
	for _, c := range rt.Configs {
		if c.Value == nil {
			continue
		}
		if err := kconfig.CheckTopic(c.Name, *c.Value); err != nil {
			return spec, kerr.InvalidConfig.Code, err
		}
		spec.Configs[c.Name] = *c.Value
	}
	if err := kconfig.CheckRetentions(b.Topic(spec.Configs)); err != nil {
		return spec, kerr.InvalidConfig.Code, err
	}
	return spec, 0, nil
}

func (n *Node) createTopicConfigs(overrides map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	b := n.brokerCfg()
	names := kconfig.TopicNames()
	sort.Strings(names)
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(names))
	for _, name := range names {
		v, src := b.TopicLookup(overrides, name)
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = name
		c.Value = kmsg.StringPtr(v)
		c.Source = int8(src)
		out = append(out, c)
	}
	return out
}
