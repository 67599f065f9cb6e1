package bucket

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/tiering"
)

// RestoreOptions say what to restore from and how.
type RestoreOptions struct {
	Store  objectstore.Store
	Prefix string
	// Latest keeps every partition's whole remote chain instead of
	// cutting them at one consistent instant.
	Latest bool
	Log    *slog.Logger
}

// PartitionReport is one partition's restore.
type PartitionReport struct {
	Partition int32
	// LogStart and End are the restored log's bounds; Dropped the offsets
	// the store held past the cut.
	LogStart, End, Dropped int64
	Segments               int
	// Exact is false when the partition's offset at the cut instant was
	// not known (its whole chain is kept).
	Exact    bool
	maxEpoch int32
}

// TopicReport is one topic's restore.
type TopicReport struct {
	Name       string
	ID         string
	Tiered     bool
	Partitions []PartitionReport
}

// Restore is a restore plan: the metadata to start from and every
// partition's place in the cut.
type Restore struct {
	opts            RestoreOptions
	exported        *meta.Exported
	ClusterID       string
	MetadataVersion uint64
	// CutTime is the instant the cut is at (zero without one);
	// Consistent is true when every partition's offset at it is known.
	CutTime    time.Time
	Consistent bool
	Latest     bool
	Topics     []TopicReport
	// Unknown are the partitions whose offset at the cut is not known.
	Unknown int
}

// maxEntryInstants is how many of a chain's newest entries' instants a
// restore considers.
const maxEntryInstants = 256

type partKey struct {
	topicID   string
	partition int32
}

// PlanRestore reads the newest metadata snapshot, every partition's remote
// chain and the progress objects, and picks the cut.
func PlanRestore(ctx context.Context, opts RestoreOptions) (*Restore, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	version, data, err := LatestMetadata(ctx, opts.Store, opts.Prefix)
	if err != nil {
		return nil, err
	}
	ex, err := meta.DecodeExport(data)
	if err != nil {
		return nil, fmt.Errorf("metadata snapshot %d: %w", version, err)
	}
	if c, ok, err := ReadClaim(ctx, opts.Store, opts.Prefix); err != nil {
		return nil, err
	} else if ok && c.ClusterID != ex.ClusterID() {
		return nil, fmt.Errorf("%w: the bucket is claimed by cluster %s but its newest metadata is cluster %s's",
			ErrForeignCluster, c.ClusterID, ex.ClusterID())
	}
	progress, err := tiering.ReadProgress(ctx, opts.Store, opts.Prefix)
	if err != nil {
		return nil, fmt.Errorf("reading progress objects: %w", err)
	}
	spans := map[partKey][]tiering.Span{}
	for _, pr := range progress {
		for _, pp := range pr.Partitions {
			k := partKey{pp.TopicID, pp.Partition}
			spans[k] = append(spans[k], pp.Spans...)
		}
	}

	r := &Restore{opts: opts, exported: ex, ClusterID: ex.ClusterID(), MetadataVersion: version, Latest: opts.Latest}
	type job struct {
		t, p  int
		id    tiering.ID
		input *tiering.CutInput
	}
	var jobs []job
	var inputs []tiering.CutInput
	for ti, t := range ex.Topics() {
		tr := TopicReport{Name: t.Name, ID: hex.EncodeToString(t.ID[:]), Tiered: t.Configs["remote.storage.enable"] != "false"}
		for _, p := range t.Partitions {
			tr.Partitions = append(tr.Partitions, PartitionReport{Partition: p.Index, maxEpoch: -1})
			if tr.Tiered {
				jobs = append(jobs, job{t: ti, p: len(tr.Partitions) - 1, id: tiering.ID{Topic: t.Name, TopicID: t.ID, Partition: p.Index}})
			}
		}
		r.Topics = append(r.Topics, tr)
	}
	inputs = make([]tiering.CutInput, len(jobs))
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range jobs {
		j := &jobs[i]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			chain, logStart, err := tiering.RemoteChain(ctx, opts.Store, opts.Prefix, j.id)
			if err != nil {
				errs[i] = err
				return
			}
			in := tiering.CutInput{ID: j.id, RemoteEmpty: len(chain) == 0}
			pr := &r.Topics[j.t].Partitions[j.p]
			pr.Segments = len(chain)
			if len(chain) > 0 {
				in.RemoteStart, in.RemoteEnd = chain[0].BaseOffset, chain[len(chain)-1].NextOffset
			} else {
				in.RemoteStart = max(0, logStart)
				in.RemoteEnd = in.RemoteStart
			}
			pr.LogStart = max(in.RemoteStart, logStart)
			for i, s := range chain {
				// The newest instants are the ones a cut can use.
				if s.SealTick > 0 && i >= len(chain)-maxEntryInstants {
					in.Spans = append(in.Spans, tiering.Span{From: s.SealTick, To: s.SealTick, Offset: s.NextOffset, Epoch: s.LeaderEpoch})
				}
				pr.maxEpoch = max(pr.maxEpoch, s.LeaderEpoch)
				for _, e := range s.Epochs {
					pr.maxEpoch = max(pr.maxEpoch, e.Epoch)
				}
			}
			in.Spans = append(in.Spans, spans[partKey{hex.EncodeToString(j.id.TopicID[:]), j.id.Partition}]...)
			inputs[i] = in
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	offline := map[partKey]bool{}
	for _, t := range ex.Topics() {
		for _, p := range t.Partitions {
			if p.Leader == meta.NoLeader {
				offline[partKey{hex.EncodeToString(t.ID[:]), p.Index}] = true
			}
		}
	}
	for i := range inputs {
		inputs[i].Offline = offline[partKey{hex.EncodeToString(inputs[i].ID.TopicID[:]), inputs[i].ID.Partition}]
	}

	var cut tiering.Cut
	if opts.Latest {
		for _, in := range inputs {
			end := in.RemoteEnd
			cut.Partitions = append(cut.Partitions, tiering.PartitionCut{ID: in.ID, Offset: end, RemoteEnd: end})
		}
	} else {
		cut = tiering.ChooseCut(inputs)
		r.Consistent = cut.Consistent
		if cut.Tick > 0 {
			r.CutTime = time.UnixMilli(cut.Tick).UTC()
		}
	}
	for i, j := range jobs {
		pc := cut.Partitions[i]
		pr := &r.Topics[j.t].Partitions[j.p]
		pr.End, pr.Dropped, pr.Exact = pc.Offset, pc.Dropped, pc.Exact || opts.Latest
		if !pr.Exact {
			r.Unknown++
		}
		pr.LogStart = min(pr.LogStart, pr.End)
	}
	return r, nil
}

// Dropped is the number of offsets past the cut, across partitions.
func (r *Restore) Dropped() int64 {
	var n int64
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			n += p.Dropped
		}
	}
	return n
}

