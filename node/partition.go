package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/kconfig"
	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
	"github.com/stratalog/strata/tiering"
)

// partConfig is a partition's resolved configuration, swapped atomically
// when topic or broker configs change.
type partConfig struct {
	topic           kconfig.Topic
	maxMessageBytes int
	logAppendTime   bool
	flushMessages   int64 // 1: acknowledge only fsynced data
	flushMs         int64
	compacted       bool // cleanup.policy has compact: records need keys
}

func (c *partConfig) syncEveryAppend() bool { return c.flushMessages <= 1 }

// role is what this node does for a hosted partition.
type role uint8

const (
	roleFollower role = iota // hosts a replica; clients are sent to the leader
	roleLeader               // serves produce and fetch, uploads to the cold tier
)

func (r role) String() string {
	if r == roleLeader {
		return "leader"
	}
	return "follower"
}

// leadership is a hosted partition's place in its replica set as the
// applied metadata states it. It is immutable: applyMetadata swaps the
// whole value.
type leadership struct {
	role     role
	leader   int32 // broker ID, or -1 when the partition has no leader
	epoch    int32
	replicas []int32
	isr      []int32
	adding   bool // this node is a replica a reassignment is adding
}

func (l *leadership) isLeader() bool { return l.role == roleLeader }

// leadershipOf derives this node's leadership of a partition from metadata.
func leadershipOf(self int32, mp meta.Partition) *leadership {
	l := &leadership{role: roleFollower, leader: mp.Leader, epoch: mp.LeaderEpoch,
		replicas: append([]int32(nil), mp.Replicas...), isr: append([]int32(nil), mp.ISR...)}
	if mp.Leader == self {
		l.role = roleLeader
	}
	l.adding = containsID(mp.Adding, self)
	return l
}

// partition is one partition hosted on this node.
//
// Locking: appendMu serialises appends (offsets are assigned under it). mu
// guards the waiters and the flush bookkeeping; it is never held while doing
// I/O and is taken after appendMu when both are needed.
type partition struct {
	n       *Node
	topic   string
	topicID [16]byte
	index   int32
	log     *storage.Log

	// Per-topic byte counters, looked up once when the partition opens.
	bytesIn, bytesOut prometheus.Counter

	appendMu sync.Mutex
	prod     partProducers // producer and transaction state (txns.go)
	hw       atomic.Int64
	visible  atomic.Int64 // bytes below the high watermark since open, for long-poll accounting
	cfg      atomic.Pointer[partConfig]
	lead     atomic.Pointer[leadership]        // never nil once opened
	tier     atomic.Pointer[tiering.Partition] // nil until attached (tiering.go)
	// recovering is set while runRecover brings a failed log back; appends
	// are refused with a storage error meanwhile.
	recovering atomic.Bool
	// syncFailLog, coldWarn and healReports rate-limit repeating fsync,
	// cold-read and heal warnings.
	syncFailLog, coldWarn, healReports logLimiter

	// repl is the replication state (replication_leader.go,
	// replication_follower.go).
	repl replState

	mu struct {
		sync.Mutex
		pending     []pendingBytes // appended batches not yet visible, by end offset
		waiters     map[*fetchWaiter]struct{}
		replWaiters map[*fetchWaiter]struct{} // follower fetches, woken by appends
		acks        []ackWaiter               // acks=all produces waiting for the HW, by end offset
		unflushed   int64
		lastFlush   time.Time
		appendBytes int64 // cumulative bytes appended since open
	}
}

type pendingBytes struct {
	end   int64 // offset after the batch
	total int64 // cumulative appended bytes including the batch
}

func (p *partition) highWatermark() int64 { return p.hw.Load() }

// advanceHW moves the high watermark forward to hw (never backwards, never
// past the log end) and wakes long-polling fetches.
func (p *partition) advanceHW(hw int64) {
	if leo := p.log.EndOffset(); hw > leo {
		hw = leo
	}
	for {
		cur := p.hw.Load()
		if hw <= cur {
			return
		}
		if p.hw.CompareAndSwap(cur, hw) {
			break
		}
	}
	p.mu.Lock()
	i := 0
	for i < len(p.mu.pending) && p.mu.pending[i].end <= hw {
		p.visible.Store(p.mu.pending[i].total)
		i++
	}
	p.mu.pending = p.mu.pending[i:]
	waiters := make([]*fetchWaiter, 0, len(p.mu.waiters))
	for w := range p.mu.waiters {
		waiters = append(waiters, w)
	}
	i = 0
	for i < len(p.mu.acks) && p.mu.acks[i].end <= hw {
		i++
	}
	acked := p.mu.acks[:i:i]
	p.mu.acks = p.mu.acks[i:]
	p.mu.Unlock()
	for _, w := range waiters {
		w.wake()
	}
	for _, a := range acked {
		a.done(nil)
	}
}

