package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/node/txn"
	"github.com/stratalog/strata/record"
)

// txnStateTopic is the internal topic holding transaction metadata in
// Kafka's TxnMetadataKey/TxnMetadataValue schemas.
const txnStateTopic = "__transaction_state"

// producerIDBlockSize is how many producer IDs one raft allocation takes.
const producerIDBlockSize = 1000

// producerIDAllocator is the metadata capability the producer-ID source
// needs (meta.Store has it).
type producerIDAllocator interface {
	AllocateProducerIDs(ctx context.Context, broker int32, count int64) (meta.ProducerIDBlock, error)
}

// txnService is the node's producer-ID source and transaction coordinator.
type txnService struct {
	n     *Node
	coord *txn.Coordinator

	idMu     sync.Mutex // guards next and end; held across a block allocation
	next     int64
	end      int64
	createMu sync.Mutex // one creation of __transaction_state at a time

	// reconcileMu serialises reconcile; mu guards loaded, the
	// __transaction_state partitions whose IDs the coordinator holds.
	reconcileMu sync.Mutex
	mu          sync.Mutex
	loaded      map[int32]bool

	peerMu sync.Mutex // guards peers (txn_markers.go)
	peers  *kgo.Client
}

// startTxns builds the coordinator, loads __transaction_state and starts
// runTxnTimeouts, which first finishes transactions a restart left
// half-done.
func (n *Node) startTxns(ctx context.Context) error {
	s := &txnService{n: n, loaded: map[int32]bool{}}
	b := n.brokerCfg()
	cfg := txn.DefaultConfig()
	cfg.MaxTimeoutMs = int32(b.Int64("transaction.max.timeout.ms"))
	cfg.ExpirationMs = b.Int64("transactional.id.expiration.ms")
	cfg.OffsetsTopic = offsetsTopic
	cfg.Logger = n.log.With("component", "txn")
	c, err := txn.New(cfg, txnEnv{s})
	if err != nil {
		return fmt.Errorf("transaction coordinator: %w", err)
	}
	s.coord = c
	if _, err := s.reconcile(); err != nil {
		return fmt.Errorf("loading %s: %w", txnStateTopic, err)
	}
	n.txns = s
	n.loops.Add(1)
	go n.runTxnCoordinator()
	return nil
}

// runTxnCoordinator completes transactions left in a Prepare state, then
// every transaction.abort.timed.out.transaction.cleanup.interval.ms aborts
// transactions past their timeout, expires idle transactional IDs and
// writes again the markers of prepared transactions that failed to land,
// and loads and unloads __transaction_state partitions as their
// leadership comes here or leaves (completing what a partition that
// arrives left prepared). It stops when the node drains.
func (n *Node) runTxnCoordinator() {
	defer n.loops.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-n.drain:
			cancel()
		case <-ctx.Done():
		}
	}()
	s := n.txns
	changes, unsubscribe := n.applied.subscribe()
	defer unsubscribe()
	if err := s.coord.Recover(ctx, nil); err != nil {
		n.log.Error("completing transactions after restart", "err", err)
	}
	interval := func() time.Duration {
		return time.Duration(n.brokerCfg().Int64("transaction.abort.timed.out.transaction.cleanup.interval.ms")) * time.Millisecond
	}
	d := interval()
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-n.drain:
			return
		case <-changes:
			arrived, err := s.reconcile()
			if err != nil {
				n.log.Error("loading transaction state", "err", err)
			}
			nparts := s.numPartitions()
			for _, part := range arrived {
				only := func(id string) bool { return txnPartitionFor(id, nparts) == part }
				if err := s.coord.Recover(ctx, only); err != nil {
					n.log.Error("completing transactions of a partition that moved here", "partition", part, "err", err)
				}
			}
		case <-tick.C:
			if k := s.coord.AbortTimedOut(ctx); k > 0 {
				n.log.Info("aborted timed-out transactions", "count", k)
			}
			// A transaction whose markers could not all be written (a
			// leader moving or unreachable) stays prepared; its markers
			// are written again here until they land.
			if err := s.coord.Recover(ctx, nil); err != nil {
				n.log.Warn("completing prepared transactions", "err", err)
			}
			if nd := interval(); nd != d {
				d = nd
				tick.Reset(d)
			}
		}
	}
}

func (s *txnService) loadedSet() map[int32]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.loaded)
}

