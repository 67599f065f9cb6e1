package tiering

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
)

// ErrDiverged: the store holds a committed segment at an offset this
// broker also wants to upload, with a different range. Uploads of the
// partition stop (and its local data is kept) until an operator looks.
var ErrDiverged = errors.New("remote segment diverges from the local log")

// LocalLog is what the manager needs of a partition's local log
// (*storage.Log implements it).
type LocalLog interface {
	Segments() []storage.SegmentInfo
	StartOffset() int64
	EndOffset() int64
	DeleteRecordsBefore(offset int64) error
	LeaderEpochs() []storage.EpochStart
	ResetEmpty(offset int64) error
	TickBoundary(now time.Time) (tick, offset int64, err error)
	AppendReplica(batches []byte, hdrs []record.Header) (storage.AppendInfo, error)
	Sync() error
	// Gaps reports whether batches may leave offset gaps (a compacted
	// log).
	Gaps() bool
}

var _ LocalLog = (*storage.Log)(nil)

// Source is a hosted partition as the manager sees it.
type Source interface {
	Log() LocalLog
	HighWatermark() int64
	Policy() Policy
	LeaderEpoch() int32
	// IsLeader reports whether this broker may change the partition's
	// remote data.
	IsLeader() bool
}

// Manager runs tiering for every partition of a broker.
type Manager struct {
	cfg     Config
	store   objectstore.Store
	log     *slog.Logger
	metrics *metrics
	cache   *chunkCache
	indexes *indexCache
	entries *entryCache // store manifest entries (checksums) by object key

	uploadSem     chan struct{}
	syncSem       chan struct{} // bounds concurrent manifest syncs
	fetchSem      chan struct{}
	prefetchSlots chan struct{}
	upLimit       *limiter
	downLimit     *limiter
	// again asks the planner for a pass before the next tick: a finished
	// upload lets the next segment of a backlog start at once.
	again chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     struct {
		sync.Mutex
		parts map[ID]*Partition
	}
}

// New returns a manager; Start runs it.
func New(cfg Config, store objectstore.Store, logger *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cache, err := newChunkCache(cfg.CacheDir, cfg.CacheBytes)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		cfg: cfg, store: store, log: logger.With("component", "tiering"),
		metrics:       newMetrics(),
		cache:         cache,
		indexes:       &indexCache{max: 256, m: map[string][]idxEntry{}},
		entries:       newEntryCache(4096),
		uploadSem:     make(chan struct{}, cfg.UploadWorkers),
		syncSem:       make(chan struct{}, maxConcurrentSyncs),
		fetchSem:      make(chan struct{}, cfg.FetchWorkers),
		prefetchSlots: make(chan struct{}, max(1, cfg.FetchWorkers/2)),
		upLimit:       newLimiter(cfg.UploadBytesPerSec),
		downLimit:     newLimiter(cfg.FetchBytesPerSec),
		again:         make(chan struct{}, 1),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.mu.parts = map[ID]*Partition{}
	cache.hits = m.metrics.cacheHits.Inc
	cache.misses = m.metrics.cacheMisses.Inc
	cache.bytes = func(n int64) { m.metrics.cacheBytes.Set(float64(n)) }
	return m, nil
}

// Start runs the planning loop.
func (m *Manager) Start() {
	m.wg.Add(1)
	go m.runPlanner()
	if m.cfg.UploadMaxInterval > 0 && !m.cfg.ReadOnly {
		m.wg.Add(1)
		go m.runProgress()
	}
	if m.cfg.ReadOnly {
		m.wg.Add(1)
		go m.runFollowProgress()
	}
}

// Close stops every loop and in-flight transfer and closes the manifests.
// Work cut short is redone after a restart: nothing is committed half-way.
func (m *Manager) Close() error {
	m.cancel()
	m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for id, p := range m.mu.parts {
		errs = append(errs, p.man.Close())
		delete(m.mu.parts, id)
	}
	return errors.Join(errs...)
}

func (m *Manager) partitions() []*Partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Partition, 0, len(m.mu.parts))
	for _, p := range m.mu.parts {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].id.Topic != out[j].id.Topic {
			return out[i].id.Topic < out[j].id.Topic
		}
		return out[i].id.Partition < out[j].id.Partition
	})
	return out
}

// Partition returns an attached partition.
func (m *Manager) Partition(id ID) *Partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.parts[id]
}

