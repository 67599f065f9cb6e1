package storage

import (
	"fmt"
)

// What the tiering layer needs from a log: read results over files that are
// not segments (the cold tier's chunk cache), the leader-epoch ranges of
// the records it uploads, and an empty log restarted at the offset where
// the cold tier ends (a node restored with an empty data directory).

// NewReadResult returns a read result over arbitrary file ranges, for data
// served from files other than segments. release runs once, at the first
// Release; it should close the files.
func NewReadResult(chunks []Chunk, release func()) *ReadResult {
	r := &ReadResult{Chunks: chunks, onRelease: release}
	for _, c := range chunks {
		r.Size += c.Len
	}
	return r
}

// EpochStart is one entry of the leader-epoch cache: the first offset
// written under a leader epoch.
type EpochStart struct {
	Epoch       int32
	StartOffset int64
}

// LeaderEpochs returns the leader-epoch cache, oldest first.
func (l *Log) LeaderEpochs() []EpochStart {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]EpochStart, len(l.epochs))
	for i, e := range l.epochs {
		out[i] = EpochStart{Epoch: e.epoch, StartOffset: e.start}
	}
	return out
}

// ResetEmpty restarts a log that holds no records as an empty log whose
// start and end are offset, persisting the start. It refuses a log that
// has records: it is meant for a log restored from the cold tier, whose
// local part begins where the remote part ends.
func (l *Log) ResetEmpty(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.usable(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if offset < 0 {
		return fmt.Errorf("%w: reset to negative offset %d", ErrOffsetOutOfRange, offset)
	}
	for _, s := range l.segs {
		if s.size > 0 {
			return fmt.Errorf("%w: reset of a log holding records [%d, %d)", ErrBadAppend, l.start, l.end)
		}
	}
	if l.end == offset && l.start == offset {
		return nil
	}
	if err := l.resetTo(offset); err != nil {
		return fmt.Errorf("reset log to %d: %w", offset, err)
	}
	l.tick.offset = -1
	l.unsynced = nil
	l.synced.Store(offset)
	if err := writeOffsetCheckpoint(l.dir, startOffsetName, offset); err != nil {
		return fmt.Errorf("persist log start offset: %w", err)
	}
	return syncDir(l.dir)
}
