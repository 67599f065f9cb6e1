package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/kconfig"
	"github.com/stratalog/strata/node/producer"
	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
	"github.com/stratalog/strata/tiering"
)

// Tiering glue: the node opens the object store (--object-store, or a
// directory under the data dir), runs a tiering.Manager, attaches each
// hosted partition to it, and serves fetches and ListOffsets below the
// local log start from the cold tier.

// coldReadTimeout bounds one cold read (its ranged GETs are retried inside).
const coldReadTimeout = 30 * time.Second

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// LegacyObjectStoreDir is where the embedded object store lived, under
// the data dir, before it moved beside it; a data dir that still holds one
// keeps using it.
const LegacyObjectStoreDir = "objectstore"

// DefaultObjectStorePath is the embedded object store's directory when no
// --object-store is given: beside the data dir, <data-dir>-objectstore,
// so that deleting the data dir (make clean, a replaced disk mounted
// there) leaves the cold tier and the cluster's metadata copy to restore
// from — or <data-dir>/objectstore where an earlier version put it.
func DefaultObjectStorePath(dataDir string) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	legacy := filepath.Join(abs, LegacyObjectStoreDir)
	if entries, err := os.ReadDir(legacy); err == nil && len(entries) > 0 {
		return legacy, nil
	}
	return filepath.Clean(abs) + "-objectstore", nil
}

// objectStoreURL is the store the node tiers to.
func (c Config) objectStoreURL() (string, error) {
	if c.ReadReplicaOf != "" {
		return c.ReadReplicaOf, nil
	}
	if c.ObjectStore != "" {
		return c.ObjectStore, nil
	}
	dir, err := DefaultObjectStorePath(c.DataDir)
	if err != nil {
		return "", fmt.Errorf("object-store: %w", err)
	}
	return "file://" + dir, nil
}

// storeStartTimeout bounds the object-store probe at start.
const storeStartTimeout = 15 * time.Second

// startTiering opens the store and starts the tiering manager.
func (n *Node) startTiering(ctx context.Context) error {
	u, err := n.cfg.objectStoreURL()
	if err != nil {
		return err
	}
	// Probe first: a misconfigured store refuses the start, an
	// unreachable one starts the node degraded.
	pctx, cancel := context.WithTimeout(ctx, storeStartTimeout)
	probe, err := open.Open(pctx, u, open.Default())
	cancel()
	if err == nil {
		probe.Close()
	} else if !storeUnreachable(err) {
		return fmt.Errorf("object-store: %w", err)
	}
	opts := open.Default()
	opts.Registerer = n.metrics.reg
	opts.SkipStartupCheck = true
	store, oerr := open.Open(ctx, u, opts)
	if oerr != nil {
		return fmt.Errorf("object-store: %w", oerr)
	}
	if n.cfg.WrapObjectStore != nil {
		store = n.cfg.WrapObjectStore(store)
	}
	if n.readReplica() {
		store = objectstore.ReadOnly(store)
		n.storeHealth.claimed = true // the bucket is the primary's
	}
	n.tierStore = store
	if err == nil {
		err = probeStore(ctx, store)
	}
	if err != nil {
		n.storeHealth.setDown(err)
		n.log.Warn("object store unreachable at start: serving local data degraded; partitions that need the store wait for it, uploads resume when it answers",
			"url", redactURL(u), "err", err)
	} else if err := n.claimOnce(ctx); err != nil {
		store.Close()
		return err
	}
	if !n.readReplica() {
		up, err := n.newMetaUploader(store)
		if err != nil {
			store.Close()
			return err
		}
		n.metaUp = up
	}
	tc := tiering.Default()
	tc.CacheDir = filepath.Join(n.cfg.DataDir, "tier-cache")
	tc.NodeID = n.cfg.NodeID
	b := n.brokerCfg()
	tc.ChunkBytes = b.Int64("remote.fetch.chunk.bytes")
	tc.CacheBytes = b.Int64("remote.cache.bytes")
	tc.UploadBytesPerSec = b.Int64("remote.log.manager.copy.max.bytes.per.second")
	tc.FetchBytesPerSec = b.Int64("remote.log.manager.fetch.max.bytes.per.second")
	if ms := b.Int64("remote.orphan.grace.ms"); ms > 0 {
		tc.OrphanGrace = msDuration(ms)
	}
	tc.UploadStallTimeout = msDuration(b.Int64("remote.upload.stall.timeout.ms"))
	tc.Interval = msDuration(b.Int64("remote.log.manager.task.interval.ms"))
	tc.SyncInterval = msDuration(b.Int64("remote.log.manifest.sync.interval.ms"))
	tc.UploadMaxInterval = msDuration(b.Int64("remote.log.segment.upload.max.interval.ms"))
	if n.readReplica() {
		tc.UploadMaxInterval = 0
		tc.ReadOnly = true
		tc.FollowInterval = msDuration(b.Int64("remote.log.read.replica.follow.interval.ms"))
	}
	tc.RetryBackoff = msDuration(b.Int64("remote.log.manager.task.retry.backoff.ms"))
	tc.MaxRetryBackoff = max(tc.RetryBackoff, msDuration(b.Int64("remote.log.manager.task.retry.backoff.max.ms")))
	m, err := tiering.New(tc, store, n.log)
	if err != nil {
		store.Close()
		return err
	}
	if err := n.metrics.reg.Register(m); err != nil {
		store.Close()
		return err
	}
	n.tier = m
	m.Start()
	n.log.Info("tiering to object store", "url", redactURL(u))
	return nil
}

