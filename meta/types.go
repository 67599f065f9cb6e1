package meta

import (
	"errors"
	"maps"
	"slices"
)

// Errors returned by Store writes. Errors produced by the state machine wrap
// one of these, so callers test with errors.Is.
var (
	ErrTopicExists              = errors.New("meta: topic already exists")
	ErrUnknownTopic             = errors.New("meta: unknown topic")
	ErrUnknownPartition         = errors.New("meta: unknown partition")
	ErrUnknownBroker            = errors.New("meta: unknown broker")
	ErrInvalidTopic             = errors.New("meta: invalid topic name")
	ErrInvalidPartitions        = errors.New("meta: invalid number of partitions")
	ErrInvalidReplicationFactor = errors.New("meta: invalid replication factor")
	ErrInvalidReplicaAssignment = errors.New("meta: invalid replica assignment")
	ErrInvalidBroker            = errors.New("meta: invalid broker registration")
	ErrInvalidConfig            = errors.New("meta: invalid config map")
	ErrNotEnoughBrokers         = errors.New("meta: not enough registered brokers")
	ErrStaleEpoch               = errors.New("meta: stale leader epoch")
	ErrIneligibleReplica        = errors.New("meta: ineligible replica")
	ErrNoReassignment           = errors.New("meta: no reassignment in progress")
	ErrInvalidCommand           = errors.New("meta: invalid command")
	ErrNotLeader                = errors.New("meta: not the metadata leader")
	ErrClosed                   = errors.New("meta: store closed")
)

// NoLeader is the Partition.Leader value of a partition without a leader and
// the ControllerID when no raft leader is known.
const NoLeader int32 = -1

// Broker is a registered broker's advertised Kafka listener.
type Broker struct {
	ID   int32
	Host string // of the inter-broker listener, as advertised
	Port int32
	Rack string
	// Endpoints are the advertised address of every listener by name
	// (Kafka's broker endpoints): Metadata answers a client with the
	// addresses of the listener it connected to. Empty for a broker that
	// registered only Host and Port.
	Endpoints []Endpoint
	// Fenced is set by the controller when the broker's heartbeat lease
	// runs out (or it shuts down) and cleared when it heartbeats again; a
	// fenced broker is not listed to clients and leads nothing.
	Fenced bool
}

// Equal reports whether two registrations are the same.
func (b Broker) Equal(o Broker) bool {
	return b.ID == o.ID && b.Host == o.Host && b.Port == o.Port && b.Rack == o.Rack && b.Fenced == o.Fenced &&
		slices.Equal(b.Endpoints, o.Endpoints)
}

// Endpoint is one advertised listener of a broker.
type Endpoint struct {
	Name     string
	Host     string
	Port     int32
	Protocol string
}

// Addr returns the broker's advertised address on the named listener,
// or Host and Port when it has no such endpoint.
func (b Broker) Addr(listener string) (string, int32) {
	for _, e := range b.Endpoints {
		if e.Name == listener {
			return e.Host, e.Port
		}
	}
	return b.Host, b.Port
}

// Topic is a topic with its partitions and per-topic configs.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions []Partition
	Configs    map[string]string
	Internal   bool
}

// Partition is one partition's replica set and leadership.
//
// During a reassignment (Kafka's KIP-455) Replicas is the target replicas
// followed by the ones leaving: Adding are the target replicas that were
// not replicas before, Removing the old replicas outside the target. Both
// are empty otherwise.
type Partition struct {
	Index       int32
	Leader      int32
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	Adding      []int32
	Removing    []int32
}

// Reassigning reports whether a reassignment of p is in progress.
func (p Partition) Reassigning() bool { return len(p.Adding) > 0 || len(p.Removing) > 0 }

// Target is the replica set p is being moved to: Replicas without the
// ones leaving (Replicas itself when no reassignment runs).
func (p Partition) Target() []int32 { return without(p.Replicas, p.Removing) }

// Original is the replica set p had before its reassignment began.
func (p Partition) Original() []int32 { return without(p.Replicas, p.Adding) }

// without is xs minus the members of drop, in xs's order.
func without(xs, drop []int32) []int32 {
	out := make([]int32, 0, len(xs))
	for _, x := range xs {
		if !slices.Contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

// TopicSpec describes a topic to create.
//
// Without Assignments, NumPartitions partitions are created with
// ReplicationFactor replicas each, spread round-robin over the registered
// brokers. With Assignments, the map must hold exactly the partitions
// 0..n-1 and NumPartitions and ReplicationFactor must be either <= 0 or
// consistent with it. Either way each partition's leader is its first
// replica, its leader epoch 0 and its ISR all replicas.
type TopicSpec struct {
	Name              string
	NumPartitions     int32
	ReplicationFactor int16
	Configs           map[string]string
	Assignments       map[int32][]int32
	Internal          bool
	// ID, when not zero, is the topic ID to use (a read replica mirrors
	// its primary's topics under their IDs); zero draws a new one.
	ID [16]byte
}

// PartitionUpdate changes one partition's leadership, as the controller
// does when a broker leaves or the ISR changes.
type PartitionUpdate struct {
	Topic     string
	Partition int32
	// ExpectedLeaderEpoch must equal the partition's current leader epoch,
	// otherwise the update fails with ErrStaleEpoch.
	ExpectedLeaderEpoch int32
	// Leader is the new leader, a member of the replicas, or NoLeader. The
	// leader epoch increases by one when the leader changes.
	Leader int32
	// ISR is the new in-sync replica set, a subset of the replicas.
	ISR []int32
	// Replicas replaces the replica set when non-nil.
	Replicas []int32
	// ExpectedISR, when non-nil, must equal the partition's current ISR
	// as a set, otherwise the update fails with ErrStaleEpoch: a decision
	// made from an ISR that has since changed is refused.
	ExpectedISR []int32
	// ExpectedReplicas, when non-nil, must equal the partition's current
	// replicas in order, otherwise the update fails with ErrStaleEpoch: a
	// reassignment completed from a view the reassignment has since left
	// is refused.
	ExpectedReplicas []int32
	// Unclean marks a plan that elects a replica outside the ISR
	// (unclean.leader.election.enable); it is not part of the command.
	Unclean bool `json:"-"`
}

func (p Partition) clone() Partition {
	p.Replicas = slices.Clone(p.Replicas)
	p.ISR = slices.Clone(p.ISR)
	p.Adding = slices.Clone(p.Adding)
	p.Removing = slices.Clone(p.Removing)
	return p
}

func (t Topic) clone() Topic {
	ps := make([]Partition, len(t.Partitions))
	for i, p := range t.Partitions {
		ps[i] = p.clone()
	}
	t.Partitions = ps
	t.Configs = cloneConfigs(t.Configs)
	return t
}

// cloneConfigs copies m, turning nil into an empty map so callers can always
// read from the result.
func cloneConfigs(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}
