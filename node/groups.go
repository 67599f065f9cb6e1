package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/node/group"
	"github.com/stratalog/strata/record"
)

// offsetsTopic is the internal topic holding group metadata and committed
// offsets, in Kafka's record schemas.
const offsetsTopic = "__consumer_offsets"

// groupState is the node's group coordinator, started with the node.
type groupState struct {
	c         *group.Coordinator
	createMu  sync.Mutex // one creation of __consumer_offsets at a time
	numParts  int32
	startedAt time.Time
}

// groupConfig maps broker settings onto the coordinator's config.
func (n *Node) groupConfig() group.Config {
	b := n.brokerCfg()
	ms := func(name string) time.Duration { return time.Duration(b.Int64(name)) * time.Millisecond }
	cfg := group.DefaultConfig()
	cfg.NumPartitions = int32(b.Int64("offsets.topic.num.partitions"))
	if t, ok := n.meta.Topic(offsetsTopic); ok {
		// Placement follows the topic as created, whatever the setting
		// says now.
		cfg.NumPartitions = int32(len(t.Partitions))
	}
	cfg.InitialRebalanceDelay = ms("group.initial.rebalance.delay.ms")
	cfg.MinSessionTimeout = ms("group.min.session.timeout.ms")
	cfg.MaxSessionTimeout = ms("group.max.session.timeout.ms")
	cfg.MaxGroupSize = int(b.Int64("group.max.size"))
	cfg.MaxMetadataBytes = int(b.Int64("offset.metadata.max.bytes"))
	cfg.OffsetsRetention = time.Duration(b.Int64("offsets.retention.minutes")) * time.Minute
	cfg.RetentionCheckInterval = ms("offsets.retention.check.interval.ms")
	cfg.Logger = n.log.With("component", "group")
	return cfg
}

// startGroups loads the __consumer_offsets partitions this node leads and
// starts the coordinator's goroutine.
func (n *Node) startGroups() error {
	cfg := n.groupConfig()
	c, err := group.New(cfg, groupBackend{n})
	if err != nil {
		return fmt.Errorf("group coordinator: %w", err)
	}
	n.groups = &groupState{c: c, numParts: cfg.NumPartitions, startedAt: time.Now()}
	c.Start()
	return nil
}

func (n *Node) stopGroups() {
	if n.groups != nil {
		n.groups.c.Close()
	}
}

// GroupCoordinator is the node's group coordinator, for the transaction
// coordinator's TxnOffsetCommit and EndTxn.
func (n *Node) GroupCoordinator() *group.Coordinator { return n.groups.c }

// ensureOffsetsTopic creates __consumer_offsets on first use, as Kafka does
// on the first FindCoordinator for a group.
func (n *Node) ensureOffsetsTopic(ctx context.Context) (meta.Topic, error) {
	if t, ok := n.meta.Topic(offsetsTopic); ok {
		return t, nil
	}
	n.groups.createMu.Lock()
	defer n.groups.createMu.Unlock()
	if t, ok := n.meta.Topic(offsetsTopic); ok {
		return t, nil
	}
	b := n.brokerCfg()
	rf := int16(b.Int64("offsets.topic.replication.factor"))
	if nb := int16(len(n.meta.Brokers())); rf > nb {
		rf = nb
	}
	configs := map[string]string{
		// Kafka compacts this topic; Strata keeps it whole until
		// compaction exists, so nothing is ever deleted by age.
		"cleanup.policy": "compact",
		"retention.ms":   "-1",
		"segment.bytes":  b.Get("offsets.topic.segment.bytes"),
		// Unlike Kafka, the offsets reach the object store like any
		// topic's (a restore from the bucket brings the groups back),
		// and stay on local disk too: the coordinator loads them from it.
		"remote.storage.enable": "true",
		"local.retention.ms":    "-1",
		"local.retention.bytes": "-1",
	}
	if n.readReplica() {
		// A read replica's groups are its own: never in the bucket it
		// follows.
		configs = map[string]string{"cleanup.policy": "compact", "retention.ms": "-1",
			"segment.bytes": b.Get("offsets.topic.segment.bytes"), "remote.storage.enable": "false"}
	}
	t, err := n.meta.CreateTopic(ctx, meta.TopicSpec{
		Name:              offsetsTopic,
		NumPartitions:     n.groups.numParts,
		ReplicationFactor: rf,
		Configs:           configs,
		Internal:          true,
	})
	if errors.Is(err, meta.ErrTopicExists) {
		if t, ok := n.meta.Topic(offsetsTopic); ok {
			return t, nil
		}
	}
	if err != nil {
		return meta.Topic{}, err
	}
	n.log.Info("created internal topic", "topic", offsetsTopic, "partitions", len(t.Partitions), "replication_factor", rf)
	n.awaitOwnWrite(ctx, "__consumer_offsets")
	return t, nil
}

