package meta

import (
	"fmt"
	"slices"
)

// Limits that keep one command from growing the state without bound. They
// sit well above what a Kafka cluster uses.
const (
	maxTopicNameLen   = 249
	maxPartitions     = 1 << 20
	maxReplicas       = 64
	maxHostLen        = 255
	maxRackLen        = 255
	maxClusterIDLen   = 64
	maxConfigEntries  = 1024
	maxConfigKeyLen   = 255
	maxConfigValueLen = 1 << 16
)

// validTopicName applies Kafka's topic name rules: 1 to 249 characters of
// [a-zA-Z0-9._-], and neither "." nor "..".
func validTopicName(name string) error {
	if name == "" || len(name) > maxTopicNameLen || name == "." || name == ".." {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q has character %q", ErrInvalidTopic, name, c)
		}
	}
	return nil
}

func validBroker(b Broker) error {
	switch {
	case b.ID < 0:
		return fmt.Errorf("%w: id %d", ErrInvalidBroker, b.ID)
	case b.Host == "" || len(b.Host) > maxHostLen:
		return fmt.Errorf("%w: host %q", ErrInvalidBroker, b.Host)
	case b.Port <= 0 || b.Port > 65535:
		return fmt.Errorf("%w: port %d", ErrInvalidBroker, b.Port)
	case len(b.Rack) > maxRackLen:
		return fmt.Errorf("%w: rack of %d bytes", ErrInvalidBroker, len(b.Rack))
	case len(b.Endpoints) > maxEndpoints:
		return fmt.Errorf("%w: %d endpoints", ErrInvalidBroker, len(b.Endpoints))
	}
	for _, e := range b.Endpoints {
		if e.Name == "" || e.Host == "" || len(e.Host) > maxHostLen || e.Port <= 0 || e.Port > 65535 {
			return fmt.Errorf("%w: endpoint %s %s:%d", ErrInvalidBroker, e.Name, e.Host, e.Port)
		}
	}
	return nil
}

// maxEndpoints bounds a broker's listeners.
const maxEndpoints = 16

// validReplicas checks a replica list: 1 to maxReplicas distinct,
// non-negative broker IDs.
func validReplicas(replicas []int32) error {
	if len(replicas) == 0 || len(replicas) > maxReplicas {
		return fmt.Errorf("%w: %d replicas", ErrInvalidReplicaAssignment, len(replicas))
	}
	for i, r := range replicas {
		if r < 0 {
			return fmt.Errorf("%w: replica %d", ErrInvalidReplicaAssignment, r)
		}
		if slices.Contains(replicas[:i], r) {
			return fmt.Errorf("%w: replica %d listed twice", ErrInvalidReplicaAssignment, r)
		}
	}
	return nil
}

// validLeadership checks a leader and ISR against replicas: the leader is a
// replica or NoLeader, and the ISR is a duplicate-free subset of the
// replicas that contains the leader.
func validLeadership(replicas []int32, leader int32, isr []int32) error {
	if leader != NoLeader && !slices.Contains(replicas, leader) {
		return fmt.Errorf("%w: leader %d is not a replica of %v", ErrInvalidReplicaAssignment, leader, replicas)
	}
	for i, r := range isr {
		if !slices.Contains(replicas, r) {
			return fmt.Errorf("%w: isr member %d is not a replica of %v", ErrInvalidReplicaAssignment, r, replicas)
		}
		if slices.Contains(isr[:i], r) {
			return fmt.Errorf("%w: isr member %d listed twice", ErrInvalidReplicaAssignment, r)
		}
	}
	if leader != NoLeader && !slices.Contains(isr, leader) {
		return fmt.Errorf("%w: leader %d is not in isr %v", ErrInvalidReplicaAssignment, leader, isr)
	}
	return nil
}

func validPartition(p Partition, index int32) error {
	if p.Index != index {
		return fmt.Errorf("%w: partition at position %d has index %d", ErrInvalidPartitions, index, p.Index)
	}
	if p.LeaderEpoch < 0 {
		return fmt.Errorf("%w: partition %d leader epoch %d", ErrInvalidReplicaAssignment, index, p.LeaderEpoch)
	}
	if err := validReplicas(p.Replicas); err != nil {
		return fmt.Errorf("partition %d: %w", index, err)
	}
	if err := validLeadership(p.Replicas, p.Leader, p.ISR); err != nil {
		return fmt.Errorf("partition %d: %w", index, err)
	}
	for _, r := range append(slices.Clone(p.Adding), p.Removing...) {
		if !slices.Contains(p.Replicas, r) || slices.Contains(p.Adding, r) && slices.Contains(p.Removing, r) {
			return fmt.Errorf("%w: partition %d reassigning replica %d that is not a replica or both added and removed", ErrInvalidReplicaAssignment, index, r)
		}
	}
	return nil
}

// validTopic checks a whole topic as carried by a createTopic command or a
// snapshot.
func validTopic(t Topic) error {
	if err := validTopicName(t.Name); err != nil {
		return err
	}
	if t.ID == ([16]byte{}) {
		return fmt.Errorf("%w: topic %q has the zero topic id", ErrInvalidCommand, t.Name)
	}
	if len(t.Partitions) == 0 || len(t.Partitions) > maxPartitions {
		return fmt.Errorf("%w: topic %q with %d partitions", ErrInvalidPartitions, t.Name, len(t.Partitions))
	}
	for i, p := range t.Partitions {
		if err := validPartition(p, int32(i)); err != nil {
			return fmt.Errorf("topic %q: %w", t.Name, err)
		}
	}
	return validConfigs(t.Configs)
}

// validConfigs bounds a config map's size; the broker validates keys and
// values against the config definitions before calling meta.
func validConfigs(m map[string]string) error {
	if len(m) > maxConfigEntries {
		return fmt.Errorf("%w: %d config entries", ErrInvalidConfig, len(m))
	}
	for k, v := range m {
		if k == "" || len(k) > maxConfigKeyLen || len(v) > maxConfigValueLen {
			return fmt.Errorf("%w: config %q of %d bytes", ErrInvalidConfig, k, len(v))
		}
	}
	return nil
}