// Attach starts tiering a partition whose local log lives in dir. The local
// manifest is rebuilt from the store when missing or damaged, and a local
// log with no records is restarted where the remote log ends, so a broker
// restored with an empty data directory serves the cold range again.
func (m *Manager) Attach(ctx context.Context, id ID, dir string, src Source) (*Partition, error) {
	p := &Partition{m: m, id: id, root: partitionRoot(m.cfg.Prefix, id), dir: dir, src: src}
	p.mu.published = -1
	p.mu.syncedEpoch = noSync
	p.mu.factEpoch = noSync
	logStart, err := readLogStartFile(dir)
	if err != nil {
		return nil, err
	}
	p.logStart.Store(logStart)
	path := manifestPath(dir)
	_, statErr := os.Stat(path)
	man, err := openManifest(path)
	if err != nil {
		m.log.Warn("local manifest unreadable; rebuilding it from the store", "partition", id, "err", err)
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		statErr = os.ErrNotExist
		if man, err = openManifest(path); err != nil {
			return nil, err
		}
	}
	p.man = man
	if errors.Is(statErr, os.ErrNotExist) {
		n, err := p.rebuild(ctx)
		if err != nil {
			man.Close()
			return nil, fmt.Errorf("rebuilding manifest of %s: %w", id, err)
		}
		if n > 0 {
			m.log.Info("manifest rebuilt from the store", "partition", id, "segments", n)
		}
		var stored int64
		err = retryAtAttach(ctx, p.m.cfg.RetryBackoff, func() (err error) {
			stored, err = p.fetchLogStart(ctx)
			return err
		})
		if err != nil {
			man.Close()
			return nil, fmt.Errorf("reading the log start of %s: %w", id, err)
		}
		p.mu.published = stored
		if stored > p.logStart.Load() {
			if err := writeLogStartFile(dir, stored); err != nil {
				man.Close()
				return nil, err
			}
			p.logStart.Store(stored)
		}
	}
	if rstart, end, _, ok := man.Bounds(); ok {
		l := src.Log()
		if !m.cfg.ReadOnly && l.EndOffset() == l.StartOffset() && l.EndOffset() < end && keepsAllLocal(src.Policy()) && l.StartOffset() <= max(rstart, p.logStart.Load()) {
			// The topic keeps everything locally: bring it all back.
			n, err := p.hydrate(ctx, l, max(rstart, p.logStart.Load()))
			if err != nil {
				man.Close()
				return nil, fmt.Errorf("copying the remote log of %s to local disk: %w", id, err)
			}
			m.log.Info("local log copied from the remote log", "partition", id, "bytes", n, "end", l.EndOffset())
		}
		if l.EndOffset() == l.StartOffset() && l.EndOffset() < end {
			at := max(end, p.logStart.Load())
			if err := l.ResetEmpty(at); err != nil {
				man.Close()
				return nil, fmt.Errorf("restarting %s at the remote end %d: %w", id, at, err)
			}
			m.log.Info("local log restarted at the remote log end", "partition", id, "offset", at)
			var snap *RestoredSnapshot
			err := retryAtAttach(ctx, p.m.cfg.RetryBackoff, func() (err error) {
				snap, err = p.findRemoteSnapshot(ctx)
				return err
			})
			if err != nil {
				// The partition still serves; idempotent producers are
				// then known only from what they write next.
				m.log.Warn("restoring the producer snapshot from the store", "partition", id, "err", err)
			}
			p.mu.restored = snap
		}
	}
	m.mu.Lock()
	if old := m.mu.parts[id]; old != nil {
		old.man.Close()
	}
	m.mu.parts[id] = p
	m.mu.Unlock()
	return p, nil
}

// Detach stops tiering a partition (closed or moved); with deleteRemote
// (the topic was deleted) its remote data is deleted in the background.
func (m *Manager) Detach(id ID, deleteRemote bool) {
	m.mu.Lock()
	p := m.mu.parts[id]
	delete(m.mu.parts, id)
	m.mu.Unlock()
	if p != nil {
		p.mu.Lock()
		p.mu.detached = true
		p.mu.Unlock()
		p.man.Close()
	}
	if deleteRemote && !m.cfg.ReadOnly {
		m.wg.Add(1)
		go m.runDeletePartition(id)
	}
}

