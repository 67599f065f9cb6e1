package node

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/bucket"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/tiering"
)

// A read replica (--read-replica-of URL) serves another cluster's bucket
// read-only through the normal Fetch path: consumers in another region
// read from their local cluster (docs/restore.md, "Read replicas"). It
// has its own metadata, groups and data directory; it mirrors the
// primary's topics under their IDs from the bucket's metadata snapshots,
// follows new uploads through the primary's progress objects, never
// writes to the bucket (its store refuses writes), and refuses produce
// and admin writes on the mirrored topics.

func (n *Node) readReplica() bool { return n.cfg.ReadReplicaOf != "" }

// errReadOnly is what a read replica answers to writes on mirrored topics.
func (n *Node) errReadOnly(code *kerr.Error) error {
	return fmt.Errorf("%w: this cluster is a read replica of %s: its topics are read-only here; write to the primary",
		code, redactURL(n.cfg.ReadReplicaOf))
}

// readReplicaMeta is the Metadata handlers see on a read replica: writes
// that change mirrored topics or cluster configs are refused; the node's
// own internal topics, broker registrations and leadership are not.
type readReplicaMeta struct {
	Metadata
	n *Node
}

func (m readReplicaMeta) mirrored(name string) bool {
	t, ok := m.Metadata.Topic(name)
	return !ok || !t.Internal
}

func (m readReplicaMeta) CreateTopic(ctx context.Context, spec meta.TopicSpec) (meta.Topic, error) {
	if !spec.Internal {
		return meta.Topic{}, m.n.errReadOnly(kerr.TopicAuthorizationFailed)
	}
	return m.Metadata.CreateTopic(ctx, spec)
}

func (m readReplicaMeta) DeleteTopic(ctx context.Context, name string) error {
	if m.mirrored(name) {
		return m.n.errReadOnly(kerr.TopicAuthorizationFailed)
	}
	return m.Metadata.DeleteTopic(ctx, name)
}

func (m readReplicaMeta) CreatePartitions(context.Context, string, int32, [][]int32) error {
	return m.n.errReadOnly(kerr.TopicAuthorizationFailed)
}

func (m readReplicaMeta) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	if m.mirrored(name) {
		return m.n.errReadOnly(kerr.TopicAuthorizationFailed)
	}
	return m.Metadata.SetTopicConfigs(ctx, name, configs)
}

func (m readReplicaMeta) SetClusterConfigs(context.Context, map[string]string) error {
	return m.n.errReadOnly(kerr.ClusterAuthorizationFailed)
}

func (m readReplicaMeta) ReassignPartition(context.Context, string, int32, []int32) error {
	return m.n.errReadOnly(kerr.ClusterAuthorizationFailed)
}

// followRemote is tiering's call after every sync of a read replica's
// partition: its (always empty) local log moves up to the remote end,
// which becomes the high watermark, and parked fetches wake.
func (p *partition) followRemote(end int64) {
	p.appendMu.Lock()
	l := p.log
	if end <= l.EndOffset() {
		p.appendMu.Unlock()
		return
	}
	if l.EndOffset() != l.StartOffset() {
		p.appendMu.Unlock()
		p.n.log.Error("read replica partition holds local records; not following the store", "topic", p.topic, "partition", p.index)
		return
	}
	err := l.ResetEmpty(end)
	p.appendMu.Unlock()
	if err != nil {
		p.n.log.Error("moving a read replica partition to the remote end", "topic", p.topic, "partition", p.index, "end", end, "err", err)
		return
	}
	p.advanceHW(end)
}

func (s tierSource) FollowRemote(end int64) { s.p.followRemote(end) }

var _ tiering.RemoteFollower = tierSource{}

// runMirror keeps a read replica's topics those of its primary: every
// follow interval it reads the bucket's newest metadata snapshot and
// creates, grows, reconfigures and deletes the local mirrors (under the
// primary's topic IDs; deleting one never touches the bucket). It stops
// when the node drains.
func (n *Node) runMirror() {
	defer n.loops.Done()
	every := msDuration(n.brokerCfg().Int64("remote.log.read.replica.follow.interval.ms"))
	var applied uint64
	for {
		if v, err := n.mirrorOnce(applied); err != nil {
			if !n.draining() {
				n.log.Warn("mirroring the primary's metadata", "err", err)
			}
		} else {
			applied = v
			n.mirrorVersion.Store(v)
		}
		select {
		case <-n.drain:
			return
		case <-time.After(every):
		}
	}
}

// mirrorOnce applies the newest snapshot if it is newer than applied.
func (n *Node) mirrorOnce(applied uint64) (uint64, error) {
	ctx, cancel := context.WithTimeout(n.drainCtx, time.Minute)
	defer cancel()
	version, data, err := bucket.LatestMetadata(ctx, n.tierStore, tiering.Default().Prefix)
	if err != nil {
		return applied, err
	}
	if version <= applied {
		return applied, nil
	}
	ex, err := meta.DecodeExport(data)
	if err != nil {
		return applied, err
	}
	m := n.mirrorMeta
	want := map[string]meta.Topic{}
	for _, t := range ex.Topics() {
		if !t.Internal {
			want[t.Name] = t
		}
	}
	for _, have := range m.Topics() {
		if have.Internal {
			continue
		}
		if w, ok := want[have.Name]; !ok || w.ID != have.ID {
			if err := m.DeleteTopic(ctx, have.Name); err != nil {
				return applied, fmt.Errorf("deleting mirror %s: %w", have.Name, err)
			}
			n.log.Info("read replica: topic gone from the primary", "topic", have.Name)
		}
	}
	for name, w := range want {
		have, ok := m.Topic(name)
		switch {
		case !ok:
			_, err = m.CreateTopic(ctx, meta.TopicSpec{Name: name, ID: w.ID, NumPartitions: int32(len(w.Partitions)),
				ReplicationFactor: 1, Configs: w.Configs})
			if err == nil {
				n.log.Info("read replica: mirroring topic", "topic", name, "partitions", len(w.Partitions))
			}
		case len(have.Partitions) < len(w.Partitions):
			err = m.CreatePartitions(ctx, name, int32(len(w.Partitions)), nil)
		case !maps.Equal(have.Configs, w.Configs):
			err = m.SetTopicConfigs(ctx, name, w.Configs)
		}
		if err != nil {
			return applied, fmt.Errorf("mirroring %s: %w", name, err)
		}
	}
	if err := n.waitVisible(ctx, m.Version()); err != nil {
		return applied, err
	}
	return version, nil
}

// isInternalTopic reports whether name is one of the node's own internal
// topics (writable on a read replica: its groups and transactions).
func isInternalTopic(name string) bool { return name == offsetsTopic || name == txnStateTopic }