// ErrNotEmpty: the restore's target data directory holds a node already.
var ErrNotEmpty = errors.New("data directory already holds a node")

// Execute writes the restore: the store's chains are cut (entries past the
// cut moved under restore-dropped/), and dataDir gets metadata from which
// node nodeID starts as the restored cluster, with every partition on it.
// The partitions' logs are rebuilt by the node at start from the store
// (an empty local log restarts at the remote end, or is copied whole for
// topics kept locally, like the internal ones).
func (r *Restore) Execute(ctx context.Context, dataDir string, self meta.Broker) error {
	metaDir := filepath.Join(dataDir, "meta")
	if entries, err := os.ReadDir(metaDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%w: %s", ErrNotEmpty, metaDir)
	}
	if entries, err := os.ReadDir(filepath.Join(dataDir, "kafka")); err == nil && len(entries) > 0 {
		return fmt.Errorf("%w: %s", ErrNotEmpty, filepath.Join(dataDir, "kafka"))
	}
	epochs := map[string]map[int32]int32{}
	tag := fmt.Sprintf("%d", time.Now().UnixMilli())
	for _, t := range r.Topics {
		epochs[t.Name] = map[int32]int32{}
		var id [16]byte
		if _, err := hex.Decode(id[:], []byte(t.ID)); err != nil {
			return err
		}
		for _, p := range t.Partitions {
			epochs[t.Name][p.Partition] = p.maxEpoch
			if p.Dropped == 0 {
				continue
			}
			pid := tiering.ID{Topic: t.Name, TopicID: id, Partition: p.Partition}
			n, err := tiering.DropRemoteFrom(ctx, r.opts.Store, r.opts.Prefix, pid, p.End, tag)
			if err != nil {
				return fmt.Errorf("cutting %s at %d: %w", pid, p.End, err)
			}
			r.opts.Log.Info("dropped remote segments past the cut", "partition", pid, "from", p.End, "segments", n, "offsets", p.Dropped)
		}
	}
	data, err := r.exported.RestoreOnto([]meta.Broker{self}, func(topic string, p int32) int32 {
		if e, ok := epochs[topic][p]; ok {
			return e
		}
		return -1
	})
	if err != nil {
		return err
	}
	if err := meta.SeedSnapshot(metaDir, self.ID, data); err != nil {
		return err
	}
	return nil
}

// SortedTopics returns the report's topics by name.
func (r *Restore) SortedTopics() []TopicReport {
	out := append([]TopicReport(nil), r.Topics...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
