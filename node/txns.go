package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
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
}

// startTxns builds the coordinator, loads __transaction_state and starts
// runTxnTimeouts, which first finishes transactions a restart left
// half-done.
func (n *Node) startTxns(ctx context.Context) error {
	s := &txnService{n: n}
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
	if err := s.load(); err != nil {
		return fmt.Errorf("loading %s: %w", txnStateTopic, err)
	}
	n.txns = s
	n.loops.Add(1)
	go n.runTxnTimeouts()
	return nil
}

// runTxnTimeouts completes transactions left in a Prepare state, then
// aborts transactions past their timeout and expires idle transactional
// IDs every transaction.abort.timed.out.transaction.cleanup.interval.ms.
func (n *Node) runTxnTimeouts() {
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
	if err := n.txns.coord.Recover(ctx); err != nil {
		n.log.Error("completing transactions after restart", "err", err)
	}
	for {
		d := time.Duration(n.brokerCfg().Int64("transaction.abort.timed.out.transaction.cleanup.interval.ms")) * time.Millisecond
		t := time.NewTimer(d)
		select {
		case <-n.drain:
			t.Stop()
			return
		case <-t.C:
			if k := n.txns.coord.AbortTimedOut(ctx); k > 0 {
				n.log.Info("aborted timed-out transactions", "count", k)
			}
		}
	}
}

// newProducerID hands out the next producer ID of this node's block,
// allocating a new block through the metadata quorum when it runs out.
func (s *txnService) newProducerID(ctx context.Context) (int64, error) {
	s.idMu.Lock()
	defer s.idMu.Unlock()
	if s.next >= s.end {
		alloc, ok := s.n.meta.(producerIDAllocator)
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
	t, err := n.meta.CreateTopic(ctx, meta.TopicSpec{
		Name:              txnStateTopic,
		NumPartitions:     int32(n.brokerCfg().Int64("transaction.state.log.num.partitions")),
		ReplicationFactor: 1,
		Configs: map[string]string{
			// Kafka compacts this topic; Strata keeps it whole until
			// compaction exists.
			"cleanup.policy": "compact",
			"retention.ms":   "-1",
			"segment.bytes":  "104857600",
			// As in Kafka, an internal topic is never tiered: the
			// coordinator loads it from local disk.
			"remote.storage.enable": "false",
		},
		Internal: true,
	})
	if errors.Is(err, meta.ErrTopicExists) {
		if t, ok := n.meta.Topic(txnStateTopic); ok {
			return t, nil
		}
	}
	if err != nil {
		return meta.Topic{}, err
	}
	n.log.Info("created internal topic", "topic", txnStateTopic, "partitions", len(t.Partitions))
	n.awaitOwnWrite(ctx, "__transaction_state")
	return t, nil
}

// load replays the __transaction_state partitions hosted here into the
// coordinator: the last record of each transactional ID wins.
func (s *txnService) load() error {
	t, ok := s.n.meta.Topic(txnStateTopic)
	if !ok {
		return nil
	}
	loaded := 0
	for _, tp := range t.Partitions {
		p := s.n.parts.get(txnStateTopic, tp.Index)
		if p == nil {
			continue
		}
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
		if err != nil {
			return fmt.Errorf("partition %d: %w", tp.Index, err)
		}
	}
	if loaded > 0 {
		s.n.log.Info("loaded transaction state", "records", loaded, "transactional_ids", len(s.coord.List()))
	}
	return nil
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
		_, err := p.append(batch, done)
		return err
	})
}

func (e txnEnv) WriteMarkers(ctx context.Context, m txn.Metadata, commit bool) error {
	n := e.s.n
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, tp := range m.SortedPartitions() {
		p := n.parts.get(tp.Topic, tp.Partition)
		if p == nil || !p.leadership().isLeader() {
			if _, ok := n.meta.Topic(tp.Topic); !ok {
				continue // deleted meanwhile: nothing to mark
			}
			errs = append(errs, fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, kerr.NotLeaderForPartition))
			continue
		}
		wg.Add(1)
		err := p.appendMarker(txnMarker{producerID: m.ProducerID, epoch: m.Epoch, commit: commit}, func(err error) {
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, err))
				mu.Unlock()
			}
			wg.Done()
		})
		if err != nil {
			wg.Done()
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, err))
			mu.Unlock()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	mu.Lock()
	err := errors.Join(errs...)
	mu.Unlock()
	if err != nil {
		return err
	}
	for g := range m.Groups {
		n.GroupCoordinator().CompleteTxn(g, m.ProducerID, commit)
	}
	return nil
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
	if t.Partitions[txnPartitionFor(id, int32(len(t.Partitions)))].Leader != n.cfg.NodeID {
		return kerr.NotCoordinator.Code
	}
	return 0
}

// txnCtx bounds one coordinator operation.
func txnCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), adminTimeout)
}

// FindCoordinator's transaction keys are answered by txnCoordinatorFor.
func init() { txnCoordinatorFor = (*Node).txnCoordinatorFor }