func (n *Node) stopTiering() error {
	if n.tier == nil {
		return nil
	}
	return errors.Join(n.tier.Close(), n.tierStore.Close())
}

func redactURL(u string) string {
	if loc, err := objectstore.ParseURL(u); err == nil {
		return loc.String()
	}
	return "(unparsable)"
}

// tierSource adapts a partition to tiering.Source.
type tierSource struct{ p *partition }

func (s tierSource) Log() tiering.LocalLog { return s.p.log }
func (s tierSource) HighWatermark() int64  { return s.p.highWatermark() }
func (s tierSource) LeaderEpoch() int32    { return s.p.leadership().epoch }
func (s tierSource) IsLeader() bool        { return s.p.leadership().isLeader() } // only leaders upload
func (s tierSource) Policy() tiering.Policy {
	return tierPolicy(s.p.cfg.Load().topic)
}

func tierPolicy(t kconfig.Topic) tiering.Policy {
	p := tiering.Policy{
		RemoteEnabled:       t.Get("remote.storage.enable") == "true",
		RetentionMs:         t.Int64("retention.ms"),
		RetentionBytes:      t.Int64("retention.bytes"),
		LocalRetentionMs:    t.Int64("local.retention.ms"),
		LocalRetentionBytes: t.Int64("local.retention.bytes"),
	}
	compact, del := t.Policies()
	if !del {
		// cleanup.policy=compact alone: nothing is deleted by age or
		// size, in either tier.
		p.RetentionMs, p.RetentionBytes = -1, -1
	}
	if compact {
		// The cleaner compacts the local log, not yet the cold tier's
		// copies: a compacted topic keeps its whole (compacted) log on
		// local disk, so a read from the start sees exactly the latest
		// value of every key. See docs/compaction.md.
		p.LocalRetentionMs, p.LocalRetentionBytes = -1, -1
	}
	return p
}

func (p *partition) tierID() tiering.ID {
	return tiering.ID{Topic: p.topic, TopicID: p.topicID, Partition: p.index}
}