// runDeletePartition deletes every object of a deleted partition, retrying
// until it succeeds or the manager closes (what remains is then found by
// nothing and costs only storage).
func (m *Manager) runDeletePartition(id ID) {
	defer m.wg.Done()
	root := partitionRoot(m.cfg.Prefix, id)
	backoff := m.cfg.RetryBackoff
	for {
		err := m.deletePrefix(m.ctx, root+"manifest/")
		if err == nil {
			err = m.deletePrefix(m.ctx, root)
		}
		if err == nil {
			m.log.Info("deleted remote data of a deleted partition", "partition", id)
			return
		}
		m.log.Warn("deleting remote data of a deleted partition", "partition", id, "err", err)
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, m.cfg.MaxRetryBackoff)
	}
}

func (m *Manager) deletePrefix(ctx context.Context, prefix string) error {
	cursor := ""
	for {
		page, err := m.store.List(ctx, objectstore.ListOptions{Prefix: prefix, Cursor: cursor})
		if err != nil {
			return err
		}
		for _, o := range page.Objects {
			if err := m.store.Delete(ctx, o.Key); err != nil {
				return err
			}
			m.metrics.deleteRequests.Inc()
		}
		if page.NextCursor == "" {
			return nil
		}
		cursor = page.NextCursor
	}
}

// runPlanner plans and executes every partition's next steps each Interval.
func (m *Manager) runPlanner() {
	defer m.wg.Done()
	tick := time.NewTicker(m.cfg.Interval)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case now := <-tick.C:
			for _, p := range m.partitions() {
				p.step(now)
			}
		case <-m.again:
			now := time.Now()
			for _, p := range m.partitions() {
				p.step(now)
			}
		}
	}
}

// Kick runs one planning pass now (tests and shutdown paths).
func (m *Manager) Kick() {
	for _, p := range m.partitions() {
		p.step(time.Now())
	}
}

// Partition is one tiered partition.
type Partition struct {
	m    *Manager
	id   ID
	root string
	dir  string // the local log's directory
	src  Source
	man  *manifest
	// logStart is the log start set by DeleteRecords (-1 when none);
	// written under mu, read without it.
	logStart atomic.Int64

	mu struct {
		sync.Mutex
		uploading    bool
		deleting     bool
		gcRunning    bool
		detached     bool
		blockedUntil time.Time
		failures     int
		lastGC       time.Time
		lastErr      error
		plan         Plan
		publishing   bool
		published    int64 // log start known to be in the store (-1 none)
		// syncing is set while runSync runs; syncedEpoch is the leader
		// epoch under which the manifest was last read from the store
		// (noSync: read it before acting as leader); lastSync is when.
		syncing     bool
		syncedEpoch int32
		lastSync    time.Time
		followed    bool // seen as a follower in this process
		restored    *RestoredSnapshot
		repairing   bool
		// factEpoch is the leader epoch the roll instants below were
		// observed under (noSync when not leading), leaderSince when this
		// broker started leading under it (unix ms); pending are instants
		// whose records are not all uploaded yet, spans the ones that are.
		factEpoch   int32
		leaderSince int64
		// syncedOnce: a sync has succeeded (a read replica serves the
		// cold range only after it); covered is the latest roll instant
		// (unix ms) up to which a read replica holds what its primary's
		// progress objects tell.
		syncedOnce bool
		covered    int64
		// syncErr is the last manifest sync's failure (nil once one
		// succeeds): a leader that cannot read the store acts on nothing.
		syncErr     error
		pending     []fact
		spans       []Span
		publishedTo int64 // latest instant of this epoch written in a progress object
		// lost are remote ranges found corrupt or missing with no intact
		// local copy, by base offset; reportedLost and localCorrupt are
		// what was reported (once each).
		lost         map[int64]lostRange
		reportedLost map[int64]bool
		localCorrupt map[int64]bool
	}
	// lastProgress is when the running upload last moved bytes (unix ns).
	lastProgress atomic.Int64
}

// ID names the partition.
func (p *Partition) ID() ID { return p.id }

// LogStartOffset is the first offset of the log across both tiers.
func (p *Partition) LogStartOffset() int64 {
	local := p.src.Log().StartOffset()
	start, end, _, ok := p.man.Bounds()
	return max(LogStartOffset(!ok, start, end, local), p.logStart.Load())
}

// RemoteEndOffset is the offset after the last remote segment; ok is false
// when there is none.
func (p *Partition) RemoteEndOffset() (int64, bool) {
	_, end, _, ok := p.man.Bounds()
	return end, ok
}