func (p *partition) addWaiter(w *fetchWaiter) {
	p.mu.Lock()
	p.mu.waiters[w] = struct{}{}
	p.mu.Unlock()
}

func (p *partition) removeWaiter(w *fetchWaiter) {
	p.mu.Lock()
	delete(p.mu.waiters, w)
	delete(p.mu.replWaiters, w)
	p.mu.Unlock()
}

// append validates and appends a produce request's records. It does not wait
// for durability; done is called once the data is acknowledged-durable under
// the partition's flush policy (immediately when flush.messages > 1).
//
// With acks=-1, done waits for the high watermark to pass the batches: every
// ISR member has them (durably, by default), and the append is refused
// with NOT_ENOUGH_REPLICAS when the ISR is below min.insync.replicas.
func (p *partition) append(records []byte, acks int16, done func(error)) (storage.AppendInfo, error) {
	cfg := p.cfg.Load()
	validate := record.Validate
	if cfg.compacted {
		validate = record.ValidateKeyed
	}
	hdrs, err := validate(records, cfg.maxMessageBytes)
	if err != nil {
		return storage.AppendInfo{}, err
	}
	return p.appendChecked(records, hdrs, nil, acks, done)
}

// appendChecked appends validated batches: a produce request's (marker
// nil), or a transaction marker the broker built. The producer-state check
// and the append are atomic under appendMu; a duplicate batch is
// acknowledged with its original offsets instead of being appended.
func (p *partition) appendChecked(records []byte, hdrs []record.Header, marker *txnMarker, acks int16, done func(error)) (storage.AppendInfo, error) {
	cfg := p.cfg.Load()
	if acks == -1 {
		if err := p.checkMinISR(cfg); err != nil {
			return storage.AppendInfo{}, err
		}
	}
	appendTime := int64(-1)
	if cfg.logAppendTime {
		appendTime = time.Now().UnixMilli()
	}
	var msgs int64
	for _, h := range hdrs {
		msgs += int64(h.NumRecords)
	}
	p.appendMu.Lock()
	if p.recovering.Load() {
		p.appendMu.Unlock()
		return storage.AppendInfo{}, fmt.Errorf("%w: partition %s-%d is recovering its log", storage.ErrStorage, p.topic, p.index)
	}
	if dup, err := p.checkProducers(hdrs, marker); err != nil || dup != nil {
		p.appendMu.Unlock()
		if err != nil {
			return storage.AppendInfo{}, err
		}
		return p.ackDuplicate(dup, acks, done), nil
	}
	info, err := p.log.Append(records, hdrs, p.leadership().epoch, appendTime)
	if err != nil {
		p.appendMu.Unlock()
		if errors.Is(err, storage.ErrLogFailed) {
			p.startRecover(err)
		}
		return storage.AppendInfo{}, err
	}
	p.updateProducers(hdrs, marker)
	p.mu.Lock()
	replWaiters := p.replWaitersLocked()
	p.mu.appendBytes += int64(len(records))
	p.mu.pending = append(p.mu.pending, pendingBytes{end: info.LastOffset + 1, total: p.mu.appendBytes})
	p.mu.unflushed += msgs
	flushNow := !cfg.syncEveryAppend() && p.mu.unflushed >= cfg.flushMessages
	if flushNow {
		p.mu.unflushed = 0
		p.mu.lastFlush = time.Now()
	}
	p.mu.Unlock()
	p.appendMu.Unlock()
	p.bytesIn.Add(float64(len(records)))
	for _, w := range replWaiters {
		w.wake()
	}

	end := info.LastOffset + 1
	if acks == -1 && done != nil {
		local := done
		done = func(err error) {
			if err != nil {
				local(err)
				return
			}
			p.waitHW(end, local)
		}
	}
	if cfg.syncEveryAppend() {
		p.n.syncer.Sync(p.log, end, func(err error) {
			if err == nil {
				p.updateHW()
			} else {
				p.syncFailed(err)
			}
			if done != nil {
				done(err)
			}
		})
		return info, nil
	}
	p.updateHW()
	if flushNow {
		p.n.syncer.Sync(p.log, end, func(err error) {
			if err != nil {
				p.syncFailed(err)
			}
		})
	}
	if done != nil {
		done(nil)
	}
	return info, nil
}