// attachTier attaches a newly opened partition to the tiering manager. A
// log restored from an empty data dir is restarted at the remote end.
func (n *Node) attachTier(p *partition) error {
	if n.tier == nil {
		return nil
	}
	timeout := 2*n.cfg.ShutdownTimeout + time.Minute
	down, _, _ := n.storeHealth.state()
	if down {
		// Only a partition whose local state needs the store's waits on
		// it; the others attach from their local manifest at once.
		timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tp, err := n.tier.Attach(ctx, p.tierID(), p.log.Dir(), tierSource{p})
	if err != nil {
		if down, _, _ := n.storeHealth.state(); down {
			return fmt.Errorf("%w: %w", errStoreDown, err)
		}
		return err
	}
	p.tier.Store(tp)
	if snap, ok := tp.TakeRestoredSnapshot(); ok {
		if err := p.restoreProducerSnapshot(ctx, tp, snap); err != nil {
			n.log.Warn("restoring producer state from the cold tier", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
	return nil
}

// restoreProducerSnapshot turns the producer snapshot found in the store
// (taken at snap.Offset <= the remote end) into a local snapshot at the
// restored log's start: the remote batches in between are replayed on top
// of it, so loadProducers then starts from exactly the remote end.
func (p *partition) restoreProducerSnapshot(ctx context.Context, tp *tiering.Partition, snap tiering.RestoredSnapshot) error {
	end := p.log.StartOffset() // the restored local log is empty and starts here
	data, err := replayProducerSnapshot(ctx, tp, snap, end, p.n.log.With("topic", p.topic, "partition", p.index))
	if err != nil {
		return err
	}
	return p.log.WriteProducerSnapshot(end, data)
}

// replayProducerSnapshot is the producer state as of end: the snapshot
// from the store with the store's batches in [snapshot, end) replayed on
// top, encoded as a local snapshot at end.
func replayProducerSnapshot(ctx context.Context, tp *tiering.Partition, snap tiering.RestoredSnapshot, end int64, log *slog.Logger) ([]byte, error) {
	st, at, aborted, err := producer.UnmarshalWithAborted(snap.Data)
	if err != nil {
		return nil, err
	}
	if at > end {
		return nil, fmt.Errorf("snapshot at %d is past the restored log start %d", at, end)
	}
	now := time.Now().UnixMilli()
	replayed := 0
	remote := func(from int64) (*storage.ReadResult, error) { return tp.Read(ctx, from, 1<<20) }
	err = forEachBatch(remote, max(at, tp.LogStartOffset()), end, func(h record.Header, batch []byte) error {
		if h.ProducerID < 0 || h.BaseOffset < at || h.NextOffset() > end {
			return nil
		}
		replayed++
		if !h.IsControl() {
			st.Update([]record.Header{h}, now)
		} else if commit, ce, ok := parseMarker(batch); ok {
			if a, ok := st.CompleteTxn(h.ProducerID, h.ProducerEpoch, ce, commit, h.BaseOffset, now); ok {
				aborted = append(aborted, a)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("replaying remote batches: %w", err)
	}
	data, err := st.MarshalWithAborted(end, aborted)
	if err != nil {
		return nil, err
	}
	log.Info("restored producer state from the cold tier", "snapshot_offset", at, "replayed_batches", replayed, "producers", st.Len(), "at", end)
	return data, nil
}

// runRestoreAfterReset gives a follower whose log was just restarted at
// its leader's local log start (outOfRange: it had fallen behind what the
// leader keeps on disk) the producer state of everything below it, from
// the newest snapshot in the store at or below that start and the store's
// batches after it (KIP-1023's producer snapshots from the remote tier),
// so that if it becomes leader it still deduplicates idempotent producers'
// retries and knows their sequences. Owned by the partition set
// (recovers); it ends when the state is rebuilt, when there is nothing to
// restore, or when the partition moved on meanwhile.
func (p *partition) runRestoreAfterReset(st *followState, gen uint64) {
	defer p.n.parts.recovers.Done()
	tp := p.tier.Load()
	if tp == nil {
		return
	}
	ctx, cancel := context.WithTimeout(p.n.drainCtx, 2*coldReadTimeout)
	defer cancel()
	log := p.n.log.With("topic", p.topic, "partition", p.index)
	// The store's manifest may not yet show the segments below the new
	// start (the leader trims its disk once they are uploaded, and this
	// node's view lags by a listing), and local retention may move the
	// start on meanwhile (the store holds what it drops): a few tries,
	// each with a fresh listing, rebuild the state up to where the log
	// starts by then.
	var why string
	for try := range restoreTries {
		if try > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(restoreRetry):
			}
		}
		if ctx.Err() != nil || p.repl.follow.Load() != st || p.repl.resets.Load() != gen {
			return // moved, or reset again: a newer restore runs
		}
		if _, err := tp.Sync(ctx); err != nil {
			why = fmt.Sprintf("reading the store's manifest: %v", err)
			continue
		}
		end := p.log.StartOffset()
		snap, err := tp.SnapshotAtOrBelow(ctx, end)
		if err != nil {
			why = fmt.Sprintf("no snapshot read from the store at or below %d: %v", end, err)
			continue
		}
		if snap == nil {
			why = fmt.Sprintf("the store holds no producer snapshot at or below %d", end)
			continue
		}
		data, err := replayProducerSnapshot(ctx, tp, *snap, end, log)
		if err != nil {
			why = fmt.Sprintf("replaying from %d: %v", snap.Offset, err)
			continue
		}
		if p.installRestored(st, gen, end, data, log) {
			return
		}
		why = fmt.Sprintf("the local log start moved past %d meanwhile", end)
	}
	if ctx.Err() == nil && p.repl.follow.Load() == st && p.repl.resets.Load() == gen {
		log.Warn("restoring producer state after a reset: gave up; idempotent producers' state below the local log start is missing until the next reset or restart", "tries", restoreTries, "last", why)
	}
}

// restoreTries and restoreRetry bound runRestoreAfterReset's attempts.
const (
	restoreTries = 10
	restoreRetry = 500 * time.Millisecond
)

// installRestored writes the rebuilt producer state as the log's snapshot
// at end and reloads the producer state from it, if the partition still
// follows st, was not reset again, and its log still starts at end.
func (p *partition) installRestored(st *followState, gen uint64, end int64, data []byte, log *slog.Logger) bool {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.repl.follow.Load() != st || p.repl.resets.Load() != gen {
		return true // nothing more to do here
	}
	if p.log.StartOffset() != end {
		return false // trimmed meanwhile: build again
	}
	if err := p.log.WriteProducerSnapshot(end, data); err != nil {
		log.Warn("restoring producer state after a reset: writing the snapshot", "err", err)
		return true
	}
	// Snapshots taken since the reset lack what is below it: the state
	// is rebuilt from this one and the local log after it.
	if offs, err := p.log.ProducerSnapshotOffsets(); err == nil {
		for _, off := range offs {
			if off > end {
				_ = p.log.RemoveProducerSnapshot(off)
			}
		}
	}
	p.prod.resetAborted()
	p.loadProducersLocked()
	return true
}

// deleteRecordsBefore moves the log start of both tiers to off (Kafka's
// DeleteRecords: the log start is the whole log's). The tiering layer
// persists it first, so remote segments below it are deleted and never
// served again, then local segments below it go.
func (p *partition) deleteRecordsBefore(off int64) error {
	if tp := p.tier.Load(); tp != nil {
		if err := tp.DeleteRecordsBefore(off); err != nil {
			return err
		}
	}
	if off > p.log.StartOffset() {
		return p.log.DeleteRecordsBefore(off)
	}
	return nil
}

// detachTier stops tiering a partition; deleted topics lose their remote
// data in the background.
func (n *Node) detachTier(p *partition, deleted bool) {
	if n.tier != nil {
		n.tier.Detach(p.tierID(), deleted)
	}
}

// tiered returns the partition's tiering handle when remote storage is on.
func (p *partition) tiered() *tiering.Partition {
	tp := p.tier.Load()
	if tp == nil || !tierPolicy(p.cfg.Load().topic).RemoteEnabled {
		return nil
	}
	return tp
}

// coldNotReady reports whether a read at offset, below the local log
// start, must wait: this broker just became the leader and has not yet
// read the store's manifest (tiering.Partition.Stale).
func (p *partition) coldNotReady(offset int64) bool {
	tp := p.tier.Load()
	return tp != nil && offset < p.log.StartOffset() && tp.Stale()
}

// logStartOffset is the log start across both tiers.
func (p *partition) logStartOffset() int64 {
	if tp := p.tier.Load(); tp != nil {
		return tp.LogStartOffset()
	}
	return p.log.StartOffset()
}

// needsCold reports whether a fetch at offset is served from the cold tier.
func (p *partition) needsCold(offset int64) bool {
	return p.tier.Load() != nil && offset < p.log.StartOffset()
}

// readTiered reads from the local log, or from the cold tier below the
// local start or where the local log refuses a damaged range the cold tier
// holds (until runHeal replaces the segment). A cold read that fails is a
// retriable KAFKA_STORAGE_ERROR: the client retries, and never gets
// guessed data; a range lost everywhere is CORRUPT_MESSAGE.
func (p *partition) readTiered(offset int64, maxBytes int, hw int64) (*storage.ReadResult, error) {
	tp := p.tier.Load()
	if tp == nil || offset >= p.log.StartOffset() {
		rr, err := p.log.Read(offset, maxBytes, hw)
		if err == nil || tp == nil || !errors.Is(err, storage.ErrCorruptSegment) || !tp.Covers(offset) {
			return rr, err
		}
		p.n.kickHeal()
	}
	ctx, cancel := context.WithTimeout(context.Background(), coldReadTimeout)
	defer cancel()
	rr, err := tp.Read(ctx, offset, maxBytes)
	switch {
	case errors.Is(err, tiering.ErrOffsetOutOfRange):
		return nil, fmt.Errorf("%w: %w", storage.ErrOffsetOutOfRange, err)
	case errors.Is(err, tiering.ErrRemoteLost):
		p.warnColdRead(offset, err)
		return nil, fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
	case err != nil:
		p.warnColdRead(offset, err)
		return nil, fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
	}
	return rr, nil
}

// coldWarnEvery is the least time between two cold-read warnings of one
// partition; the ones in between are counted in the next.
const coldWarnEvery = 10 * time.Second

func (p *partition) warnColdRead(offset int64, err error) {
	if ok, n := p.coldWarn.allow(coldWarnEvery); ok {
		p.n.log.Warn("cold read failed", "topic", p.topic, "partition", p.index, "offset", offset, "err", err, "repeats", n)
	}
}

// offsetForTimestampTiered looks in the cold tier first, then locally.
func (p *partition) offsetForTimestampTiered(ts int64) (int64, bool, int64, error) {
	if tp := p.tier.Load(); tp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), coldReadTimeout)
		defer cancel()
		off, fts, found, err := tp.OffsetForTimestamp(ctx, ts)
		if err != nil {
			p.warnColdRead(-1, err)
			if errors.Is(err, tiering.ErrRemoteLost) {
				return 0, false, 0, fmt.Errorf("%w: %w", kerr.CorruptMessage, err)
			}
			return 0, false, 0, fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
		}
		if found && off < p.log.StartOffset() {
			return off, true, fts, nil
		}
	}
	off, fts, found, err := p.log.OffsetForTimestamp(ts)
	return off, found, fts, err
}

// TierStatus reports the tiering state of every hosted partition (for
// `strata tier status`, which reads the same numbers from /metrics).
func (n *Node) TierStatus() []tiering.Status {
	var out []tiering.Status
	for _, p := range n.parts.all() {
		if tp := p.tier.Load(); tp != nil {
			out = append(out, tp.Status())
		}
	}
	return out
}

// fetchNeedsCold reports whether any partition of a fetch reads below its
// local log start.
func (n *Node) fetchNeedsCold(r *request, req *kmsg.FetchRequest) bool {
	cold := false
	n.eachFetchPartition(r, req, func(p *partition, rp kmsg.FetchRequestTopicPartition) bool {
		cold = p.needsCold(rp.FetchOffset)
		return !cold
	})
	return cold
}
