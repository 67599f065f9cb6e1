package meta

import (
	"context"
	"fmt"
	"math"
)

// allocateProducerIDs hands out Count consecutive producer IDs to Broker.
// The block is decided when the entry is applied (the state's next free
// ID), so concurrent allocations through raft never overlap, and the block
// a proposer gets back is the one its own entry took.
type allocateProducerIDs struct {
	Broker int32 `json:"broker"`
	Count  int64 `json:"count"`

	first int64 // set by apply, returned through the future
}

// ProducerIDBlock is a range of producer IDs owned by one broker.
type ProducerIDBlock struct {
	First int64 // the first ID of the block
	Count int64 // how many IDs, First..First+Count-1
}

// maxProducerIDBlock bounds one allocation.
const maxProducerIDBlock = 1 << 20

func (c *allocateProducerIDs) result() any {
	return ProducerIDBlock{First: c.first, Count: c.Count}
}

func (s *state) applyAllocateProducerIDs(c *allocateProducerIDs) (bool, error) {
	if c.Count <= 0 || c.Count > maxProducerIDBlock {
		return false, fmt.Errorf("%w: producer id block of %d", ErrInvalidCommand, c.Count)
	}
	if s.nextProducerID > math.MaxInt64-c.Count {
		return false, fmt.Errorf("%w: producer ids exhausted", ErrInvalidCommand)
	}
	c.first = s.nextProducerID
	s.nextProducerID += c.Count
	return true, nil
}

// AllocateProducerIDs reserves count producer IDs for broker and returns
// the block. Blocks are cluster-unique and never handed out twice, across
// restarts and leader changes, because the next free ID is replicated
// state.
func (s *Store) AllocateProducerIDs(ctx context.Context, broker int32, count int64) (ProducerIDBlock, error) {
	return viaLeader(s, ctx, mAllocateProducerIDs, producerIDsArgs{Broker: broker, Count: count}, func(ctx context.Context) (ProducerIDBlock, error) {
		return s.allocateProducerIDs(ctx, broker, count)
	})
}

func (s *Store) allocateProducerIDs(ctx context.Context, broker int32, count int64) (ProducerIDBlock, error) {
	if count <= 0 || count > maxProducerIDBlock {
		return ProducerIDBlock{}, fmt.Errorf("%w: producer id block of %d", ErrInvalidCommand, count)
	}
	var blk ProducerIDBlock
	err := s.applyResult(ctx, cmdAllocateProducerIDs, &allocateProducerIDs{Broker: broker, Count: count}, func(r any) {
		if b, ok := r.(ProducerIDBlock); ok {
			blk = b
		}
	})
	if err != nil {
		return ProducerIDBlock{}, err
	}
	if blk.Count != count {
		return ProducerIDBlock{}, fmt.Errorf("meta: %v: no block in the apply result", cmdAllocateProducerIDs)
	}
	return blk, nil
}

// NextProducerID is the first producer ID not yet allocated.
func (s *Store) NextProducerID() int64 {
	var n int64
	s.fsm.read(func(st *state) { n = st.nextProducerID })
	return n
}
