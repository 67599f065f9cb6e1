package meta

import (
	"fmt"
	"maps"
	"slices"

	"github.com/stratalog/strata/quota"
)

// state is the replicated metadata. Its apply methods are deterministic
// functions of the state and the command: no clocks, no randomness, no I/O.
// Each returns changed=false when the command was a valid no-op, and an
// error (state untouched) when the command is rejected.
type state struct {
	clusterID      string
	brokers        map[int32]Broker
	topics         map[string]*Topic
	topicIDs       map[[16]byte]string // index over topics
	clusterConfigs map[string]string
	// nextProducerID is the first producer ID not yet handed out.
	nextProducerID int64
	// version is the raft index of the last command that changed the state.
	version uint64
	// scram holds SCRAM credentials by user and mechanism; acls the set
	// of ACLs (security.go).
	scram  map[string]map[string]scramJSON
	acls   map[aclJSON]bool
	aclGen uint64 // aclGens value of the last ACL change
	// quotas are the client quotas by entity (quotas.go).
	quotas   map[quota.Entity]map[string]float64
	quotaGen uint64 // quotaGens value of the last quota change
}

func newState() *state {
	return &state{
		brokers:        make(map[int32]Broker),
		topics:         make(map[string]*Topic),
		topicIDs:       make(map[[16]byte]string),
		clusterConfigs: make(map[string]string),
		scram:          make(map[string]map[string]scramJSON),
		acls:           make(map[aclJSON]bool),
		quotas:         make(map[quota.Entity]map[string]float64),
	}
}

// apply dispatches a decoded command.
func (s *state) apply(t commandType, body any) (changed bool, err error) {
	switch c := body.(type) {
	case *initCluster:
		return s.applyInitCluster(c)
	case *registerBroker:
		return s.applyRegisterBroker(c)
	case *unregisterBroker:
		return s.applyUnregisterBroker(c)
	case *setBrokerFenced:
		return s.applySetBrokerFenced(c)
	case *createTopic:
		return s.applyCreateTopic(c)
	case *deleteTopic:
		return s.applyDeleteTopic(c)
	case *createPartitions:
		return s.applyCreatePartitions(c)
	case *setTopicConfigs:
		return s.applySetTopicConfigs(c)
	case *setClusterConfigs:
		return s.applySetClusterConfigs(c)
	case *updatePartition:
		return s.applyUpdatePartition(c)
	case *updatePartitionIf:
		return s.applyUpdatePartitionIf(c)
	case *reassignPartition:
		return s.applyReassignPartition(c)
	case *allocateProducerIDs:
		return s.applyAllocateProducerIDs(c)
	case *alterScram:
		return s.applyAlterScram(c)
	case *createACLs:
		return s.applyCreateACLs(c)
	case *deleteACLs:
		return s.applyDeleteACLs(c)
	case *alterClientQuotas:
		return s.applyAlterClientQuotas(c)
	}
	return false, fmt.Errorf("%w: no handler for %v", ErrInvalidCommand, t)
}

func (s *state) applyInitCluster(c *initCluster) (bool, error) {
	if c.ClusterID == "" || len(c.ClusterID) > maxClusterIDLen {
		return false, fmt.Errorf("%w: cluster id %q", ErrInvalidCommand, c.ClusterID)
	}
	if s.clusterID != "" {
		return false, nil
	}
	for _, u := range c.Scram {
		if err := validScram(u); err != nil {
			return false, err
		}
	}
	s.clusterID = c.ClusterID
	if len(c.Scram) > 0 {
		_, _ = s.applyAlterScram(&alterScram{Upserts: c.Scram})
	}
	return true, nil
}

func (s *state) applyRegisterBroker(c *registerBroker) (bool, error) {
	b := c.Broker.broker()
	if err := validBroker(b); err != nil {
		return false, err
	}
	if old, ok := s.brokers[b.ID]; ok && old.Equal(b) {
		return false, nil
	}
	s.brokers[b.ID] = b
	return true, nil
}

