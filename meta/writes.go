package meta

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// apply proposes one command and waits until it is committed and applied to
// the local state machine, returning the state machine's verdict. When ctx
// ends first the command may still be applied later.
func (s *Store) apply(ctx context.Context, t commandType, body any) error {
	return s.applyResult(ctx, t, body, nil)
}

// applyResult is apply that also hands got the state machine's result
// value when the command succeeds (got may be nil).
func (s *Store) applyResult(ctx context.Context, t commandType, body any, got func(any)) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := encodeCommand(t, body)
	if err != nil {
		return err
	}
	timeout := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d < timeout {
			timeout = d
		}
	}
	f := s.raft.Apply(data, timeout)
	if ctx.Done() == nil {
		return s.result(t, f, got)
	}
	done := make(chan error, 1)
	go func() { done <- s.result(t, f, got) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if id, _ := s.Leader(); id == NoLeader {
			return fmt.Errorf("meta: %v: outcome unknown: %w: %w", t, ErrNoQuorum, ctx.Err())
		}
		return fmt.Errorf("meta: %v: outcome unknown: %w", t, ctx.Err())
	}
}

func (s *Store) result(t commandType, f raft.ApplyFuture, got func(any)) error {
	if err := f.Error(); err != nil {
		switch {
		case isLeadershipErr(err):
			return s.notLeader(t.String(), err)
		case errors.Is(err, raft.ErrRaftShutdown):
			return fmt.Errorf("%w: %v: %w", ErrClosed, t, err)
		}
		return fmt.Errorf("meta: %v: %w", t, err)
	}
	if err, ok := f.Response().(error); ok && err != nil {
		return err
	}
	if got != nil {
		got(f.Response())
	}
	return nil
}

// RegisterBroker inserts or replaces a broker's registration.
func (s *Store) RegisterBroker(ctx context.Context, b Broker) error {
	_, err := viaLeader(s, ctx, mRegisterBroker, b, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.registerBroker(ctx, b)
	})
	return err
}

func (s *Store) registerBroker(ctx context.Context, b Broker) error {
	if err := validBroker(b); err != nil {
		return err
	}
	return s.apply(ctx, cmdRegisterBroker, &registerBroker{Broker: brokerToJSON(b)})
}

// SetBrokerFenced fences (or unfences) a registered broker: the
// controller's verdict on its heartbeat lease, recorded in the log so every
// node lists the same live brokers (ErrUnknownBroker when unregistered).
func (s *Store) SetBrokerFenced(ctx context.Context, id int32, fenced bool) error {
	_, err := viaLeader(s, ctx, mSetBrokerFenced, fencedArgs{ID: id, Fenced: fenced}, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.setBrokerFenced(ctx, id, fenced)
	})
	return err
}

func (s *Store) setBrokerFenced(ctx context.Context, id int32, fenced bool) error {
	return s.apply(ctx, cmdSetBrokerFenced, &setBrokerFenced{ID: id, Fenced: fenced})
}

// UnregisterBroker removes a broker's registration (ErrUnknownBroker when
// there is none). Partitions that name it as a replica are left for the
// controller to reassign.
func (s *Store) UnregisterBroker(ctx context.Context, id int32) error {
	_, err := viaLeader(s, ctx, mUnregisterBroker, id, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.unregisterBroker(ctx, id)
	})
	return err
}

func (s *Store) unregisterBroker(ctx context.Context, id int32) error {
	return s.apply(ctx, cmdUnregisterBroker, &unregisterBroker{ID: id})
}

// CreateTopic creates a topic as described by spec (see TopicSpec) with a
// random topic ID, and returns it. Two concurrent creations of one name
// are ordered by raft: the first wins, the second gets ErrTopicExists.
func (s *Store) CreateTopic(ctx context.Context, spec TopicSpec) (Topic, error) {
	return viaLeader(s, ctx, mCreateTopic, spec, func(ctx context.Context) (Topic, error) {
		return s.createTopic(ctx, spec)
	})
}

func (s *Store) createTopic(ctx context.Context, spec TopicSpec) (Topic, error) {
	if err := validTopicName(spec.Name); err != nil {
		return Topic{}, err
	}
	if err := validConfigs(spec.Configs); err != nil {
		return Topic{}, err
	}
	var (
		assignments [][]int32
		exists      bool
		err         error
		id          [16]byte
	)
	s.fsm.read(func(st *state) {
		if _, exists = st.topics[spec.Name]; exists {
			return
		}
		assignments, err = specAssignments(st, spec, s.placerFunc())
		if spec.ID != ([16]byte{}) {
			id = spec.ID
			if _, used := st.topicIDs[id]; used {
				err = fmt.Errorf("%w: topic id of %q already used", ErrTopicExists, spec.Name)
			}
			return
		}
		for id = newTopicID(); ; id = newTopicID() {
			if _, used := st.topicIDs[id]; !used {
				break
			}
		}
	})
	if exists {
		return Topic{}, fmt.Errorf("%w: %q", ErrTopicExists, spec.Name)
	}
	if err != nil {
		return Topic{}, err
	}
	t := Topic{Name: spec.Name, ID: id, Configs: cloneConfigs(spec.Configs), Internal: spec.Internal}
	for i, replicas := range assignments {
		t.Partitions = append(t.Partitions, newPartition(int32(i), replicas))
	}
	if err := s.apply(ctx, cmdCreateTopic, &createTopic{Topic: topicToJSON(t)}); err != nil {
		return Topic{}, err
	}
	return t, nil
}

