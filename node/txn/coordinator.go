package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a transaction's state, numbered as in __transaction_state.
type State int8

// States, as Kafka numbers them.
const (
	Empty          State = 0
	Ongoing        State = 1
	PrepareCommit  State = 2
	PrepareAbort   State = 3
	CompleteCommit State = 4
	CompleteAbort  State = 5
	Dead           State = 6
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case Ongoing:
		return "Ongoing"
	case PrepareCommit:
		return "PrepareCommit"
	case PrepareAbort:
		return "PrepareAbort"
	case CompleteCommit:
		return "CompleteCommit"
	case CompleteAbort:
		return "CompleteAbort"
	case Dead:
		return "Dead"
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// Partition names one topic partition.
type Partition struct {
	Topic     string
	Partition int32
}

// Metadata is one transactional ID's state.
type Metadata struct {
	TransactionalID string
	ProducerID      int64
	Epoch           int16
	// LastProducerID and LastEpoch are what the producer held before the
	// latest InitProducerId, so a retried InitProducerId (KIP-360) is
	// recognised.
	LastProducerID int64
	LastEpoch      int16
	TimeoutMs      int32
	State          State
	Partitions     map[Partition]struct{}
	// Groups are the consumer groups whose offsets are in the open
	// transaction (AddOffsetsToTxn); their __consumer_offsets partitions
	// are among Partitions.
	Groups       map[string]struct{}
	StartMs      int64 // when the open transaction began, -1 when none
	LastUpdateMs int64
}

// Clone returns a deep copy.
func (m *Metadata) Clone() Metadata {
	c := *m
	c.Partitions = make(map[Partition]struct{}, len(m.Partitions))
	for p := range m.Partitions {
		c.Partitions[p] = struct{}{}
	}
	c.Groups = make(map[string]struct{}, len(m.Groups))
	for g := range m.Groups {
		c.Groups[g] = struct{}{}
	}
	return c
}

// SortedPartitions returns the transaction's partitions in order.
func (m *Metadata) SortedPartitions() []Partition {
	out := make([]Partition, 0, len(m.Partitions))
	for p := range m.Partitions {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// Env is what the coordinator needs from the node.
type Env interface {
	// NewProducerID returns a producer ID never handed out before.
	NewProducerID(ctx context.Context) (int64, error)
	// Persist durably records m (deleted: a tombstone for the ID).
	Persist(ctx context.Context, m Metadata, deleted bool) error
	// WriteMarkers writes a commit or abort marker for m's producer ID and
	// epoch to each of m's partitions, then completes the transaction in
	// each of m's groups. It returns once the markers are durable.
	WriteMarkers(ctx context.Context, m Metadata, commit bool) error
}

// Config tunes a coordinator.
type Config struct {
	MaxTimeoutMs int32 // transaction.max.timeout.ms
	ExpirationMs int64 // transactional.id.expiration.ms
	OffsetsTopic string
	Now          func() time.Time
	Logger       *slog.Logger
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{MaxTimeoutMs: 900000, ExpirationMs: 604800000, OffsetsTopic: "__consumer_offsets", Now: time.Now}
}

// Validate checks the config.
func (c Config) Validate() error {
	if c.MaxTimeoutMs <= 0 {
		return fmt.Errorf("txn: MaxTimeoutMs %d must be > 0", c.MaxTimeoutMs)
	}
	if c.ExpirationMs <= 0 {
		return fmt.Errorf("txn: ExpirationMs %d must be > 0", c.ExpirationMs)
	}
	if c.Now == nil {
		return errors.New("txn: Now is nil")
	}
	return nil
}

// Coordinator is the transaction coordinator of this node.
type Coordinator struct {
	cfg Config
	env Env
	log *slog.Logger

	mu   sync.Mutex // guards txns (the map, not the entries)
	txns map[string]*entry
}

type entry struct {
	mu   sync.Mutex // serialises operations on one transactional ID
	m    Metadata
	gone bool // expired and removed from the map
}

// New returns a coordinator with no transactions; Load fills it.
func New(cfg Config, env Env) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Coordinator{cfg: cfg, env: env, log: cfg.Logger, txns: map[string]*entry{}}, nil
}

func (c *Coordinator) nowMs() int64 { return c.cfg.Now().UnixMilli() }

// lock returns the locked entry for id, creating an empty one when create
// is set (nil otherwise when there is none).
func (c *Coordinator) lock(id string, create bool) *entry {
	for {
		c.mu.Lock()
		e := c.txns[id]
		if e == nil {
			if !create {
				c.mu.Unlock()
				return nil
			}
			e = &entry{m: Metadata{TransactionalID: id, ProducerID: -1, Epoch: -1, LastProducerID: -1, LastEpoch: -1, StartMs: -1}}
			e.m.State = Dead // not yet initialised
			c.txns[id] = e
		}
		c.mu.Unlock()
		e.mu.Lock()
		if !e.gone {
			return e
		}
		e.mu.Unlock()
	}
}

// persist writes next and, on success, makes it the entry's state.
func (c *Coordinator) persist(ctx context.Context, e *entry, next Metadata) error {
	next.LastUpdateMs = c.nowMs()
	if err := c.env.Persist(ctx, next, false); err != nil {
		return fmt.Errorf("txn: persisting %q: %w", next.TransactionalID, err)
	}
	e.m = next
	return nil
}

// InitProducerID serves a transactional InitProducerId: it returns the
// producer ID and epoch the producer must use from now on. reqPID and
// reqEpoch are -1 for a new producer, or what a recovering producer holds
// (KIP-360). An open transaction of the ID is aborted first (fencing the
// old producer).
func (c *Coordinator) InitProducerID(ctx context.Context, id string, timeoutMs int32, reqPID int64, reqEpoch int16) (int64, int16, error) {
	if timeoutMs <= 0 || timeoutMs > c.cfg.MaxTimeoutMs {
		return -1, -1, kerr.InvalidTransactionTimeout
	}
	e := c.lock(id, true)
	defer e.mu.Unlock()
	m := e.m.Clone()
	if m.State == Dead {
		pid, err := c.env.NewProducerID(ctx)
		if err != nil {
			return -1, -1, err
		}
		m.ProducerID, m.Epoch, m.State, m.TimeoutMs = pid, 0, Empty, timeoutMs
		if err := c.persist(ctx, e, m); err != nil {
			c.removeIfDead(id, e)
			return -1, -1, err
		}
		return pid, 0, nil
	}
	if reqPID >= 0 {
		switch {
		case reqPID == m.ProducerID && reqEpoch == m.Epoch:
		case reqPID == m.LastProducerID && reqEpoch == m.LastEpoch && m.State != Ongoing:
			// A retry of the InitProducerId that already bumped it.
			return m.ProducerID, m.Epoch, nil
		case reqPID == m.ProducerID && reqEpoch < m.Epoch, reqPID == m.LastProducerID:
			return -1, -1, kerr.ProducerFenced
		default:
			return -1, -1, kerr.InvalidProducerIDMapping
		}
	}
	switch m.State {
	case PrepareCommit, PrepareAbort:
		if err := c.complete(ctx, e); err != nil {
			return -1, -1, err
		}
	case Ongoing:
		// Fence the current producer: abort its transaction under a
		// bumped epoch, so its late writes and markers are refused.
		if err := c.abortFenced(ctx, e); err != nil {
			return -1, -1, err
		}
	}
	m = e.m.Clone()
	m.LastProducerID, m.LastEpoch = m.ProducerID, m.Epoch
	if err := c.bumpEpoch(ctx, &m); err != nil {
		return -1, -1, err
	}
	m.TimeoutMs = timeoutMs
	m.State = Empty
	m.Partitions, m.Groups = nil, nil
	m.StartMs = -1
	if err := c.persist(ctx, e, m); err != nil {
		return -1, -1, err
	}
	return m.ProducerID, m.Epoch, nil
}

// bumpEpoch moves m to the next epoch, or to a new producer ID when the
// epoch is exhausted.
func (c *Coordinator) bumpEpoch(ctx context.Context, m *Metadata) error {
	if m.Epoch >= math.MaxInt16-1 {
		pid, err := c.env.NewProducerID(ctx)
		if err != nil {
			return err
		}
		m.ProducerID, m.Epoch = pid, 0
		return nil
	}
	m.Epoch++
	return nil
}

func (c *Coordinator) removeIfDead(id string, e *entry) {
	if e.m.State != Dead {
		return
	}
	c.mu.Lock()
	if c.txns[id] == e {
		delete(c.txns, id)
	}
	c.mu.Unlock()
	e.gone = true
}

// check validates a producer's ID and epoch against the entry.
func check(e *entry, pid int64, epoch int16) error {
	if e == nil || e.m.State == Dead {
		return kerr.InvalidProducerIDMapping
	}
	if pid != e.m.ProducerID {
		return kerr.InvalidProducerIDMapping
	}
	if epoch != e.m.Epoch {
		return kerr.ProducerFenced
	}
	return nil
}

// AddPartitions adds partitions to the producer's transaction, starting
// one if none is open.
func (c *Coordinator) AddPartitions(ctx context.Context, id string, pid int64, epoch int16, parts []Partition) error {
	e := c.lock(id, false)
	if e == nil {
		return kerr.InvalidProducerIDMapping
	}
	defer e.mu.Unlock()
	if err := check(e, pid, epoch); err != nil {
		return err
	}
	return c.addLocked(ctx, e, parts, "")
}

// AddOffsets adds a consumer group's offsets partition (offsetsPartition
// of the offsets topic) to the producer's transaction.
func (c *Coordinator) AddOffsets(ctx context.Context, id string, pid int64, epoch int16, group string, offsetsPartition int32) error {
	e := c.lock(id, false)
	if e == nil {
		return kerr.InvalidProducerIDMapping
	}
	defer e.mu.Unlock()
	if err := check(e, pid, epoch); err != nil {
		return err
	}
	return c.addLocked(ctx, e, []Partition{{c.cfg.OffsetsTopic, offsetsPartition}}, group)
}

func (c *Coordinator) addLocked(ctx context.Context, e *entry, parts []Partition, group string) error {
	switch e.m.State {
	case PrepareCommit, PrepareAbort:
		return kerr.ConcurrentTransactions
	}
	if e.m.State == Ongoing {
		missing := false
		for _, p := range parts {
			if _, ok := e.m.Partitions[p]; !ok {
				missing = true
			}
		}
		if _, ok := e.m.Groups[group]; !missing && (group == "" || ok) {
			return nil
		}
	}
	m := e.m.Clone()
	if m.State != Ongoing {
		m.State = Ongoing
		m.StartMs = c.nowMs()
		m.Partitions = map[Partition]struct{}{}
		m.Groups = map[string]struct{}{}
	}
	for _, p := range parts {
		m.Partitions[p] = struct{}{}
	}
	if group != "" {
		m.Groups[group] = struct{}{}
	}
	return c.persist(ctx, e, m)
}

// InTxn reports whether the producer's open transaction includes the
// group (TxnOffsetCommit is refused otherwise).
func (c *Coordinator) InTxn(id string, pid int64, epoch int16, group string) error {
	e := c.lock(id, false)
	if e == nil {
		return kerr.InvalidProducerIDMapping
	}
	defer e.mu.Unlock()
	if err := check(e, pid, epoch); err != nil {
		return err
	}
	if _, ok := e.m.Groups[group]; !ok || e.m.State != Ongoing {
		return kerr.InvalidTxnState
	}
	return nil
}

// EndTxn commits or aborts the producer's transaction: it persists the
// Prepare state, writes the markers, and persists the Complete state.
// A retried EndTxn of a completed transaction succeeds again.
func (c *Coordinator) EndTxn(ctx context.Context, id string, pid int64, epoch int16, commit bool) error {
	e := c.lock(id, false)
	if e == nil {
		return kerr.InvalidProducerIDMapping
	}
	defer e.mu.Unlock()
	if err := check(e, pid, epoch); err != nil {
		return err
	}
	switch e.m.State {
	case Ongoing:
	case CompleteCommit:
		if commit {
			return nil
		}
		return kerr.InvalidTxnState
	case CompleteAbort:
		if !commit {
			return nil
		}
		return kerr.InvalidTxnState
	case PrepareCommit, PrepareAbort:
		if (e.m.State == PrepareCommit) != commit {
			return kerr.InvalidTxnState
		}
		return c.complete(ctx, e)
	default: // Empty
		return kerr.InvalidTxnState
	}
	m := e.m.Clone()
	m.State = PrepareAbort
	if commit {
		m.State = PrepareCommit
	}
	if err := c.persist(ctx, e, m); err != nil {
		return err
	}
	return c.complete(ctx, e)
}

// complete writes the markers of a Prepare state and persists the
// Complete state.
func (c *Coordinator) complete(ctx context.Context, e *entry) error {
	commit := e.m.State == PrepareCommit
	if err := c.env.WriteMarkers(ctx, e.m.Clone(), commit); err != nil {
		// The Prepare state is durable: a later call or a restart retries.
		return fmt.Errorf("txn: writing markers for %q: %w", e.m.TransactionalID, err)
	}
	m := e.m.Clone()
	m.State = CompleteAbort
	if commit {
		m.State = CompleteCommit
	}
	m.Partitions, m.Groups = nil, nil
	m.StartMs = -1
	return c.persist(ctx, e, m)
}

// abortFenced aborts the open transaction under a bumped epoch.
func (c *Coordinator) abortFenced(ctx context.Context, e *entry) error {
	m := e.m.Clone()
	m.LastProducerID, m.LastEpoch = m.ProducerID, m.Epoch
	if err := c.bumpEpoch(ctx, &m); err != nil {
		return err
	}
	m.State = PrepareAbort
	if err := c.persist(ctx, e, m); err != nil {
		return err
	}
	return c.complete(ctx, e)
}

// AbortTimedOut aborts every open transaction older than its timeout,
// fencing its producer, and forgets transactional IDs idle longer than
// the expiration. It returns how many transactions it aborted.
func (c *Coordinator) AbortTimedOut(ctx context.Context) int {
	now := c.nowMs()
	c.mu.Lock()
	ids := make([]string, 0, len(c.txns))
	for id := range c.txns {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	aborted := 0
	for _, id := range ids {
		e := c.lock(id, false)
		if e == nil {
			continue
		}
		switch st := e.m.State; {
		case st == Ongoing && now-e.m.StartMs > int64(e.m.TimeoutMs):
			c.log.Info("aborting timed-out transaction", "transactional_id", id, "producer_id", e.m.ProducerID, "epoch", e.m.Epoch)
			if err := c.abortFenced(ctx, e); err != nil {
				c.log.Warn("aborting timed-out transaction", "transactional_id", id, "err", err)
			} else {
				aborted++
			}
		case st == PrepareCommit || st == PrepareAbort:
			if err := c.complete(ctx, e); err != nil {
				c.log.Warn("completing transaction", "transactional_id", id, "err", err)
			}
		case (st == Empty || st == CompleteCommit || st == CompleteAbort) && now-e.m.LastUpdateMs > c.cfg.ExpirationMs:
			if err := c.env.Persist(ctx, e.m.Clone(), true); err == nil {
				e.m.State = Dead
				c.removeIfDead(id, e)
			}
		}
		e.mu.Unlock()
	}
	return aborted
}

// Describe returns a copy of a transactional ID's state.
func (c *Coordinator) Describe(id string) (Metadata, bool) {
	e := c.lock(id, false)
	if e == nil {
		return Metadata{}, false
	}
	defer e.mu.Unlock()
	if e.m.State == Dead {
		return Metadata{}, false
	}
	return e.m.Clone(), true
}

// List returns copies of every transactional ID's state.
func (c *Coordinator) List() []Metadata {
	c.mu.Lock()
	ids := make([]string, 0, len(c.txns))
	for id := range c.txns {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	sort.Strings(ids)
	out := make([]Metadata, 0, len(ids))
	for _, id := range ids {
		if m, ok := c.Describe(id); ok {
			out = append(out, m)
		}
	}
	return out
}

// Load installs persisted states (the latest record of each ID, in log
// order; deleted ones removed). Call it before serving requests, then
// Recover.
func (c *Coordinator) Load(m Metadata, deleted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted {
		delete(c.txns, m.TransactionalID)
		return
	}
	c.txns[m.TransactionalID] = &entry{m: m.Clone()}
}

// Unload drops the transactional IDs drop selects, because another node
// now coordinates them (their __transaction_state partition moved). An
// operation in progress on one of them finishes first. It returns how
// many were dropped.
func (c *Coordinator) Unload(drop func(id string) bool) int {
	c.mu.Lock()
	var gone []*entry
	for id, e := range c.txns {
		if drop(id) {
			delete(c.txns, id)
			gone = append(gone, e)
		}
	}
	c.mu.Unlock()
	for _, e := range gone {
		e.mu.Lock()
		e.gone = true
		e.mu.Unlock()
	}
	return len(gone)
}

// Recover finishes transactions a restart (or a move of their partition
// to this node) left in a Prepare state by writing their markers again;
// only limits it to some IDs (nil: all). Open transactions are left to
// their timeouts: their producers may still be alive.
func (c *Coordinator) Recover(ctx context.Context, only func(id string) bool) error {
	var errs []error
	for _, m := range c.List() {
		if m.State != PrepareCommit && m.State != PrepareAbort {
			continue
		}
		if only != nil && !only(m.TransactionalID) {
			continue
		}
		e := c.lock(m.TransactionalID, false)
		if e == nil {
			continue
		}
		if e.m.State == PrepareCommit || e.m.State == PrepareAbort {
			errs = append(errs, c.complete(ctx, e))
		}
		e.mu.Unlock()
	}
	return errors.Join(errs...)
}

// KafkaState is the state as DescribeTransactions and ListTransactions
// name it.
func (s State) KafkaState() string {
	return kmsg.TransactionState(s).String()
}