// groupCoordinatorFor returns the broker coordinating a group: the leader of
// its __consumer_offsets partition.
func (n *Node) groupCoordinatorFor(ctx context.Context, groupID string) (meta.Broker, error) {
	t, err := n.ensureOffsetsTopic(ctx)
	if err != nil {
		return meta.Broker{}, err
	}
	p := group.PartitionFor(groupID, int32(len(t.Partitions)))
	leader := t.Partitions[p].Leader
	for _, b := range n.meta.Brokers() {
		if b.ID == leader {
			return b, nil
		}
	}
	return meta.Broker{}, errCoordinatorNotAvailable
}

var errCoordinatorNotAvailable = errors.New("coordinator not available")

// groupBackend gives the coordinator this node's __consumer_offsets
// partitions and topic metadata.
type groupBackend struct{ n *Node }

var _ group.Backend = groupBackend{}

func (b groupBackend) OffsetsLog(part int32) (group.OffsetsLog, error) {
	t, ok := b.n.meta.Topic(offsetsTopic)
	if !ok || part < 0 || int(part) >= len(t.Partitions) {
		return nil, group.ErrNotCoordinator
	}
	p := b.n.parts.get(offsetsTopic, part)
	if p == nil || !p.leadership().isLeader() {
		return nil, group.ErrNotCoordinator
	}
	return offsetsLog{p}, nil
}

func (b groupBackend) LedPartitions() []int32 {
	t, ok := b.n.meta.Topic(offsetsTopic)
	if !ok {
		return nil
	}
	var out []int32
	for _, mp := range t.Partitions {
		if p := b.n.parts.get(offsetsTopic, mp.Index); p != nil && p.leadership().isLeader() {
			out = append(out, mp.Index)
		}
	}
	return out
}

func (b groupBackend) PartitionExists(topic string, part int32) bool {
	t, ok := b.n.meta.Topic(topic)
	return ok && part >= 0 && int(part) < len(t.Partitions)
}

// Subscribe signals after the node applied metadata, so LedPartitions and
// OffsetsLog already see the partitions the change opened or moved.
func (b groupBackend) Subscribe() (<-chan struct{}, func()) { return b.n.applied.subscribe() }

// offsetsLog is a hosted __consumer_offsets partition.
type offsetsLog struct{ p *partition }

func (l offsetsLog) Append(batch []byte, done func(error)) error {
	_, err := l.p.append(batch, -1, done)
	return err
}

// Scan reads the partition from its start to its log end, calling fn with
// each batch. The leader's whole log counts, not only what is below its
// high watermark: a new leader's high watermark may trail the commits its
// predecessor acknowledged until the followers fetch from it, and its log
// is what every replica will hold (as Kafka's coordinators load to the
// log end).
func (l offsetsLog) Scan(fn func(batch []byte) error) error {
	end := l.p.log.EndOffset()
	return forEachBatch(l.p.localBatches(end), l.p.log.StartOffset(), end, func(_ record.Header, batch []byte) error {
		return fn(batch)
	})
}

// drainGroups answers parked joins and syncs at shutdown so their
// connections can close: members find the new coordinator and rejoin.
func (n *Node) drainGroups() {
	if n.groups != nil {
		n.groups.c.Drain()
	}
}