// specAssignments resolves a TopicSpec to per-partition replica lists
// against the current state.
func specAssignments(st *state, spec TopicSpec, place Placer) ([][]int32, error) {
	if len(spec.Assignments) > 0 {
		assignments, err := assignmentsFromMap(spec.Assignments)
		if err != nil {
			return nil, err
		}
		if spec.NumPartitions > 0 && int(spec.NumPartitions) != len(assignments) {
			return nil, fmt.Errorf("%w: %d partitions with %d assignments", ErrInvalidPartitions, spec.NumPartitions, len(assignments))
		}
		if err := checkAssignments(assignments, st.brokers); err != nil {
			return nil, err
		}
		if spec.ReplicationFactor > 0 && int(spec.ReplicationFactor) != len(assignments[0]) {
			return nil, fmt.Errorf("%w: replication factor %d with %d-replica assignments", ErrInvalidReplicationFactor, spec.ReplicationFactor, len(assignments[0]))
		}
		return assignments, nil
	}
	if spec.NumPartitions <= 0 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, spec.NumPartitions)
	}
	brokers := placementBrokers(st)
	if place != nil {
		if err := checkPlacementArgs(spec.NumPartitions, spec.ReplicationFactor, len(brokers)); err != nil {
			return nil, err
		}
		assignments, err := place(brokers, topicList(st), spec.NumPartitions, spec.ReplicationFactor)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNotEnoughBrokers, err)
		}
		if err := checkAssignments(assignments, st.brokers); err != nil || len(assignments) != int(spec.NumPartitions) {
			return nil, fmt.Errorf("%w: placer returned %d assignments for %d partitions: %v", ErrInvalidReplicaAssignment, len(assignments), spec.NumPartitions, err)
		}
		return assignments, nil
	}
	// Start each topic at a broker picked by its name, so partition 0 of
	// every topic does not land on the same broker.
	h := fnv.New32a()
	_, _ = h.Write([]byte(spec.Name))
	start := int(h.Sum32() & 0x7fffffff)
	return assignReplicas(brokerIDs(brokers), spec.NumPartitions, spec.ReplicationFactor, start)
}

// DeleteTopic removes a topic (ErrUnknownTopic when there is none).
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	_, err := viaLeader(s, ctx, mDeleteTopic, name, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.deleteTopic(ctx, name)
	})
	return err
}

func (s *Store) deleteTopic(ctx context.Context, name string) error {
	return s.apply(ctx, cmdDeleteTopic, &deleteTopic{Name: name})
}

// CreatePartitions grows a topic to total partitions (ErrInvalidPartitions
// when total is not above the current count). assignments, when non-nil,
// gives the replicas of each new partition in order; otherwise the new
// partitions continue the topic's round-robin placement with its current
// replication factor.
func (s *Store) CreatePartitions(ctx context.Context, name string, total int32, assignments [][]int32) error {
	_, err := viaLeader(s, ctx, mCreatePartitions, createPartitionsArgs{Name: name, Total: total, Assignments: assignments}, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.createPartitions(ctx, name, total, assignments)
	})
	return err
}

func (s *Store) createPartitions(ctx context.Context, name string, total int32, assignments [][]int32) error {
	var err error
	s.fsm.read(func(st *state) {
		assignments, err = newPartitionAssignments(st, name, total, assignments)
	})
	if err != nil {
		return err
	}
	return s.apply(ctx, cmdCreatePartitions, &createPartitions{Name: name, Total: total, Assignments: assignments})
}

func newPartitionAssignments(st *state, name string, total int32, assignments [][]int32) ([][]int32, error) {
	t, ok := st.topics[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	current := int32(len(t.Partitions))
	if total <= current || total > maxPartitions {
		return nil, fmt.Errorf("%w: topic %q has %d partitions, asked for %d", ErrInvalidPartitions, name, current, total)
	}
	if assignments != nil {
		if int32(len(assignments)) != total-current {
			return nil, fmt.Errorf("%w: %d assignments for %d new partitions", ErrInvalidReplicaAssignment, len(assignments), total-current)
		}
		if err := checkAssignments(assignments, st.brokers); err != nil {
			return nil, err
		}
		if rf := len(t.Partitions[0].Replicas); len(assignments[0]) != rf {
			return nil, fmt.Errorf("%w: %d replicas for new partitions of %q, which has %d", ErrInvalidReplicaAssignment, len(assignments[0]), name, rf)
		}
		return assignments, nil
	}
	brokers := brokerIDs(placementBrokers(st))
	first := t.Partitions[0].Replicas
	// Continue the rotation from where partition 0's first replica sits.
	start := max(slices.Index(brokers, first[0]), 0)
	return assignReplicas(brokers, total-current, int16(len(first)), start+int(current))
}

// SetTopicConfigs replaces a topic's whole config map.
func (s *Store) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	_, err := viaLeader(s, ctx, mSetTopicConfigs, topicConfigsArgs{Name: name, Configs: configs}, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.setTopicConfigs(ctx, name, configs)
	})
	return err
}

