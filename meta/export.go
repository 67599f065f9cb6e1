package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"

	"github.com/hashicorp/raft"
)

// ExportSnapshot encodes the whole state as the raft snapshot format (the
// copy of the metadata kept in the object store, docs/restore.md) and
// returns the version (raft index) it reflects.
func (s *Store) ExportSnapshot() (version uint64, data []byte, err error) {
	s.fsm.read(func(st *state) {
		version = st.version
		data, err = json.Marshal(st.toSnapshot())
	})
	if err != nil {
		return 0, nil, fmt.Errorf("meta: encoding snapshot: %w", err)
	}
	return version, data, nil
}

// Exported is a decoded, checked metadata snapshot.
type Exported struct{ st *state }

// DecodeExport decodes and checks a snapshot ExportSnapshot wrote.
func DecodeExport(data []byte) (*Exported, error) {
	var snap snapshotJSON
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&snap); err != nil {
		return nil, fmt.Errorf("meta: decoding snapshot: %w", err)
	}
	st, err := stateFromSnapshot(&snap)
	if err != nil {
		return nil, err
	}
	return &Exported{st: st}, nil
}

// ClusterID, Version, Brokers, Topics and NextProducerID read the snapshot.
func (e *Exported) ClusterID() string { return e.st.clusterID }
func (e *Exported) Version() uint64   { return e.st.version }
func (e *Exported) Topics() []Topic   { return topicList(e.st) }
func (e *Exported) Brokers() []Broker {
	out := make([]Broker, 0, len(e.st.brokers))
	for _, id := range slices.Sorted(maps.Keys(e.st.brokers)) {
		out = append(out, e.st.brokers[id])
	}
	return out
}
func (e *Exported) NextProducerID() int64 {
	return e.st.nextProducerID
}

// ErrRestore: a snapshot cannot be restored as asked.
var ErrRestore = errors.New("meta: cannot restore snapshot")

// RestoreOnto returns the snapshot rewritten for a new cluster made of the
// brokers given: the same cluster ID, topic IDs, configs, cluster configs
// and producer-ID counter; every partition placed on the new brokers with
// the same placement rule as topic creation, led by its first replica
// under a leader epoch above both its recorded one and minEpoch(topic,
// partition) (the highest epoch its remote data carries), with no
// reassignment in flight. The replication factor is capped at the number
// of brokers.
func (e *Exported) RestoreOnto(brokers []Broker, minEpoch func(topic string, partition int32) int32) ([]byte, error) {
	if len(brokers) == 0 {
		return nil, fmt.Errorf("%w: no brokers", ErrRestore)
	}
	st := newState()
	st.clusterID = e.st.clusterID
	st.version = e.st.version
	st.nextProducerID = e.st.nextProducerID
	st.clusterConfigs = cloneConfigs(e.st.clusterConfigs)
	ids := make([]int32, 0, len(brokers))
	for _, b := range brokers {
		b.Fenced = false
		if err := validBroker(b); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRestore, err)
		}
		st.brokers[b.ID] = b
		ids = append(ids, b.ID)
	}
	slices.Sort(ids)
	k := 0
	for _, t := range topicList(e.st) {
		nt := t
		nt.Configs = cloneConfigs(t.Configs)
		nt.Partitions = make([]Partition, len(t.Partitions))
		for i, p := range t.Partitions {
			rf := min(len(p.Target()), len(ids))
			rf = max(rf, 1)
			reps := make([]int32, 0, rf)
			for j := 0; j < rf; j++ {
				reps = append(reps, ids[(k+j)%len(ids)])
			}
			k++
			epoch := p.LeaderEpoch
			if minEpoch != nil {
				epoch = max(epoch, minEpoch(t.Name, p.Index))
			}
			nt.Partitions[i] = Partition{
				Index: p.Index, Leader: reps[0], LeaderEpoch: epoch + 1,
				Replicas: reps, ISR: slices.Clone(reps),
			}
		}
		if err := validTopic(nt); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRestore, err)
		}
		st.addTopic(&nt)
	}
	return json.Marshal(st.toSnapshot())
}

// SeedSnapshot prepares an empty metadata directory to start from a
// snapshot (RestoreOnto's): it writes the snapshot into raft's snapshot
// store at the snapshot's version with this node as the only voter, and
// the cluster ID file. Open then restores the state from it and elects
// this node. It refuses a directory that already holds raft state.
func SeedSnapshot(dir string, nodeID int32, data []byte) error {
	ex, err := DecodeExport(data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("meta: creating %s: %w", dir, err)
	}
	if entries, err := os.ReadDir(dir); err != nil {
		return fmt.Errorf("meta: reading %s: %w", dir, err)
	} else if len(entries) > 0 {
		return fmt.Errorf("%w: %s is not empty", ErrRestore, dir)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, newHCLogAdapter(slog.New(slog.DiscardHandler), "raft"))
	if err != nil {
		return fmt.Errorf("meta: snapshot store in %s: %w", dir, err)
	}
	index := max(ex.Version(), 1)
	// The address of a single-node store's in-memory transport; a
	// clustered node's is learnt again when it joins.
	id := serverID(nodeID)
	addr := raft.ServerAddress("strata-meta-" + string(id))
	_, trans := raft.NewInmemTransport(addr)
	defer trans.Close()
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: id, Address: addr}}}
	sink, err := snaps.Create(raft.SnapshotVersionMax, index, 1, conf, index, trans)
	if err != nil {
		return fmt.Errorf("meta: creating snapshot: %w", err)
	}
	if _, err := sink.Write(data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("meta: writing snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("meta: writing snapshot: %w", err)
	}
	return writeClusterIDFile(dir, ex.ClusterID())
}