func (s *txnService) isLoaded(part int32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loaded[part]
}

func (s *txnService) numPartitions() int32 {
	t, ok := s.n.meta.Topic(txnStateTopic)
	if !ok {
		return 0
	}
	return int32(len(t.Partitions))
}

// newProducerID hands out the next producer ID of this node's block,
// allocating a new block through the metadata quorum when it runs out.
func (s *txnService) newProducerID(ctx context.Context) (int64, error) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if s.next >= s.end {
		alloc, ok := s.n.mirrorMeta.(producerIDAllocator)
		if !ok {
			return -1, fmt.Errorf("%w: metadata store cannot allocate producer ids", kerr.BrokerNotAvailable)
		}
		blk, err := alloc.AllocateProducerIDs(ctx, s.n.cfg.NodeID, producerIDBlockSize)
		if err != nil {
			return -1, fmt.Errorf("allocating producer ids: %w", err)
		}
		s.next, s.end = blk.First, blk.First+blk.Count
	}
	id := s.next
	s.next++
	return id, nil
}

// txnPartitionFor is Kafka's placement of a transactional ID:
// abs(javaHashCode(id)) % partitions.
func txnPartitionFor(id string, partitions int32) int32 {
	var h int32
	for _, r := range id {
		if r >= 0x10000 {
			// UTF-16 surrogate pair, as Java hashes it.
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// txnCoordinatorFor returns the broker coordinating a transactional ID:
// the leader of its __transaction_state partition (this node, on a single
// node), creating the topic on first use.
func (n *Node) txnCoordinatorFor(ctx context.Context, transactionalID string) (meta.Broker, error) {
	t, err := n.txns.ensureTopic(ctx)
	if err != nil {
		return meta.Broker{}, err
	}
	leader := t.Partitions[txnPartitionFor(transactionalID, int32(len(t.Partitions)))].Leader
	for _, b := range n.meta.Brokers() {
		if b.ID == leader {
			return b, nil
		}
	}
	return meta.Broker{}, errCoordinatorNotAvailable
}

// ensureTopic creates __transaction_state on first use.
func (s *txnService) ensureTopic(ctx context.Context) (meta.Topic, error) {
	n := s.n
	if t, ok := n.meta.Topic(txnStateTopic); ok {
		return t, nil
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if t, ok := n.meta.Topic(txnStateTopic); ok {
		return t, nil
	}
	b := n.brokerCfg()
	// Replicated like Kafka's (RF 3, min.insync 2 by default), so the
	// transaction state outlives its coordinator's node.
	rf := int16(b.Int64("transaction.state.log.replication.factor"))
	if nb := int16(len(n.meta.Brokers())); rf > nb {
		rf = nb
	}
	configs := map[string]string{
		"min.insync.replicas": strconv.FormatInt(min(b.Int64("transaction.state.log.min.isr"), int64(rf)), 10),
		// Kafka compacts this topic; Strata keeps it whole until
		// compaction exists.
		"cleanup.policy": "compact",
		"retention.ms":   "-1",
		"segment.bytes":  "104857600",
		// Tiered, unlike Kafka's, so a restore from the bucket brings
		// transactions back; kept locally as well, where the coordinator
		// loads it from.
		"remote.storage.enable": "true",
		"local.retention.ms":    "-1",
		"local.retention.bytes": "-1",
	}
	if n.readReplica() {
		configs["remote.storage.enable"] = "false" // never in the bucket it follows
		delete(configs, "local.retention.ms")
		delete(configs, "local.retention.bytes")
	}
	t, err := n.meta.CreateTopic(ctx, meta.TopicSpec{
		Name:              txnStateTopic,
		NumPartitions:     int32(b.Int64("transaction.state.log.num.partitions")),
		ReplicationFactor: rf,
		Configs:           configs,
		Internal:          true,
	})
	if errors.Is(err, meta.ErrTopicExists) {
		if t, ok := n.meta.Topic(txnStateTopic); ok {
			return t, nil
		}
	}
	if err != nil {
		return meta.Topic{}, err
	}
	n.log.Info("created internal topic", "topic", txnStateTopic, "partitions", len(t.Partitions), "replication_factor", rf)
	n.awaitOwnWrite(ctx, "__transaction_state")
	// Its partitions led here are empty: hold them now rather than
	// answer COORDINATOR_LOAD_IN_PROGRESS until the next metadata change.
	if _, err := s.reconcile(); err != nil {
		n.log.Error("loading transaction state", "err", err)
	}
	return t, nil
}

// reconcile makes the coordinator hold exactly the transactional IDs of
// the __transaction_state partitions this node leads: it replays each
// partition that became led here (the last record of each ID wins) and
// drops the IDs of each partition that is led elsewhere now. It returns
// the partitions it loaded.
func (s *txnService) reconcile() (arrived []int32, _ error) {
	s.reconcileMu.Lock()
	defer s.reconcileMu.Unlock()
	led := map[int32]bool{}
	nparts := int32(0)
	if t, ok := s.n.meta.Topic(txnStateTopic); ok {
		nparts = int32(len(t.Partitions))
		for _, tp := range t.Partitions {
			if p := s.n.parts.get(txnStateTopic, tp.Index); p != nil && p.leadership().isLeader() {
				led[tp.Index] = true
			}
		}
	}
	var errs []error
	for part := range s.loadedSet() {
		if led[part] {
			continue
		}
		s.mu.Lock()
		delete(s.loaded, part)
		s.mu.Unlock()
		k := s.coord.Unload(func(id string) bool { return nparts == 0 || txnPartitionFor(id, nparts) == part })
		s.n.log.Info("unloaded transaction state: partition led elsewhere", "partition", part, "transactional_ids", k)
	}
	for part := range led {
		if s.isLoaded(part) {
			continue
		}
		k, err := s.loadPartition(s.n.parts.get(txnStateTopic, part))
		if err != nil {
			// What loaded before the damage is kept; storage already
			// truncated torn tails, so this is corruption.
			errs = append(errs, fmt.Errorf("partition %d: %w", part, err))
		}
		s.mu.Lock()
		s.loaded[part] = true
		s.mu.Unlock()
		arrived = append(arrived, part)
		if k > 0 {
			s.n.log.Info("loaded transaction state", "partition", part, "records", k)
		}
	}
	return arrived, errors.Join(errs...)
}

// loadPartition replays one __transaction_state partition into the
// coordinator and returns how many records it applied.
func (s *txnService) loadPartition(p *partition) (int, error) {
	if p == nil {
		return 0, nil
	}
	loaded := 0
	end := p.log.EndOffset()
	err := forEachBatch(p.localBatches(end), p.log.StartOffset(), end, func(h record.Header, batch []byte) error {
		if h.IsControl() {
			return nil
		}
		_ = record.ForEachRecord(batch, func(r record.Record) bool {
			if m, deleted, ok := decodeTxnRecord(r.Key, r.Value); ok {
				s.coord.Load(m, deleted)
				loaded++
			}
			return true
		})
		return nil
	})
	return loaded, err
}

func encodeTxnRecord(m txn.Metadata, deleted bool) (key, value []byte) {
	k := kmsg.NewTxnMetadataKey()
	k.TransactionalID = m.TransactionalID
	key = k.AppendTo(nil)
	if deleted {
		return key, nil
	}
	v := kmsg.NewTxnMetadataValue()
	v.ProducerID, v.ProducerEpoch = m.ProducerID, m.Epoch
	v.TimeoutMillis = m.TimeoutMs
	v.State = kmsg.TransactionState(m.State)
	byTopic := map[string]int{}
	for _, p := range m.SortedPartitions() {
		i, ok := byTopic[p.Topic]
		if !ok {
			i = len(v.Topics)
			byTopic[p.Topic] = i
			t := kmsg.NewTxnMetadataValueTopic()
			t.Topic = p.Topic
			v.Topics = append(v.Topics, t)
		}
		v.Topics[i].Partitions = append(v.Topics[i].Partitions, p.Partition)
	}
	v.LastUpdateTimestamp, v.StartTimestamp = m.LastUpdateMs, m.StartMs
	// Version 1's tagged field carries the previous producer ID (KIP-360
	// retries); the previous epoch is the current one minus one whenever
	// the ID is unchanged. The groups of an open transaction are not in
	// the schema: the group coordinator resolves its staged offsets from
	// the markers in __consumer_offsets.
	v.Version = 1
	v.PreviousProducerID = m.LastProducerID
	return key, v.AppendTo(nil)
}

func decodeTxnRecord(key, value []byte) (txn.Metadata, bool, bool) {
	var k kmsg.TxnMetadataKey
	if len(key) < 2 || binary.BigEndian.Uint16(key) != 0 || k.ReadFrom(key) != nil {
		return txn.Metadata{}, false, false
	}
	m := txn.Metadata{TransactionalID: k.TransactionalID, ProducerID: -1, LastProducerID: -1, LastEpoch: -1, StartMs: -1}
	if value == nil {
		return m, true, true
	}
	var v kmsg.TxnMetadataValue
	if v.ReadFrom(value) != nil {
		return txn.Metadata{}, false, false
	}
	m.ProducerID, m.Epoch, m.TimeoutMs = v.ProducerID, v.ProducerEpoch, v.TimeoutMillis
	m.State = txn.State(v.State)
	m.LastUpdateMs, m.StartMs = v.LastUpdateTimestamp, v.StartTimestamp
	m.LastProducerID = v.PreviousProducerID
	if m.LastProducerID == m.ProducerID && m.Epoch > 0 {
		m.LastEpoch = m.Epoch - 1
	}
	m.Partitions = map[txn.Partition]struct{}{}
	m.Groups = map[string]struct{}{}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.Partitions[txn.Partition{Topic: t.Topic, Partition: p}] = struct{}{}
		}
	}
	return m, false, true
}

// waitDone turns an append's done callback into a blocking wait bounded
// by ctx.
func waitDone(ctx context.Context, start func(done func(error)) error) error {
	ch := make(chan error, 1)
	if err := start(func(err error) { ch <- err }); err != nil {
		return err
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// txnEnv is the coordinator's view of the node.
type txnEnv struct{ s *txnService }

var _ txn.Env = txnEnv{}

func (e txnEnv) NewProducerID(ctx context.Context) (int64, error) { return e.s.newProducerID(ctx) }

func (e txnEnv) Persist(ctx context.Context, m txn.Metadata, deleted bool) error {
	t, err := e.s.ensureTopic(ctx)
	if err != nil {
		return err
	}
	part := txnPartitionFor(m.TransactionalID, int32(len(t.Partitions)))
	p := e.s.n.parts.get(txnStateTopic, part)
	if p == nil || !p.leadership().isLeader() {
		return kerr.NotCoordinator
	}
	k, v := encodeTxnRecord(m, deleted)
	batch := record.Build(record.NewBatchSpec(time.Now().UnixMilli()), []record.Record{{Key: k, Value: v}})
	return waitDone(ctx, func(done func(error)) error {
		_, err := p.append(batch, -1, done)
		return err
	})
}

func (e txnEnv) WriteMarkers(ctx context.Context, m txn.Metadata, commit bool) error {
	// A marker on the group's __consumer_offsets partition (AddOffsets
	// put it in the transaction) completes the group's staged offsets,
	// on whichever node coordinates the group.
	return e.s.n.writeMarkers(ctx, txnMarker{producerID: m.ProducerID, epoch: m.Epoch, commit: commit}, m.SortedPartitions())
}

// txnErrCode maps a coordinator error to a Kafka code for a request of
// version; PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before fencedSince.
// Failures that are not Kafka errors (a write that did not complete) are
// COORDINATOR_NOT_AVAILABLE, which clients retry.
func txnErrCode(err error, version, fencedSince int16) int16 {
	if err == nil {
		return 0
	}
	if errors.Is(err, kerr.ProducerFenced) && version < fencedSince {
		return kerr.InvalidProducerEpoch.Code
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}

// checkTxnCoordinator answers NOT_COORDINATOR when another broker leads the
// transactional ID's __transaction_state partition.
func (n *Node) checkTxnCoordinator(id string) int16 {
	t, ok := n.meta.Topic(txnStateTopic)
	if !ok {
		return 0 // created on first use, here
	}
	part := txnPartitionFor(id, int32(len(t.Partitions)))
	if t.Partitions[part].Leader != n.cfg.NodeID {
		return kerr.NotCoordinator.Code
	}
	if !n.txns.isLoaded(part) {
		// Leadership just arrived: the coordinator is replaying it.
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}

// txnCtx bounds one coordinator operation.
func txnCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), adminTimeout)
}

// FindCoordinator's transaction keys are answered by txnCoordinatorFor.
func init() { txnCoordinatorFor = (*Node).txnCoordinatorFor }