func (s *state) applySetBrokerFenced(c *setBrokerFenced) (bool, error) {
	b, ok := s.brokers[c.ID]
	if !ok {
		return false, fmt.Errorf("%w: %d", ErrUnknownBroker, c.ID)
	}
	if b.Fenced == c.Fenced {
		return false, nil
	}
	b.Fenced = c.Fenced
	s.brokers[c.ID] = b
	return true, nil
}

func (s *state) applyUnregisterBroker(c *unregisterBroker) (bool, error) {
	if _, ok := s.brokers[c.ID]; !ok {
		return false, fmt.Errorf("%w: %d", ErrUnknownBroker, c.ID)
	}
	delete(s.brokers, c.ID)
	return true, nil
}

func (s *state) applyCreateTopic(c *createTopic) (bool, error) {
	t := c.Topic.topic()
	if err := validTopic(t); err != nil {
		return false, err
	}
	if _, ok := s.topics[t.Name]; ok {
		return false, fmt.Errorf("%w: %q", ErrTopicExists, t.Name)
	}
	if other, ok := s.topicIDs[t.ID]; ok {
		return false, fmt.Errorf("%w: topic id of %q already used by %q", ErrInvalidCommand, t.Name, other)
	}
	s.addTopic(&t)
	return true, nil
}

func (s *state) addTopic(t *Topic) {
	s.topics[t.Name] = t
	s.topicIDs[t.ID] = t.Name
}

func (s *state) applyDeleteTopic(c *deleteTopic) (bool, error) {
	t, ok := s.topics[c.Name]
	if !ok {
		return false, fmt.Errorf("%w: %q", ErrUnknownTopic, c.Name)
	}
	delete(s.topics, t.Name)
	delete(s.topicIDs, t.ID)
	return true, nil
}

func (s *state) applyCreatePartitions(c *createPartitions) (bool, error) {
	t, ok := s.topics[c.Name]
	if !ok {
		return false, fmt.Errorf("%w: %q", ErrUnknownTopic, c.Name)
	}
	current := int32(len(t.Partitions))
	if c.Total <= current || c.Total > maxPartitions {
		return false, fmt.Errorf("%w: topic %q has %d partitions, asked for %d", ErrInvalidPartitions, c.Name, current, c.Total)
	}
	if int32(len(c.Assignments)) != c.Total-current {
		return false, fmt.Errorf("%w: %d assignments for %d new partitions of %q", ErrInvalidReplicaAssignment, len(c.Assignments), c.Total-current, c.Name)
	}
	added := make([]Partition, 0, len(c.Assignments))
	for i, replicas := range c.Assignments {
		if err := validReplicas(replicas); err != nil {
			return false, fmt.Errorf("topic %q partition %d: %w", c.Name, current+int32(i), err)
		}
		added = append(added, newPartition(current+int32(i), replicas))
	}
	t.Partitions = append(t.Partitions, added...)
	return true, nil
}

// newPartition is a fresh partition led by its first replica with every
// replica in sync.
func newPartition(index int32, replicas []int32) Partition {
	return Partition{
		Index:    index,
		Leader:   replicas[0],
		Replicas: slices.Clone(replicas),
		ISR:      slices.Clone(replicas),
	}
}

func (s *state) applySetTopicConfigs(c *setTopicConfigs) (bool, error) {
	t, ok := s.topics[c.Name]
	if !ok {
		return false, fmt.Errorf("%w: %q", ErrUnknownTopic, c.Name)
	}
	if err := validConfigs(c.Configs); err != nil {
		return false, err
	}
	if maps.Equal(t.Configs, c.Configs) {
		return false, nil
	}
	t.Configs = cloneConfigs(c.Configs)
	return true, nil
}

func (s *state) applySetClusterConfigs(c *setClusterConfigs) (bool, error) {
	if err := validConfigs(c.Configs); err != nil {
		return false, err
	}
	if maps.Equal(s.clusterConfigs, c.Configs) {
		return false, nil
	}
	s.clusterConfigs = cloneConfigs(c.Configs)
	return true, nil
}

// partition finds a partition to change, or the error naming what is
// missing.
func (s *state) partition(topic string, part int32) (*Partition, error) {
	t, ok := s.topics[topic]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownTopic, topic)
	}
	if part < 0 || int(part) >= len(t.Partitions) {
		return nil, fmt.Errorf("%w: %q partition %d", ErrUnknownPartition, topic, part)
	}
	return &t.Partitions[part], nil
}