// Status is a partition's tiering state, for `strata tier status`.
type Status struct {
	Topic            string
	Partition        int32
	RemoteEnabled    bool
	LogStartOffset   int64
	RemoteEndOffset  int64 // -1 when nothing is remote
	LocalStartOffset int64
	HighWatermark    int64
	LocalBytes       int64
	RemoteBytes      int64
	RemoteSegments   int64
	PendingSegments  int
	PendingBytes     int64
	LastError        string
	// UploadStalledSeconds is how long the running upload has moved no
	// bytes, once that passes Config.UploadStallTimeout (0 otherwise).
	UploadStalledSeconds float64
	// CorruptSegments counts remote segments found corrupt or missing with
	// no intact local copy (never served); LocalCorruptSegments local
	// segments that failed verification before upload.
	CorruptSegments      int
	LocalCorruptSegments int
}

// UploadFailing reports whether uploads are failing or stalled.
func (s Status) UploadFailing() bool { return s.LastError != "" || s.UploadStalledSeconds > 0 }

// Status reports the partition's tiering state.
func (p *Partition) Status() Status {
	l := p.src.Log()
	st := Status{Topic: p.id.Topic, Partition: p.id.Partition, RemoteEnabled: p.src.Policy().RemoteEnabled,
		LogStartOffset: p.LogStartOffset(), RemoteEndOffset: -1, LocalStartOffset: l.StartOffset(),
		HighWatermark: p.src.HighWatermark(), RemoteSegments: p.man.Len()}
	for _, s := range l.Segments() {
		st.LocalBytes += s.Size
	}
	if _, end, b, ok := p.man.Bounds(); ok {
		st.RemoteEndOffset, st.RemoteBytes = end, b
	}
	st.CorruptSegments, st.LocalCorruptSegments = p.corruptCounts()
	p.mu.Lock()
	st.PendingSegments, st.PendingBytes = p.mu.plan.PendingSegments, p.mu.plan.PendingBytes
	if p.mu.lastErr != nil {
		st.LastError = p.mu.lastErr.Error()
	} else if p.mu.syncErr != nil {
		st.LastError = "reading the store's manifest: " + p.mu.syncErr.Error()
	}
	uploading := p.mu.uploading
	p.mu.Unlock()
	if uploading {
		st.UploadStalledSeconds = p.stalledFor(time.Now()).Seconds()
	}
	return st
}

// state gathers the planner's input.
func (p *Partition) state(now time.Time) (State, error) {
	l := p.src.Log()
	s := State{Now: now, Policy: p.src.Policy(), Local: l.Segments(), HighWatermark: p.src.HighWatermark(), LogStart: p.logStart.Load()}
	start, end, b, ok := p.man.Bounds()
	s.RemoteEmpty, s.RemoteStart, s.RemoteEnd, s.RemoteBytes = !ok, start, end, b
	if ok {
		head, err := p.man.Head(64)
		if err != nil {
			return s, err
		}
		s.RemoteHead = head
	}
	p.mu.Lock()
	s.UploadInFlight, s.UploadBlockedUntil, s.RemoteDeleteInFlight = p.mu.uploading, p.mu.blockedUntil, p.mu.deleting
	p.mu.Unlock()
	return s, nil
}

