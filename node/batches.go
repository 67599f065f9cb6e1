package node

import (
	"fmt"

	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
)

// batchReader returns whole batches starting with the one that holds an
// offset: a local log's Read or a cold-tier read.
type batchReader func(from int64) (*storage.ReadResult, error)

// localBatches reads p's local log a few megabytes at a time, below end.
func (p *partition) localBatches(end int64) batchReader {
	return func(from int64) (*storage.ReadResult, error) { return p.log.Read(from, 4<<20, end) }
}

// forEachBatch calls fn with every batch from the one holding from up to
// end, skipping batches wholly below from; it stops at the first error fn
// returns. It is how the broker replays its own logs: producer state,
// transaction state, group state and cold-tier restores.
func forEachBatch(read batchReader, from, end int64, fn func(h record.Header, batch []byte) error) error {
	for from < end {
		rr, err := read(from)
		if err != nil {
			return err
		}
		b, err := rr.Bytes()
		rr.Release()
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return nil
		}
		before := from
		for len(b) > 0 {
			h, err := record.ParseHeader(b)
			if err != nil {
				return err
			}
			if h.Size() > len(b) {
				return fmt.Errorf("batch at %d runs past the read", h.BaseOffset)
			}
			if h.NextOffset() > from {
				if err := fn(h, b[:h.Size()]); err != nil {
					return err
				}
				from = h.NextOffset()
			}
			b = b[h.Size():]
		}
		if from == before {
			return fmt.Errorf("read at %d returned no batch at or past it", from)
		}
	}
	return nil
}