func (s *state) applyUpdatePartition(c *updatePartition) (bool, error) {
	p, err := s.partition(c.Topic, c.Partition)
	if err != nil {
		return false, err
	}
	if c.ExpectedLeaderEpoch != p.LeaderEpoch {
		return false, fmt.Errorf("%w: %q partition %d is at epoch %d, update expected %d", ErrStaleEpoch, c.Topic, c.Partition, p.LeaderEpoch, c.ExpectedLeaderEpoch)
	}
	replicas := p.Replicas
	if c.Replicas != nil {
		if err := validReplicas(c.Replicas); err != nil {
			return false, err
		}
		replicas = c.Replicas
	}
	if err := validLeadership(replicas, c.Leader, c.ISR); err != nil {
		return false, err
	}
	if c.Leader != p.Leader {
		if p.LeaderEpoch == 1<<31-1 {
			return false, fmt.Errorf("%w: %q partition %d leader epoch exhausted", ErrInvalidCommand, c.Topic, c.Partition)
		}
		p.LeaderEpoch++
	}
	p.Leader = c.Leader
	p.Replicas = slices.Clone(replicas)
	p.ISR = slices.Clone(c.ISR)
	if c.Replicas != nil {
		// A new replica set ends any reassignment: it is how the
		// controller completes one.
		p.Adding, p.Removing = nil, nil
	}
	return true, nil
}

func (s *state) applyUpdatePartitionIf(c *updatePartitionIf) (bool, error) {
	if t, ok := s.topics[c.Topic]; ok && c.Partition >= 0 && int(c.Partition) < len(t.Partitions) {
		if cur := t.Partitions[c.Partition].ISR; !sameSet(cur, c.ExpectedISR) {
			return false, fmt.Errorf("%w: %q partition %d isr is %v, update expected %v", ErrStaleEpoch, c.Topic, c.Partition, cur, c.ExpectedISR)
		}
		if cur := t.Partitions[c.Partition].Replicas; c.ExpectedReplicas != nil && !slices.Equal(cur, c.ExpectedReplicas) {
			return false, fmt.Errorf("%w: %q partition %d replicas are %v, update expected %v", ErrStaleEpoch, c.Topic, c.Partition, cur, c.ExpectedReplicas)
		}
	}
	return s.applyUpdatePartition(&c.updatePartition)
}

// applyReassignPartition starts, retargets or cancels a reassignment.
// Replicas become the target followed by the original replicas outside it
// (so the preferred leader is the target's first); the ISR keeps only
// members of the new replica set. Cancelling restores the original
// replicas; a leader that was only an adding replica gives way to the
// first original replica still in the ISR (none: no leader, and the
// controller elects one). The controller completes a reassignment with an
// update that sets Replicas once every target replica is in the ISR.
func (s *state) applyReassignPartition(c *reassignPartition) (bool, error) {
	p, err := s.partition(c.Topic, c.Partition)
	if err != nil {
		return false, err
	}
	orig := p.Original()
	var replicas, adding, removing []int32
	if c.Cancel {
		if !p.Reassigning() {
			return false, fmt.Errorf("%w: %q partition %d", ErrNoReassignment, c.Topic, c.Partition)
		}
		replicas = orig
	} else {
		if err := validReplicas(c.Target); err != nil {
			return false, err
		}
		replicas = slices.Clone(c.Target)
		for _, r := range orig {
			if !slices.Contains(c.Target, r) {
				replicas = append(replicas, r)
				removing = append(removing, r)
			}
		}
		for _, r := range c.Target {
			if !slices.Contains(orig, r) {
				adding = append(adding, r)
			}
		}
		if len(replicas) > maxReplicas {
			return false, fmt.Errorf("%w: %d replicas while reassigning", ErrInvalidReplicaAssignment, len(replicas))
		}
	}
	isr := make([]int32, 0, len(p.ISR))
	for _, r := range p.ISR {
		if slices.Contains(replicas, r) {
			isr = append(isr, r)
		}
	}
	leader := p.Leader
	if leader != NoLeader && !slices.Contains(isr, leader) {
		leader = NoLeader
		if len(isr) > 0 {
			leader = isr[0]
		}
	}
	if slices.Equal(replicas, p.Replicas) && slices.Equal(adding, p.Adding) && slices.Equal(removing, p.Removing) {
		return false, nil
	}
	if leader != p.Leader {
		if p.LeaderEpoch == 1<<31-1 {
			return false, fmt.Errorf("%w: %q partition %d leader epoch exhausted", ErrInvalidCommand, c.Topic, c.Partition)
		}
		p.LeaderEpoch++
	}
	p.Leader, p.Replicas, p.ISR, p.Adding, p.Removing = leader, replicas, isr, adding, removing
	return true, nil
}

