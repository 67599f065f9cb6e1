package node

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/quota"
	"github.com/stratalog/strata/security"
)

// Metadata is the node's view of cluster metadata: reads are local and cheap,
// writes are proposals that return once committed. The Kafka handlers use
// only this interface and never touch the quorum directly.
type Metadata interface {
	ClusterID() string
	// Version is the index of the last applied change; it never goes back.
	Version() uint64
	ControllerID() int32
	Brokers() []meta.Broker
	Topics() []meta.Topic
	Topic(name string) (meta.Topic, bool)
	TopicByID(id [16]byte) (meta.Topic, bool)
	ClusterConfigs() map[string]string
	Subscribe() (<-chan struct{}, func())
	// KnownClusterID is the cluster ID, or the one this node recorded
	// before, while the metadata log has not delivered it yet.
	KnownClusterID() string
	// IsLeader reports whether this node is the metadata raft leader.
	IsLeader() bool
	// ExportSnapshot encodes the whole state (the copy kept in the bucket).
	ExportSnapshot() (version uint64, data []byte, err error)

	RegisterBroker(ctx context.Context, b meta.Broker) error
	CreateTopic(ctx context.Context, spec meta.TopicSpec) (meta.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
	CreatePartitions(ctx context.Context, name string, total int32, assignments [][]int32) error
	SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error
	SetClusterConfigs(ctx context.Context, configs map[string]string) error
	UpdatePartition(ctx context.Context, u meta.PartitionUpdate) error
	ReassignPartition(ctx context.Context, topic string, partition int32, target []int32) error
	UnregisterBroker(ctx context.Context, id int32) error

	// Security metadata (meta/security.go).
	ScramCredential(user, mechanism string) (security.ScramCredential, bool)
	ScramUsers() map[string][]meta.ScramInfo
	AlterScramCredentials(ctx context.Context, upserts []meta.ScramUpsert, deletions []meta.ScramKey) error
	ACLs() []security.ACL
	ACLGeneration() uint64
	CreateACLs(ctx context.Context, acls []security.ACL) error
	DeleteACLs(ctx context.Context, acls []security.ACL) error

	// Client quotas (meta/quotas.go).
	ClientQuotas() *quota.Set
	QuotaGeneration() uint64
	AlterClientQuotas(ctx context.Context, alts []meta.QuotaAlteration) error
	Close() error
}

var _ Metadata = (*meta.Store)(nil)

// openMeta starts this node's metadata store under <data-dir>/meta: a
// single-voter raft quorum of this node.
func openMeta(ctx context.Context, cfg Config, plan *securityPlan, log *slog.Logger) (*meta.Store, error) {
	mc := meta.DefaultConfig()
	mc.NodeID = cfg.NodeID
	mc.Dir = filepath.Join(cfg.DataDir, "meta")
	mc.Logger = log.With("component", "meta")
	var err error
	if mc.InitialScram, err = plan.initialScram(); err != nil {
		return nil, err
	}
	s, err := meta.Open(mc)
	if err != nil {
		return nil, fmt.Errorf("opening metadata store: %w", err)
	}
	if err := s.WaitReady(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("waiting for metadata quorum: %w", err)
	}
	return s, nil
}

// appliedVersion is the metadata version the partitions last reflected,
// published by applyMetadata's callers (Start, runMetaWatch, runStoreProbe) for
// waitVisible and for subscribers that read the hosted partitions.
type appliedVersion struct {
	mu      sync.Mutex
	version uint64
	changed chan struct{} // closed and replaced on every advance
	subs    map[chan struct{}]struct{}
}

func (a *appliedVersion) init() {
	a.changed = make(chan struct{})
	a.subs = map[chan struct{}]struct{}{}
}

// publish records that the partitions reflect version v and signals every
// subscriber, even when v did not advance.
func (a *appliedVersion) publish(v uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ch := range a.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	if v <= a.version {
		return
	}
	a.version = v
	close(a.changed)
	a.changed = make(chan struct{})
}

// subscribe returns a channel signalled after every applyMetadata; signals
// coalesce (the channel holds one). cancel stops delivery.
func (a *appliedVersion) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	a.mu.Lock()
	a.subs[ch] = struct{}{}
	a.mu.Unlock()
	return ch, func() {
		a.mu.Lock()
		delete(a.subs, ch)
		a.mu.Unlock()
	}
}

func (a *appliedVersion) load() (uint64, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.version, a.changed
}

// applyMetadata brings the hosted partitions in step with the metadata and
// publishes the version applied. Start, runMetaWatch and runStoreProbe
// call it; partitionSet.applyMetadata serializes them.
func (n *Node) applyMetadata() error {
	v, err := n.parts.applyMetadata()
	n.applied.publish(v)
	return err
}

// awaitOwnWrite waits (bounded by ctx) until this node has applied the
// metadata change the caller just committed, so its answer matches what
// the node serves; what names the change in the warning logged when the
// wait ends first.
func (n *Node) awaitOwnWrite(ctx context.Context, what string, attrs ...any) {
	v := n.meta.Version()
	if err := n.waitVisible(ctx, v); err != nil {
		n.log.Warn(what+" not yet applied here", append(attrs, "err", err)...)
		return
	}
	if err := n.awaitClusterWrite(ctx, v); err != nil {
		n.log.Warn(what+" not yet applied on every broker", append(attrs, "err", err)...)
	}
}

// waitVisible returns once this node has applied metadata version (and
// every earlier one) to its partitions, so a handler that committed a
// change can answer as if the change had taken effect here. It fails when
// ctx ends first, or when the node drains (the watcher has stopped).
func (n *Node) waitVisible(ctx context.Context, version uint64) error {
	for {
		v, changed := n.applied.load()
		if v >= version {
			return nil
		}
		select {
		case <-changed:
		case <-n.drain:
			return fmt.Errorf("waiting for metadata version %d to apply: %w", version, errDrained)
		case <-ctx.Done():
			return fmt.Errorf("waiting for metadata version %d to apply (applied %d): %w", version, v, ctx.Err())
		}
	}
}
