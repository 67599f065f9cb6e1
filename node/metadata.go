package node

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/stratalog/strata/meta"
)

// Metadata is the node's view of cluster metadata: reads are local and cheap,
// writes are proposals that return once committed. The Kafka handlers use
// only this interface and never touch the quorum directly.
type Metadata interface {
	ClusterID() string
	ControllerID() int32
	Brokers() []meta.Broker
	Topics() []meta.Topic
	Topic(name string) (meta.Topic, bool)
	TopicByID(id [16]byte) (meta.Topic, bool)
	ClusterConfigs() map[string]string
	Subscribe() (<-chan struct{}, func())

	RegisterBroker(ctx context.Context, b meta.Broker) error
	CreateTopic(ctx context.Context, spec meta.TopicSpec) (meta.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
	CreatePartitions(ctx context.Context, name string, total int32, assignments [][]int32) error
	SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error
	SetClusterConfigs(ctx context.Context, configs map[string]string) error
	Close() error
}

var _ Metadata = (*meta.Store)(nil)

// openMeta starts this node's metadata store under <data-dir>/meta: a
// single-voter raft quorum of this node.
func openMeta(ctx context.Context, cfg Config, log *slog.Logger) (*meta.Store, error) {
	mc := meta.DefaultConfig()
	mc.NodeID = cfg.NodeID
	mc.Dir = filepath.Join(cfg.DataDir, "meta")
	mc.Logger = log.With("component", "meta")
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