// housekeep runs the periodic duties: age-based roll, flush.ms and retention.
func (p *partition) housekeep(now time.Time, retention bool) {
	if err := p.log.Failed(); err != nil {
		p.startRecover(err)
		return
	}
	cfg := p.cfg.Load()
	p.appendMu.Lock()
	if err := p.log.MaybeRoll(now); err != nil {
		p.n.log.Error("rolling segment", "topic", p.topic, "partition", p.index, "err", err)
	}
	p.housekeepProducersLocked(now, retention)
	p.appendMu.Unlock()
	p.housekeepReplication(now)
	if !cfg.syncEveryAppend() && cfg.flushMs < 1<<62 {
		p.mu.Lock()
		due := p.mu.unflushed > 0 && now.Sub(p.mu.lastFlush) >= time.Duration(cfg.flushMs)*time.Millisecond
		if due {
			p.mu.unflushed = 0
			p.mu.lastFlush = now
		}
		p.mu.Unlock()
		if due {
			p.n.syncer.Sync(p.log, p.log.EndOffset(), func(err error) {
				if err != nil {
					p.syncFailed(err)
				}
			})
		}
	}
	if retention && p.tiered() == nil { // tiered logs: the tiering manager deletes uploaded segments
		if n, err := p.log.ApplyRetention(now); err != nil {
			p.n.log.Error("applying retention", "topic", p.topic, "partition", p.index, "err", err)
		} else if n > 0 {
			p.n.log.Info("retention deleted segments", "topic", p.topic, "partition", p.index, "segments", n, "log_start", p.log.StartOffset())
		}
	}
}

// storageConfig maps a topic's Kafka configs onto the storage engine's.
func (n *Node) storageConfig(t kconfig.Topic) storage.Config {
	c := storage.DefaultConfig()
	c.Fdatasync = n.cfg.Fdatasync
	c.SegmentBytes = t.Int64("segment.bytes")
	c.SegmentMs = time.Duration(t.Int64("segment.ms")) * time.Millisecond
	if r := t.Int64("retention.ms"); r < 0 {
		c.RetentionMs = -1
	} else {
		c.RetentionMs = time.Duration(r) * time.Millisecond
	}
	c.RetentionBytes = t.Int64("retention.bytes")
	compact, del := t.Policies()
	c.Compacted = compact
	if !del {
		c.RetentionMs, c.RetentionBytes = -1, -1
	}
	c.IndexIntervalBytes = int(t.Int64("index.interval.bytes"))
	if t.Get("remote.storage.enable") == "true" && n.tier != nil && !n.readReplica() {
		c.RollInterval = msDuration(n.brokerCfg().Int64("remote.log.segment.upload.max.interval.ms"))
	}
	return c
}

func (p *partition) leadership() *leadership { return p.lead.Load() }

// setLeadership applies a new leadership value: become-leader or
// become-follower when the role changes. Long-polling fetches are woken on
// a change so they answer with the new state instead of waiting it out.
func (p *partition) setLeadership(l *leadership) {
	old := p.lead.Swap(l)
	if old == nil {
		return
	}
	if old.role != l.role {
		p.n.log.Info("partition role changed", "topic", p.topic, "partition", p.index,
			"role", l.role.String(), "leader", l.leader, "leader_epoch", l.epoch)
	}
	if old.role != l.role || old.epoch != l.epoch {
		p.closeWaiters()
	}
	if old.role != l.role || old.epoch != l.epoch || old.leader != l.leader ||
		!slices.Equal(old.isr, l.isr) || !slices.Equal(old.replicas, l.replicas) {
		p.applyRole(old, l)
	}
}

func resolvePartConfig(b kconfig.Broker, t meta.Topic) *partConfig {
	tc := b.Topic(t.Configs)
	compacted, _ := tc.Policies()
	return &partConfig{
		topic:           tc,
		maxMessageBytes: int(tc.Int64("max.message.bytes")),
		logAppendTime:   tc.LogAppendTime(),
		flushMessages:   tc.Int64("flush.messages"),
		flushMs:         tc.Int64("flush.ms"),
		compacted:       compacted,
	}
}