// step plans and starts the partition's next actions.
func (p *Partition) step(now time.Time) {
	leader, epoch := p.src.IsLeader(), p.src.LeaderEpoch()
	if p.m.cfg.ReadOnly {
		leader = false // a read replica changes nothing in the store
	}
	remote := p.src.Policy().RemoteEnabled
	if leader && remote && p.m.cfg.UploadMaxInterval > 0 {
		p.observeInstant(now, epoch)
	} else {
		p.forgetInstants()
	}
	st, err := p.state(now)
	if err != nil {
		p.m.log.Error("reading tiering state", "partition", p.id, "err", err)
		return
	}
	if leader && remote {
		uploaded := p.LogStartOffset()
		if !st.RemoteEmpty {
			uploaded = st.RemoteEnd
		}
		p.certifyInstants(uploaded)
	}
	plan := PlanPartition(st)
	p.mu.Lock()
	p.mu.plan = plan
	p.mu.followed = p.mu.followed || !leader
	detached := p.mu.detached
	startSync := !detached && st.Policy.RemoteEnabled && p.syncDueLocked(now, leader, epoch)
	p.mu.syncing = p.mu.syncing || startSync
	synced := p.mu.syncedEpoch == epoch && !p.mu.syncing
	p.mu.Unlock()
	if detached || !st.Policy.RemoteEnabled {
		return
	}
	if startSync {
		p.m.wg.Add(1)
		go p.runSync(leader, epoch)
	}
	if !leader {
		// A follower only drops local segments the leader has uploaded
		// (as its last sync saw them) once they are past local retention.
		p.deleteLocal(plan.DeleteLocalBefore)
		return
	}
	if !synced {
		return // a new leader acts once it has read the store's manifest
	}
	p.deleteLocal(plan.DeleteLocalBefore)
	if plan.Upload != nil {
		seg, from := *plan.Upload, plan.UploadFrom
		p.mu.Lock()
		p.mu.uploading = true
		p.mu.Unlock()
		p.m.wg.Add(1)
		go p.runUpload(seg, from)
	}
	if plan.DeleteRemote > 0 {
		p.mu.Lock()
		p.mu.deleting = true
		p.mu.Unlock()
		p.m.wg.Add(1)
		go p.runRemoteRetention(plan.DeleteRemote)
	}
	p.mu.Lock()
	publish := !p.mu.publishing && p.logStart.Load() > p.mu.published
	p.mu.publishing = p.mu.publishing || publish
	p.mu.Unlock()
	if publish {
		p.m.wg.Add(1)
		go p.runPublishLogStart(p.logStart.Load())
	}
	p.mu.Lock()
	gcDue := !p.mu.gcRunning && now.Sub(p.mu.lastGC) >= p.m.cfg.GCInterval
	if gcDue {
		p.mu.gcRunning, p.mu.lastGC = true, now
	}
	p.mu.Unlock()
	if gcDue {
		p.m.wg.Add(1)
		go p.runGC()
	}
}

// deleteLocal drops the local segments below before (0: none).
func (p *Partition) deleteLocal(before int64) {
	if before <= 0 {
		return
	}
	if err := p.src.Log().DeleteRecordsBefore(before); err != nil {
		p.m.log.Error("deleting uploaded local segments", "partition", p.id, "before", before, "err", err)
	} else {
		p.m.log.Debug("deleted uploaded local segments", "partition", p.id, "before", before)
	}
}