// sameSet reports whether a and b hold the same broker IDs in any order
// (neither holds duplicates).
func sameSet(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// snapshotJSON is the snapshot file: the whole state, sorted so equal
// states give equal bytes.
type snapshotJSON struct {
	Format         int               `json:"format"`
	Version        uint64            `json:"version"`
	ClusterID      string            `json:"cluster_id"`
	Brokers        []brokerJSON      `json:"brokers"`
	Topics         []topicJSON       `json:"topics"`
	ClusterConfigs map[string]string `json:"cluster_configs"`
	NextProducerID int64             `json:"next_producer_id,omitempty"`
	Scram          []scramJSON       `json:"scram,omitempty"`
	ACLs           []aclJSON         `json:"acls,omitempty"`
	Quotas         []quotaJSON       `json:"quotas,omitempty"`
}

const snapshotFormat = 1

func (s *state) toSnapshot() snapshotJSON {
	out := snapshotJSON{
		Format:         snapshotFormat,
		Version:        s.version,
		ClusterID:      s.clusterID,
		ClusterConfigs: s.clusterConfigs,
		NextProducerID: s.nextProducerID,
		Brokers:        make([]brokerJSON, 0, len(s.brokers)),
		Topics:         make([]topicJSON, 0, len(s.topics)),
	}
	for _, id := range slices.Sorted(maps.Keys(s.brokers)) {
		out.Brokers = append(out.Brokers, brokerToJSON(s.brokers[id]))
	}
	for _, name := range slices.Sorted(maps.Keys(s.topics)) {
		out.Topics = append(out.Topics, topicToJSON(*s.topics[name]))
	}
	s.snapshotSecurity(&out)
	s.snapshotQuotas(&out)
	return out
}

// stateFromSnapshot rebuilds and checks a state; a snapshot that fails the
// same checks as commands is refused rather than half-loaded.
func stateFromSnapshot(snap *snapshotJSON) (*state, error) {
	if snap.Format != snapshotFormat {
		return nil, fmt.Errorf("%w: snapshot format %d", ErrInvalidCommand, snap.Format)
	}
	s := newState()
	s.version = snap.Version
	s.clusterID = snap.ClusterID
	if snap.NextProducerID < 0 {
		return nil, fmt.Errorf("snapshot: %w: next producer id %d", ErrInvalidCommand, snap.NextProducerID)
	}
	s.nextProducerID = snap.NextProducerID
	for _, bj := range snap.Brokers {
		b := bj.broker()
		if err := validBroker(b); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		s.brokers[b.ID] = b
	}
	for _, tj := range snap.Topics {
		t := tj.topic()
		if err := validTopic(t); err != nil {
			return nil, fmt.Errorf("snapshot: %w", err)
		}
		if _, dup := s.topics[t.Name]; dup {
			return nil, fmt.Errorf("snapshot: %w: topic %q twice", ErrInvalidCommand, t.Name)
		}
		if _, dup := s.topicIDs[t.ID]; dup {
			return nil, fmt.Errorf("snapshot: %w: topic id of %q twice", ErrInvalidCommand, t.Name)
		}
		s.addTopic(&t)
	}
	if err := validConfigs(snap.ClusterConfigs); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	s.clusterConfigs = cloneConfigs(snap.ClusterConfigs)
	if err := s.restoreSecurity(snap); err != nil {
		return nil, err
	}
	if err := s.restoreQuotas(snap); err != nil {
		return nil, err
	}
	return s, nil
}