type tp struct {
	topic string
	part  int32
}

// partitionSet is the set of partitions hosted on this node, kept in step
// with metadata by applyMetadata.
type partitionSet struct {
	n   *Node
	dir string

	applyMu  sync.Mutex     // one applyMetadata at a time
	recovers sync.WaitGroup // runRecover goroutines (partition_recover.go)
	mu       sync.RWMutex
	parts    map[tp]*partition
	ids      map[[16]byte]string // topic ID -> name of hosted topics, for Fetch v13+
}

func newPartitionSet(n *Node) *partitionSet {
	return &partitionSet{n: n, dir: filepath.Join(n.cfg.DataDir, "kafka"), parts: map[tp]*partition{}, ids: map[[16]byte]string{}}
}

// topicName returns the name of a hosted topic by its ID.
func (s *partitionSet) topicName(id [16]byte) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	name, ok := s.ids[id]
	return name, ok
}

func (s *partitionSet) get(topic string, part int32) *partition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.parts[tp{topic, part}]
}

func (s *partitionSet) all() []*partition {
	s.mu.RLock()
	out := make([]*partition, 0, len(s.parts))
	for _, p := range s.parts {
		out = append(out, p)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].index < out[j].index
	})
	return out
}

func partDirName(topic string, part int32) string { return topic + "-" + strconv.Itoa(int(part)) }

const topicIDFile = "topic.id"

// applyMetadata brings the hosted partitions in step with the metadata:
// it opens logs for partitions this node is a replica of, updates their
// configs and leadership (become-leader, become-follower), and closes and
// deletes logs of partitions it no longer hosts (stop). It returns the
// metadata version it applied: every change up to it is reflected.
func (s *partitionSet) applyMetadata() (uint64, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	// Read the version first: the topics read next are at least that new.
	version := s.n.meta.Version()
	self := s.n.cfg.NodeID
	b := s.n.brokerCfg()
	type hosted struct {
		t    meta.Topic
		lead *leadership
	}
	want := map[tp]hosted{}
	for _, t := range s.n.meta.Topics() {
		for _, p := range t.Partitions {
			if containsID(p.Replicas, self) {
				want[tp{t.Name, p.Index}] = hosted{t: t, lead: leadershipOf(self, p)}
			}
		}
	}
	// Drop partitions no longer hosted, or whose topic was recreated under
	// a new ID.
	s.mu.Lock()
	var drop []*partition
	for k, p := range s.parts {
		if h, ok := want[k]; !ok || h.t.ID != p.topicID {
			drop = append(drop, p)
			delete(s.parts, k)
			delete(s.ids, p.topicID)
		}
	}
	s.mu.Unlock()
	for _, p := range drop {
		// A replica moved off this node keeps its cold tier: the
		// partition lives on elsewhere. Only a deleted topic's goes.
		t, exists := s.n.meta.Topic(p.topic)
		deleted := !exists || t.ID != p.topicID
		s.n.log.Info("deleting partition", "topic", p.topic, "partition", p.index, "topic_deleted", deleted)
		s.n.fetchers.remove(p)
		p.failAcks(errNotLeaderNow)
		p.closeWaiters()
		s.n.detachTier(p, deleted)
		if err := p.log.Delete(); err != nil {
			s.n.log.Error("deleting partition log", "topic", p.topic, "partition", p.index, "err", err)
		}
	}
	var toOpen []openJob
	hostedSet := make(map[tp]bool, len(want))
	for k, h := range want {
		hostedSet[k] = true
		pc := resolvePartConfig(b, h.t)
		if p := s.get(k.topic, k.part); p != nil {
			p.cfg.Store(pc)
			p.log.SetConfig(s.n.storageConfig(pc.topic))
			p.setLeadership(h.lead)
			continue
		}
		toOpen = append(toOpen, openJob{k: k, t: h.t, pc: pc, lead: h.lead})
	}
	opened, err := s.openAll(toOpen)
	s.mu.Lock()
	for _, p := range opened {
		s.parts[tp{p.topic, p.index}] = p
		s.ids[p.topicID] = p.topic
	}
	s.mu.Unlock()
	for _, p := range opened {
		p.applyRole(nil, p.leadership())
	}
	s.removeStrays(hostedSet)
	return version, err
}