func (s *Store) setTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	if err := validConfigs(configs); err != nil {
		return err
	}
	return s.apply(ctx, cmdSetTopicConfigs, &setTopicConfigs{Name: name, Configs: configs})
}

// SetClusterConfigs replaces the whole dynamic cluster-wide config map.
func (s *Store) SetClusterConfigs(ctx context.Context, configs map[string]string) error {
	_, err := viaLeader(s, ctx, mSetClusterConfigs, configs, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.setClusterConfigs(ctx, configs)
	})
	return err
}

func (s *Store) setClusterConfigs(ctx context.Context, configs map[string]string) error {
	if err := validConfigs(configs); err != nil {
		return err
	}
	return s.apply(ctx, cmdSetClusterConfigs, &setClusterConfigs{Configs: configs})
}

// UpdatePartition changes one partition's leader, ISR and optionally
// replicas, if its leader epoch is still u.ExpectedLeaderEpoch
// (ErrStaleEpoch otherwise) and, when u.ExpectedISR is non-nil, its ISR
// is still that set (ErrStaleEpoch otherwise). The leader epoch increases
// when the leader changes.
func (s *Store) UpdatePartition(ctx context.Context, u PartitionUpdate) error {
	_, err := viaLeader(s, ctx, mUpdatePartition, u, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.updatePartition(ctx, u)
	})
	return err
}

func (s *Store) updatePartition(ctx context.Context, u PartitionUpdate) error {
	if u.Replicas != nil {
		if err := validReplicas(u.Replicas); err != nil {
			return err
		}
	}
	if err := s.eligibleISR(u); err != nil {
		return err
	}
	c := updatePartition{
		Topic:               u.Topic,
		Partition:           u.Partition,
		ExpectedLeaderEpoch: u.ExpectedLeaderEpoch,
		Leader:              u.Leader,
		ISR:                 u.ISR,
		Replicas:            u.Replicas,
	}
	if u.ExpectedISR != nil {
		return s.apply(ctx, cmdUpdatePartitionIf, &updatePartitionIf{updatePartition: c, ExpectedISR: u.ExpectedISR, ExpectedReplicas: u.ExpectedReplicas})
	}
	return s.apply(ctx, cmdUpdatePartition, &c)
}

// eligibleISR refuses an update that adds to a partition's ISR a broker
// that is fenced or not registered (Kafka's KIP-841): a fenced or
// shutting-down broker would hold acks=all writes until the controller
// dropped it again. It is checked here, on the raft leader before the
// proposal, not when the command applies, so that logs written before
// the rule replay as they applied.
func (s *Store) eligibleISR(u PartitionUpdate) error {
	t, ok := s.Topic(u.Topic)
	if !ok || u.Partition < 0 || int(u.Partition) >= len(t.Partitions) {
		return nil // the command itself reports it
	}
	cur, replicas := t.Partitions[u.Partition].ISR, t.Partitions[u.Partition].Replicas
	if u.Replicas != nil {
		replicas = u.Replicas
	}
	for _, id := range u.ISR {
		if slices.Contains(cur, id) || !slices.Contains(replicas, id) {
			continue // a member already, or not a replica: the command reports that
		}
		if b, ok := s.Broker(id); !ok || b.Fenced {
			return fmt.Errorf("%w: broker %d is fenced or not registered and cannot join the ISR of %q partition %d", ErrIneligibleReplica, id, u.Topic, u.Partition)
		}
	}
	return nil
}

// ReassignPartition starts moving a partition to the target replicas (a
// retarget if one is in progress), or with a nil target cancels the
// reassignment in progress (ErrNoReassignment when there is none). Target
// replicas must be registered brokers. The controller finishes the move
// once every target replica is in the ISR.
func (s *Store) ReassignPartition(ctx context.Context, topic string, partition int32, target []int32) error {
	_, err := viaLeader(s, ctx, mReassignPartition, reassignArgs{Topic: topic, Partition: partition, Target: target},
		func(ctx context.Context) (struct{}, error) {
			return struct{}{}, s.reassignPartition(ctx, topic, partition, target)
		})
	return err
}

type reassignArgs struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Target    []int32 `json:"target"`
}

func (s *Store) reassignPartition(ctx context.Context, topic string, partition int32, target []int32) error {
	if target == nil {
		return s.apply(ctx, cmdReassignPartition, &reassignPartition{Topic: topic, Partition: partition, Cancel: true})
	}
	if err := validReplicas(target); err != nil {
		return err
	}
	for _, id := range target {
		if _, ok := s.Broker(id); !ok {
			return fmt.Errorf("%w: broker %d is not registered", ErrInvalidReplicaAssignment, id)
		}
	}
	return s.apply(ctx, cmdReassignPartition, &reassignPartition{Topic: topic, Partition: partition, Target: target})
}
