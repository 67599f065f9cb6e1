package tiering

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// Producer-state snapshots travel with the segments: each upload appends
// the newest snapshot the local log holds at or before the segment's end
// offset to the data object, so a broker restored from the store alone
// knows its idempotent producers again. What a snapshot means is the
// caller's business (node/producer); the tiering layer only moves bytes.

// maxSnapshotBytes bounds one uploaded producer snapshot (the manifest
// record stores its size in 32 bits; real ones are kilobytes).
const maxSnapshotBytes = 64 << 20

// restoreSnapshotDepth is how many of the newest remote segments a
// restore looks through for one that carries a snapshot.
const restoreSnapshotDepth = 16

// SnapshotLog is the optional capability of a LocalLog that keeps
// producer-state snapshots (*storage.Log has it).
type SnapshotLog interface {
	ProducerSnapshotOffsets() ([]int64, error)
	ReadProducerSnapshot(offset int64) ([]byte, error)
}

// snapshotFor returns the newest local producer snapshot taken at or
// before end; ok is false when the log keeps none.
func snapshotFor(l LocalLog, end int64) (offset int64, data []byte, ok bool, err error) {
	sl, is := l.(SnapshotLog)
	if !is {
		return 0, nil, false, nil
	}
	offs, err := sl.ProducerSnapshotOffsets()
	if err != nil {
		return 0, nil, false, err
	}
	for i := len(offs) - 1; i >= 0; i-- {
		if offs[i] > end {
			continue
		}
		data, err := sl.ReadProducerSnapshot(offs[i])
		if errors.Is(err, os.ErrNotExist) {
			continue // replaced by a newer one meanwhile
		}
		if err != nil {
			return 0, nil, false, err
		}
		if len(data) == 0 || len(data) > maxSnapshotBytes {
			continue
		}
		return offs[i], data, true, nil
	}
	return 0, nil, false, nil
}

// RestoredSnapshot is the producer-state snapshot found in the store when a
// partition's local log was restarted at the remote end: the state as of
// Offset (<= the remote end). The caller replays the remote records of
// [Offset, remote end) on top of it.
type RestoredSnapshot struct {
	Offset int64
	Data   []byte
}

// TakeRestoredSnapshot returns, once, the producer snapshot found when the
// partition was restored from the store; ok is false otherwise.
func (p *Partition) TakeRestoredSnapshot() (RestoredSnapshot, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.mu.restored
	p.mu.restored = nil
	if s == nil {
		return RestoredSnapshot{}, false
	}
	return *s, true
}

// findRemoteSnapshot returns the snapshot of the newest of the last few
// remote segments that carries one.
func (p *Partition) findRemoteSnapshot(ctx context.Context) (*RestoredSnapshot, error) {
	return p.SnapshotAtOrBelow(ctx, math.MaxInt64)
}

// SnapshotAtOrBelow returns the producer snapshot of the newest remote
// segment, among the last few that end at or below offset, that carries
// one taken at or below offset (nil when none does): the state a replica
// whose log now starts at offset replays the store's batches onto.
func (p *Partition) SnapshotAtOrBelow(ctx context.Context, offset int64) (*RestoredSnapshot, error) {
	var tail []Segment
	if err := p.man.Scan(func(s Segment) bool {
		if s.NextOffset > offset {
			return false
		}
		if len(tail) == restoreSnapshotDepth {
			tail = tail[1:]
		}
		tail = append(tail, s)
		return true
	}); err != nil {
		return nil, err
	}
	for i := len(tail) - 1; i >= 0; i-- {
		if tail[i].SnapshotSize == 0 {
			continue
		}
		e, err := p.fetchEntry(ctx, tail[i].BaseOffset)
		if err != nil {
			return nil, err
		}
		if e.SnapshotSize == 0 || e.UploadID != tail[i].UploadID || e.SnapshotOffset > offset {
			continue
		}
		rc, err := p.m.store.GetRange(ctx, segmentKey(p.root, e.BaseOffset, e.UploadID), e.Size+e.IndexSize+e.TimeIndexSize, e.SnapshotSize)
		if err != nil {
			return nil, fmt.Errorf("reading producer snapshot of segment %d: %w", e.BaseOffset, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, e.SnapshotSize+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("reading producer snapshot of segment %d: %w", e.BaseOffset, err)
		}
		if int64(len(data)) != e.SnapshotSize {
			return nil, fmt.Errorf("%w: producer snapshot of segment %d is %d bytes, entry says %d", ErrCorruptManifest, e.BaseOffset, len(data), e.SnapshotSize)
		}
		return &RestoredSnapshot{Offset: e.SnapshotOffset, Data: data}, nil
	}
	return nil, nil
}