// open opens one partition: its log, its tiering attachment and its
// producer state (openAll does the same for many, in parallel phases).
func (s *partitionSet) open(k tp, t meta.Topic, pc *partConfig, lead *leadership) (*partition, error) {
	p, err := s.openLog(k, t, pc, lead)
	if err != nil {
		return nil, err
	}
	if err := s.finishOpen(p); err != nil {
		return nil, err
	}
	p.loadProducers()
	return p, nil
}

// openLog opens a partition's log and builds the partition around it.
func (s *partitionSet) openLog(k tp, t meta.Topic, pc *partConfig, lead *leadership) (*partition, error) {
	dir := filepath.Join(s.dir, partDirName(k.topic, k.part))
	if id, err := os.ReadFile(filepath.Join(dir, topicIDFile)); err == nil && string(id) != fmt.Sprintf("%x", t.ID) {
		// A log left by an earlier topic of the same name.
		s.n.log.Info("removing log of a deleted topic", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, topicIDFile), []byte(fmt.Sprintf("%x", t.ID)), 0o644); err != nil {
		return nil, err
	}
	l, err := storage.Open(dir, s.n.storageConfig(pc.topic), s.n.log.With("topic", k.topic, "partition", k.part))
	if err != nil {
		return nil, fmt.Errorf("opening log %s: %w", dir, err)
	}
	p := &partition{n: s.n, topic: k.topic, topicID: t.ID, index: k.part, log: l,
		bytesIn:  s.n.metrics.produced.WithLabelValues(k.topic),
		bytesOut: s.n.metrics.fetched.WithLabelValues(k.topic)}
	p.mu.waiters = map[*fetchWaiter]struct{}{}
	p.mu.replWaiters = map[*fetchWaiter]struct{}{}
	p.mu.lastFlush = time.Now()
	p.cfg.Store(pc)
	p.lead.Store(lead)
	return p, nil
}

// finishOpen attaches the cold tier and sets the high watermark; on
// failure it closes the log.
func (s *partitionSet) finishOpen(p *partition) error {
	if err := s.n.attachTier(p); err != nil {
		p.log.Close()
		return fmt.Errorf("tiering %s: %w", p.log.Dir(), err)
	}
	// A single replica's log is its own high watermark: what is on disk
	// after a restart was either fsynced or, with a relaxed flush policy,
	// is what the page cache kept. A replicated partition starts from its
	// checkpoint (records past it may not have reached the ISR) and
	// learns the rest from its leader or its followers.
	hw := p.log.EndOffset()
	if len(p.leadership().replicas) > 1 {
		hw = p.log.StartOffset()
		if ck, ok := p.log.HighWatermarkCheckpoint(); ok && ck > hw {
			hw = ck
		}
	}
	p.hw.Store(hw)
	p.repl.ckptHW = hw
	return nil
}

// removeStrays deletes partition directories that belong to no hosted
// partition (topics deleted while the node was down).
func (s *partitionSet) removeStrays(want map[tp]bool) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		i := strings.LastIndexByte(e.Name(), '-')
		if i <= 0 {
			continue
		}
		part, err := strconv.Atoi(e.Name()[i+1:])
		if err != nil {
			continue
		}
		if _, ok := want[tp{e.Name()[:i], int32(part)}]; ok {
			continue
		}
		s.n.log.Info("removing stray partition directory", "dir", e.Name())
		_ = os.RemoveAll(filepath.Join(s.dir, e.Name()))
	}
}

func (s *partitionSet) closeAll() error {
	s.recovers.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for k, p := range s.parts {
		s.n.fetchers.remove(p)
		p.failAcks(errNotLeaderNow)
		p.closeWaiters()
		p.snapshotProducers()
		if len(p.leadership().replicas) > 1 {
			p.checkpointHW(p.highWatermark())
		}
		if err := p.log.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing %s-%d: %w", k.topic, k.part, err))
		}
	}
	s.parts = map[tp]*partition{}
	s.ids = map[[16]byte]string{}
	return errors.Join(errs...)
}

func (p *partition) closeWaiters() {
	p.mu.Lock()
	ws := make([]*fetchWaiter, 0, len(p.mu.waiters))
	for w := range p.mu.waiters {
		ws = append(ws, w)
	}
	for w := range p.mu.replWaiters {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	for _, w := range ws {
		w.wake()
	}
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }
