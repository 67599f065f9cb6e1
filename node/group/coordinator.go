package group

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Sentinel errors.
var (
	// ErrNotCoordinator means this node does not lead the group's
	// __consumer_offsets partition.
	ErrNotCoordinator = errors.New("not the coordinator of this group")
	// ErrClosed means the coordinator has stopped.
	ErrClosed = errors.New("group coordinator closed")
)

// OffsetCommit is one committed offset.
type OffsetCommit struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// OffsetsLog is one __consumer_offsets partition as the coordinator needs it.
type OffsetsLog interface {
	// Append appends one record batch; done is called once it is durable.
	Append(batch []byte, done func(error)) error
	// Scan calls fn with every batch from the log start up to the high
	// watermark, in order.
	Scan(fn func(batch []byte) error) error
}

// Backend is what the coordinator needs from the broker around it.
type Backend interface {
	// OffsetsLog returns a __consumer_offsets partition this node leads,
	// or ErrNotCoordinator.
	OffsetsLog(partition int32) (OffsetsLog, error)
	// LedPartitions lists the __consumer_offsets partitions this node
	// leads (none before the topic exists).
	LedPartitions() []int32
	// PartitionExists reports whether a topic partition exists.
	PartitionExists(topic string, partition int32) bool
	// Subscribe signals metadata changes.
	Subscribe() (<-chan struct{}, func())
}

type storedOffset struct {
	OffsetCommit
	ts time.Time
}

// entry is one group with its committed and staged offsets. Owned by runLoop.
type entry struct {
	g       *Group
	part    int32
	offsets map[TopicPartition]storedOffset
	txn     map[int64]map[TopicPartition]OffsetCommit // staged by producer ID
}

// Coordinator is the group coordinator of one node: the classic rebalance
// protocol and committed offsets of the groups whose __consumer_offsets
// partitions this node leads. All group state is owned by one goroutine,
// runLoop; the exported methods hand it work and return without waiting,
// calling their callback once the answer is known (for commits, once the
// write is durable).
type Coordinator struct {
	cfg Config
	be  Backend
	log *slog.Logger
	now func() time.Time

	inbox struct {
		sync.Mutex
		q []func()
	}
	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	// Owned by runLoop.
	groups     map[string]*entry
	parts      map[int32]OffsetsLog // loaded partitions
	joinW      map[uint64]func(JoinResult)
	syncW      map[uint64]func(SyncReply)
	nextWaiter uint64
	draining   bool
}

// New returns a coordinator; Start loads the partitions and starts it.
func New(cfg Config, be Backend) (*Coordinator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Coordinator{
		cfg:    cfg,
		be:     be,
		log:    cfg.Logger,
		now:    now,
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		groups: map[string]*entry{},
		parts:  map[int32]OffsetsLog{},
		joinW:  map[uint64]func(JoinResult){},
		syncW:  map[uint64]func(SyncReply){},
	}, nil
}

// Start loads every __consumer_offsets partition this node leads and starts
// the coordinator's goroutine.
func (c *Coordinator) Start() {
	c.reconcilePartitions()
	go c.runLoop()
}

// Close stops the coordinator. Parked joins and syncs are not answered:
// the node closes their connections.
func (c *Coordinator) Close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
}

// OffsetsPartition returns the __consumer_offsets partition that holds a group.
func (c *Coordinator) OffsetsPartition(group string) int32 {
	return PartitionFor(group, c.cfg.NumPartitions)
}

// Drain answers every parked JoinGroup and SyncGroup with NOT_COORDINATOR
// and refuses new ones, so a node shutting down can finish its requests.
// Commits and fetches are still served until Close.
func (c *Coordinator) Drain() {
	_ = c.call(context.Background(), func() {
		c.draining = true
		for w, cb := range c.joinW {
			delete(c.joinW, w)
			cb(JoinResult{Err: kerr.NotCoordinator.Code, Generation: -1})
		}
		for w, cb := range c.syncW {
			delete(c.syncW, w)
			cb(SyncReply{Err: kerr.NotCoordinator.Code})
		}
	})
}

// post queues f to run on the coordinator's goroutine.
func (c *Coordinator) post(f func()) {
	c.inbox.Lock()
	c.inbox.q = append(c.inbox.q, f)
	c.inbox.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// call runs f on the coordinator's goroutine and waits for it.
func (c *Coordinator) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	c.post(func() { f(); close(done) })
	select {
	case <-done:
		return nil
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runLoop owns all group state: it runs queued work, fires rebalance and
// session deadlines, applies offset retention and follows metadata changes.
func (c *Coordinator) runLoop() {
	defer close(c.done)
	changes, cancel := c.be.Subscribe()
	defer cancel()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	retention := time.NewTicker(c.cfg.RetentionCheckInterval)
	defer retention.Stop()
	for {
		c.resetTimer(timer)
		select {
		case <-c.stop:
			return
		case <-c.wake:
			c.drainInbox()
		case <-timer.C:
			c.tick()
		case <-retention.C:
			c.expireOffsets()
		case <-changes:
			c.reconcilePartitions()
			c.dropDeletedTopics()
		}
	}
}

func (c *Coordinator) drainInbox() {
	for {
		c.inbox.Lock()
		q := c.inbox.q
		c.inbox.q = nil
		c.inbox.Unlock()
		if len(q) == 0 {
			return
		}
		for _, f := range q {
			f()
		}
	}
}

func (c *Coordinator) resetTimer(t *time.Timer) {
	var next time.Time
	for _, e := range c.groups {
		if d := e.g.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	wait := time.Hour
	if !next.IsZero() {
		wait = next.Sub(c.now())
		if wait < 0 {
			wait = 0
		}
	}
	t.Reset(wait)
}

func (c *Coordinator) tick() {
	now := c.now()
	for _, e := range c.groups {
		if d := e.g.NextDeadline(); !d.IsZero() && !now.Before(d) {
			c.exec(e, e.g.Tick(now))
		}
	}
}

// exec carries out a group's actions.
func (c *Coordinator) exec(e *entry, acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case JoinReply:
			if cb := c.joinW[a.Waiter]; cb != nil {
				delete(c.joinW, a.Waiter)
				cb(a.Result)
			}
		case SyncReply:
			if cb := c.syncW[a.Waiter]; cb != nil {
				delete(c.syncW, a.Waiter)
				cb(a)
			}
		case Persist:
			c.persistGroup(e, a)
		}
	}
}

func (c *Coordinator) persistGroup(e *entry, p Persist) {
	now := c.now()
	batch := buildBatch([]kv{{groupKey(e.g.ID), groupValue(e.g, now)}}, now, batchOpts{})
	finish := func(err error) {
		if err != nil {
			c.log.Error("persisting group metadata", "group", e.g.ID, "err", err)
		}
		if p.Sync {
			c.exec(e, e.g.SyncPersisted(c.now(), p.Generation, err))
		}
	}
	l := c.parts[e.part]
	if l == nil {
		finish(ErrNotCoordinator)
		return
	}
	if err := l.Append(batch, func(err error) { c.post(func() { finish(err) }) }); err != nil {
		finish(err)
	}
}

// lookup finds a group's entry on the coordinator's goroutine. With create,
// a missing group is created empty. The code is NOT_COORDINATOR when this
// node does not lead the group's partition.
func (c *Coordinator) lookup(id string, create bool) (*entry, int16) {
	part := c.OffsetsPartition(id)
	if c.parts[part] == nil {
		c.reconcilePartitions()
		if c.parts[part] == nil {
			return nil, kerr.NotCoordinator.Code
		}
	}
	e := c.groups[id]
	if e == nil && create {
		e = c.newEntry(id, part)
	}
	if e != nil && e.g.State == Dead {
		if !create {
			return nil, 0
		}
		delete(c.groups, id)
		e = c.newEntry(id, part)
	}
	return e, 0
}

func (c *Coordinator) newEntry(id string, part int32) *entry {
	e := &entry{
		g:       NewGroup(id, c.cfg.rules(), c.now()),
		part:    part,
		offsets: map[TopicPartition]storedOffset{},
		txn:     map[int64]map[TopicPartition]OffsetCommit{},
	}
	c.groups[id] = e
	return e
}

func (c *Coordinator) waiter() uint64 {
	c.nextWaiter++
	return c.nextWaiter
}

// Join handles a JoinGroup; cb gets the response, possibly much later.
func (c *Coordinator) Join(group string, r JoinRequest, cb func(JoinResult)) {
	c.post(func() {
		if group == "" {
			cb(JoinResult{Err: kerr.InvalidGroupID.Code, MemberID: r.MemberID, Generation: -1})
			return
		}
		e, code := c.lookup(group, true)
		if c.draining {
			code = kerr.NotCoordinator.Code
		}
		if code != 0 {
			cb(JoinResult{Err: code, MemberID: r.MemberID, Generation: -1})
			return
		}
		r.Waiter = c.waiter()
		c.joinW[r.Waiter] = cb
		c.exec(e, e.g.Join(c.now(), r))
	})
}

// SyncResult is the content of a SyncGroup response.
type SyncResult = SyncReply

// Sync handles a SyncGroup.
func (c *Coordinator) Sync(group string, r SyncRequest, cb func(SyncResult)) {
	c.post(func() {
		if group == "" {
			cb(SyncReply{Err: kerr.InvalidGroupID.Code})
			return
		}
		e, code := c.lookup(group, false)
		if c.draining {
			code = kerr.NotCoordinator.Code
		}
		switch {
		case code != 0:
			cb(SyncReply{Err: code})
			return
		case e == nil:
			cb(SyncReply{Err: kerr.UnknownMemberID.Code})
			return
		}
		r.Waiter = c.waiter()
		c.syncW[r.Waiter] = cb
		c.exec(e, e.g.Sync(c.now(), r))
	})
}

// Heartbeat handles a Heartbeat.
func (c *Coordinator) Heartbeat(group, memberID, instanceID string, generation int32, cb func(int16)) {
	c.post(func() {
		if group == "" {
			cb(kerr.InvalidGroupID.Code)
			return
		}
		e, code := c.lookup(group, false)
		switch {
		case code != 0:
			cb(code)
		case e == nil:
			cb(kerr.UnknownMemberID.Code)
		default:
			cb(e.g.Heartbeat(c.now(), memberID, instanceID, generation))
		}
	})
}

// Leave handles a LeaveGroup: a group-level code and one code per member.
func (c *Coordinator) Leave(group string, reqs []LeaveRequest, cb func(int16, []int16)) {
	c.post(func() {
		if group == "" {
			cb(kerr.InvalidGroupID.Code, nil)
			return
		}
		e, code := c.lookup(group, false)
		switch {
		case code != 0:
			cb(code, nil)
			return
		case e == nil:
			codes := make([]int16, len(reqs))
			for i := range codes {
				codes[i] = kerr.UnknownMemberID.Code
			}
			cb(0, codes)
			return
		}
		codes, acts := e.g.Leave(c.now(), reqs)
		c.exec(e, acts)
		cb(0, codes)
	})
}

// CommitRequest is an OffsetCommit.
type CommitRequest struct {
	Group      string
	MemberID   string
	InstanceID string
	Generation int32
	Offsets    map[string]map[int32]OffsetCommit
}

// Commit handles an OffsetCommit. cb gets a group-level code (non-zero:
// every partition failed with it) and a code per partition, once the commit
// is durable.
func (c *Coordinator) Commit(r CommitRequest, cb func(int16, map[TopicPartition]int16)) {
	c.post(func() {
		e, code := c.lookup(r.Group, true)
		if code == 0 {
			code = e.g.CheckCommit(c.now(), r.MemberID, r.InstanceID, r.Generation)
		}
		if code != 0 {
			cb(code, nil)
			return
		}
		c.writeOffsets(e, r.Offsets, batchOpts{}, func(codes map[TopicPartition]int16, ok map[TopicPartition]OffsetCommit, ts time.Time) {
			for tp, oc := range ok {
				e.offsets[tp] = storedOffset{oc, ts}
			}
			cb(0, codes)
		})
	})
}

// writeOffsets validates offsets, appends them as one batch and calls done
// on the coordinator's goroutine with a code per partition and the offsets
// that are now durable.
func (c *Coordinator) writeOffsets(e *entry, offsets map[string]map[int32]OffsetCommit, o batchOpts, done func(map[TopicPartition]int16, map[TopicPartition]OffsetCommit, time.Time)) {
	now := c.now()
	codes := map[TopicPartition]int16{}
	good := map[TopicPartition]OffsetCommit{}
	var recs []kv
	for topic, parts := range offsets {
		for part, oc := range parts {
			tp := TopicPartition{topic, part}
			switch {
			case oc.Metadata != nil && len(*oc.Metadata) > c.cfg.MaxMetadataBytes:
				codes[tp] = kerr.OffsetMetadataTooLarge.Code
			case !c.be.PartitionExists(topic, part):
				codes[tp] = kerr.UnknownTopicOrPartition.Code
			default:
				codes[tp] = 0
				good[tp] = oc
				recs = append(recs, kv{offsetKey(e.g.ID, topic, part), offsetValue(oc, now)})
			}
		}
	}
	if len(recs) == 0 {
		done(codes, nil, now)
		return
	}
	failAll := func(err error) {
		code := kerr.NotCoordinator.Code
		if !errors.Is(err, ErrNotCoordinator) {
			code = kerr.UnknownServerError.Code
			c.log.Error("writing offsets", "group", e.g.ID, "err", err)
		}
		for tp := range good {
			codes[tp] = code
		}
		done(codes, nil, now)
	}
	l := c.parts[e.part]
	if l == nil {
		failAll(ErrNotCoordinator)
		return
	}
	batch := buildBatch(recs, now, o)
	err := l.Append(batch, func(err error) {
		c.post(func() {
			if err != nil {
				failAll(err)
				return
			}
			done(codes, good, now)
		})
	})
	if err != nil {
		failAll(err)
	}
}

// FetchedOffset is one partition of an OffsetFetch answer.
type FetchedOffset struct {
	TopicPartition
	OffsetCommit
	Err int16
}

// Fetch handles one group of an OffsetFetch. With topics nil every
// committed offset is returned. With requireStable, partitions with staged
// transactional offsets answer UNSTABLE_OFFSET_COMMIT.
func (c *Coordinator) Fetch(group string, topics map[string][]int32, requireStable bool, cb func(int16, []FetchedOffset)) {
	c.post(func() {
		e, code := c.lookup(group, false)
		if code != 0 {
			cb(code, nil)
			return
		}
		var out []FetchedOffset
		unstable := func(tp TopicPartition) bool {
			if !requireStable || e == nil {
				return false
			}
			for _, staged := range e.txn {
				if _, ok := staged[tp]; ok {
					return true
				}
			}
			return false
		}
		get := func(tp TopicPartition) FetchedOffset {
			f := FetchedOffset{TopicPartition: tp, OffsetCommit: OffsetCommit{Offset: -1, LeaderEpoch: -1}}
			if unstable(tp) {
				f.Err = kerr.UnstableOffsetCommit.Code
				return f
			}
			if e != nil {
				if so, ok := e.offsets[tp]; ok {
					f.OffsetCommit = so.OffsetCommit
				}
			}
			return f
		}
		if topics == nil {
			if e != nil {
				for tp := range e.offsets {
					out = append(out, get(tp))
				}
			}
		} else {
			for t, ps := range topics {
				for _, p := range ps {
					out = append(out, get(TopicPartition{t, p}))
				}
			}
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Topic != out[j].Topic {
				return out[i].Topic < out[j].Topic
			}
			return out[i].Partition < out[j].Partition
		})
		cb(0, out)
	})
}