// runUpload uploads one segment (from offset from on) on the upload pool
// and commits it.
func (p *Partition) runUpload(seg storage.SegmentInfo, from int64) {
	defer p.m.wg.Done()
	err := func() error {
		select {
		case p.m.uploadSem <- struct{}{}:
		case <-p.m.ctx.Done():
			return p.m.ctx.Err()
		}
		defer func() { <-p.m.uploadSem }()
		defer p.lastProgress.Store(0)
		return p.upload(p.m.ctx, seg, from)
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.uploading = false
	if err == nil {
		p.mu.failures, p.mu.lastErr, p.mu.blockedUntil = 0, nil, time.Time{}
		select {
		case p.m.again <- struct{}{}:
		default:
		}
		return
	}
	if errors.Is(err, context.Canceled) && p.m.ctx.Err() != nil {
		return
	}
	p.m.metrics.copyErrors.Inc()
	p.mu.failures++
	p.mu.lastErr = err
	backoff := p.m.cfg.RetryBackoff << min(p.mu.failures-1, 16)
	if errors.Is(err, ErrDiverged) && p.mu.failures == 1 {
		// Most likely another leader committed meanwhile: read the
		// store's manifest again and retry from its end at once.
		p.mu.syncedEpoch = noSync
	} else if errors.Is(err, ErrDiverged) || errors.Is(err, ErrCorruptLocal) {
		backoff = p.m.cfg.MaxRetryBackoff
	}
	if errors.Is(err, ErrCorruptLocal) {
		// Never uploaded: the local log stops serving the damaged range
		// and heals it from the store when it can.
		p.mu.Unlock()
		p.reportLocalCorrupt(seg, err)
		p.mu.Lock()
	}
	p.mu.blockedUntil = time.Now().Add(min(backoff, p.m.cfg.MaxRetryBackoff))
	p.m.log.Warn("segment upload failed; local data kept, will retry", "partition", p.id, "base", seg.BaseOffset, "failures", p.mu.failures, "err", err)
}

func sidecar(logPath, suffix string) string { return strings.TrimSuffix(logPath, ".log") + suffix }

// upload copies one sealed segment to the store and commits it in the
// manifest: data object first (unique key), then the manifest entry
// written only if absent, then the local manifest. The segment's batches
// are verified in the same pass that streams them: a segment that fails
// is not uploaded (ErrCorruptLocal).
func (p *Partition) upload(ctx context.Context, seg storage.SegmentInfo, from int64) error {
	entry, err := p.putSegment(ctx, seg, from)
	if err != nil {
		return err
	}
	key := segmentKey(p.root, entry.BaseOffset, entry.UploadID)
	b, err := encodeEntry(entry)
	if err != nil {
		return err
	}
	cctx, ccancel := context.WithTimeout(ctx, p.m.cfg.RequestTimeout)
	defer ccancel()
	p.progress()
	_, err = p.m.store.Put(cctx, manifestKey(p.root, entry.BaseOffset), bytes.NewReader(b), int64(len(b)), objectstore.PutOptions{IfAbsent: true, ContentType: "application/json"})
	if errors.Is(err, objectstore.ErrPreconditionFailed) {
		// Committed before: by this broker before a crash, or by another
		// leader. Adopt it if it is the same range; ours is an orphan.
		existing, gerr := p.fetchLatestEntry(cctx, entry.BaseOffset)
		if gerr != nil {
			return fmt.Errorf("reading the committed entry at %d: %w", entry.BaseOffset, gerr)
		}
		_ = p.m.store.Delete(cctx, key)
		if !existing.sameRange(entry) {
			return fmt.Errorf("%w: offset %d: remote [%d, %d) %d bytes by epoch %d, local [%d, %d) %d bytes",
				ErrDiverged, entry.BaseOffset, existing.BaseOffset, existing.NextOffset, existing.Size, existing.LeaderEpoch,
				entry.BaseOffset, entry.NextOffset, entry.Size)
		}
		entry = existing
	} else if err != nil {
		return fmt.Errorf("committing segment %d: %w", entry.BaseOffset, err)
	}
	if err := p.man.Append(entry); err != nil {
		return err
	}
	p.m.entries.put(segmentKey(p.root, entry.BaseOffset, entry.UploadID), entry)
	p.m.metrics.copyRequests.Inc()
	p.m.log.Debug("segment uploaded", "partition", p.id, "base", entry.BaseOffset, "next", entry.NextOffset, "bytes", entry.ObjectSize())
	return nil
}

// putSegment writes a sealed local segment's data object under a new
// upload id, verifying its batches and computing its checksums as it
// streams, and returns the manifest entry that would commit it. With from
// past the segment's base, only its batches from offset from on are
// uploaded, with its indexes rebased (see segmentTail).
func (p *Partition) putSegment(ctx context.Context, seg storage.SegmentInfo, from int64) (Segment, error) {
	files := make([]*os.File, 3)
	sizes := make([]int64, 3)
	for i, path := range []string{seg.Path, sidecar(seg.Path, ".index"), sidecar(seg.Path, ".timeindex")} {
		f, err := os.Open(path)
		if err != nil {
			return Segment{}, fmt.Errorf("opening %s: %w", path, err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return Segment{}, err
		}
		files[i], sizes[i] = f, st.Size()
	}
	if sizes[0] < seg.Size {
		return Segment{}, fmt.Errorf("%w: segment %s is %d bytes, expected %d", ErrCorruptLocal, seg.Path, sizes[0], seg.Size)
	}
	sizes[0] = seg.Size
	// Index files may carry preallocated or torn trailing bytes: whole entries only.
	sizes[1] -= sizes[1] % 8
	sizes[2] -= sizes[2] % 12
	sections := [3]io.Reader{io.NewSectionReader(files[0], 0, sizes[0]), io.NewSectionReader(files[1], 0, sizes[1]), io.NewSectionReader(files[2], 0, sizes[2])}
	if from > seg.BaseOffset {
		tail, err := segmentTail(files, sizes, seg, from)
		if err != nil {
			return Segment{}, err
		}
		sections[0] = io.NewSectionReader(files[0], tail.pos, seg.Size-tail.pos)
		sections[1], sections[2] = bytes.NewReader(tail.index), bytes.NewReader(tail.timeIndex)
		sizes = []int64{seg.Size - tail.pos, int64(len(tail.index)), int64(len(tail.timeIndex))}
		seg.BaseOffset, seg.Size = from, seg.Size-tail.pos
	}
	snapAt, snap, _, err := snapshotFor(p.src.Log(), seg.NextOffset)
	if err != nil {
		return Segment{}, fmt.Errorf("reading the producer snapshot for segment %d: %w", seg.BaseOffset, err)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Segment{}, err
	}
	key := segmentKey(p.root, seg.BaseOffset, id)
	total := sizes[0] + sizes[1] + sizes[2] + int64(len(snap))
	verify := newBatchVerifier(sections[0], seg.BaseOffset, seg.NextOffset, sizes[0], p.src.Log().Gaps())
	sum := newSummer(io.MultiReader(verify, sections[1], sections[2], bytes.NewReader(snap)),
		[4]int64{sizes[0], sizes[1], sizes[2], int64(len(snap))}, p.m.cfg.ChunkBytes)
	pctx, cancel := context.WithTimeout(ctx, p.m.cfg.RequestTimeout+time.Duration(total/(1<<20))*time.Second)
	defer cancel()
	p.progress()
	body := &progressReader{r: &limitedReader{ctx: pctx, r: sum, l: p.m.upLimit}, p: p}
	if _, err := p.m.store.Put(pctx, key, body, total, objectstore.PutOptions{}); err != nil {
		if verify.err != nil {
			// The store saw an error mid-body and committed nothing.
			return Segment{}, fmt.Errorf("segment %d (%s): %w", seg.BaseOffset, seg.Path, verify.err)
		}
		return Segment{}, fmt.Errorf("uploading segment %d: %w", seg.BaseOffset, err)
	}
	if verify.err != nil || sum.pos != total {
		// A store that stopped reading early yet reported success.
		_ = p.m.store.Delete(ctx, key)
		return Segment{}, fmt.Errorf("uploading segment %d: store read %d of %d bytes: %w", seg.BaseOffset, sum.pos, total, errors.Join(verify.err, objectstore.ErrInvalid))
	}
	p.m.metrics.copyBytes.Add(float64(total))
	entry := Segment{
		BaseOffset: seg.BaseOffset, NextOffset: seg.NextOffset, MaxTimestamp: seg.MaxTimestamp,
		Size: sizes[0], IndexSize: sizes[1], TimeIndexSize: sizes[2],
		LeaderEpoch: p.src.LeaderEpoch(), Epochs: epochRanges(p.src.Log().LeaderEpochs(), seg.BaseOffset, seg.NextOffset),
		UploadID: id, UploadedBy: p.m.cfg.NodeID, UploadedAt: time.Now().UnixMilli(),
		Checksums: sum.result(), SealTick: p.sealTickFor(seg.SealTick),
	}
	if len(snap) > 0 {
		entry.SnapshotOffset, entry.SnapshotSize = snapAt, int64(len(snap))
	}
	return entry, nil
}

func epochRanges(epochs []storage.EpochStart, base, next int64) []EpochRange {
	var out []EpochRange
	for i, e := range epochs {
		end := next
		if i+1 < len(epochs) {
			end = epochs[i+1].StartOffset
		}
		if end <= base || e.StartOffset >= next {
			continue
		}
		out = append(out, EpochRange{Epoch: e.Epoch, StartOffset: max(e.StartOffset, base)})
	}
	return out
}

func (p *Partition) fetchEntry(ctx context.Context, base int64) (Segment, error) {
	return p.fetchEntryKey(ctx, manifestKey(p.root, base))
}

// fetchLatestEntry returns the newest generation of the entry at base:
// the original, or its latest repair.
func (p *Partition) fetchLatestEntry(ctx context.Context, base int64) (Segment, error) {
	page, err := p.m.store.List(ctx, objectstore.ListOptions{Prefix: manifestKey(p.root, base)})
	if err != nil {
		return Segment{}, err
	}
	key, gen := "", -1
	for _, o := range page.Objects {
		if b, g, ok := parseEntryKey(p.root, o.Key); ok && b == base && g > gen {
			key, gen = o.Key, g
		}
	}
	if key == "" {
		return Segment{}, fmt.Errorf("%w: no manifest entry at %d", objectstore.ErrNotFound, base)
	}
	return p.fetchEntryKey(ctx, key)
}

func (p *Partition) fetchEntryKey(ctx context.Context, key string) (Segment, error) {
	rc, err := p.m.store.GetRange(ctx, key, 0, -1)
	if err != nil {
		return Segment{}, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return Segment{}, err
	}
	return decodeEntry(b)
}

// rebuild fills an empty local manifest from the store's manifest entries.
func (p *Partition) rebuild(ctx context.Context) (int, error) {
	chain, err := p.storeChain(ctx, nil)
	if err != nil {
		return 0, err
	}
	for i, e := range chain {
		if err := p.man.Append(e); err != nil {
			return i, err
		}
	}
	return len(chain), nil
}

// runRemoteRetention deletes the k oldest remote segments: the local
// manifest forgets them first (durably), then their entries and objects go;
// a crash in between leaves orphans for the collector, never a manifest
// pointing at deleted data.
func (p *Partition) runRemoteRetention(k int) {
	defer p.m.wg.Done()
	defer func() {
		p.mu.Lock()
		p.mu.deleting = false
		p.mu.Unlock()
	}()
	head, err := p.man.Head(k)
	if err == nil {
		err = p.man.DropHead(int64(len(head)))
	}
	if err != nil {
		p.m.log.Error("remote retention", "partition", p.id, "err", err)
		return
	}
	for _, s := range head {
		if err := p.deleteSegment(p.m.ctx, s.BaseOffset, segmentKey(p.root, s.BaseOffset, s.UploadID)); err != nil {
			p.m.log.Warn("deleting expired remote segment; the collector will retry", "partition", p.id, "base", s.BaseOffset, "err", err)
			return
		}
	}
	if len(head) > 0 {
		p.m.log.Info("remote retention deleted segments", "partition", p.id, "segments", len(head), "log_start", p.LogStartOffset())
	}
}

func (p *Partition) deleteSegment(ctx context.Context, base int64, key string) error {
	ctx, cancel := context.WithTimeout(ctx, p.m.cfg.RequestTimeout)
	defer cancel()
	p.m.cache.dropObject(key)
	err := errors.Join(p.m.store.Delete(ctx, manifestKey(p.root, base)), p.m.store.Delete(ctx, key))
	if err != nil {
		p.m.metrics.deleteErrors.Inc()
		return err
	}
	p.m.metrics.deleteRequests.Inc()
	return nil
}

// runGC deletes the partition's orphans: data objects no manifest entry
// references (failed or zombie uploads, once older than OrphanGrace) and
// entries and objects below the remote log start (retention interrupted by
// a crash). Objects at or past the local manifest's end are left alone:
// they may be commits this broker has not adopted yet.
func (p *Partition) runGC() {
	defer p.m.wg.Done()
	defer func() {
		p.mu.Lock()
		p.mu.gcRunning = false
		p.mu.Unlock()
	}()
	if n, err := p.collect(p.m.ctx, time.Now()); err != nil {
		p.m.log.Warn("collecting remote orphans", "partition", p.id, "err", err)
	} else if n > 0 {
		p.m.log.Info("collected remote orphans", "partition", p.id, "objects", n)
	}
}

// collect runs one garbage-collection pass and returns the objects deleted.
func (p *Partition) collect(ctx context.Context, now time.Time) (int, error) {
	start, end, _, ok := p.man.Bounds()
	if !ok {
		return 0, nil
	}
	deleted := 0
	cursor := ""
	for {
		page, err := p.m.store.List(ctx, objectstore.ListOptions{Prefix: p.root, Cursor: cursor})
		if err != nil {
			return deleted, err
		}
		for _, o := range page.Objects {
			del := false
			if base, _, ok := parseEntryKey(p.root, o.Key); ok {
				del = base < start
			} else if base, id, ok := parseSegmentKey(p.root, o.Key); ok {
				switch {
				case base < start:
					del = true
				case base >= end:
				default:
					s, found, err := p.man.Find(base)
					if err != nil {
						return deleted, err
					}
					ref := found && s.BaseOffset == base && s.UploadID == id
					del = !ref && now.Sub(o.ModTime) >= p.m.cfg.OrphanGrace
					if del && found && s.BaseOffset == base {
						// Replaced (a repair, a cleaned copy): the grace
						// runs from the replacement, so cold reads that
						// opened the old object before it finish.
						cur, err := p.remoteEntry(ctx, s)
						del = err == nil && now.Sub(time.UnixMilli(cur.UploadedAt)) >= p.m.cfg.OrphanGrace
					}
				}
			}
			if del {
				if err := p.m.store.Delete(ctx, o.Key); err != nil {
					return deleted, err
				}
				deleted++
			}
		}
		if page.NextCursor == "" {
			return deleted, nil
		}
		cursor = page.NextCursor
	}
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }
