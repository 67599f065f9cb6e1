package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Files beside the segments that belong to the producer and transaction
// layer above: producer-state snapshots named by the log offset they were
// taken at (<20 digits>.snapshot, like Kafka's), and one aborted-
// transaction index per segment (<segment>.txnindex) holding fixed-size
// entries in Kafka's layout. The log stores and removes these files; what
// they mean is the caller's business.
const (
	producerSnapshotSuffix = ".snapshot"
	txnIndexSuffix         = ".txnindex"
	txnIndexEntrySize      = 34 // version int16, producer int64, first, last, lastStable int64
	// keptProducerSnapshots is how many snapshots survive a new one.
	keptProducerSnapshots = 2
)

// AbortedTxnEntry is one .txnindex entry.
type AbortedTxnEntry struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// WriteProducerSnapshot durably stores a producer-state snapshot taken at
// offset and removes all but the newest few.
func (l *Log) WriteProducerSnapshot(offset int64, data []byte) error {
	if err := l.usable(); err != nil {
		return err
	}
	if err := writeFileAtomic(l.dir, segmentName(offset)+producerSnapshotSuffix, data); err != nil {
		return fmt.Errorf("producer snapshot %d: %w", offset, err)
	}
	offs, err := l.ProducerSnapshotOffsets()
	if err != nil {
		return err
	}
	for len(offs) > keptProducerSnapshots {
		_ = os.Remove(l.path(segmentName(offs[0]) + producerSnapshotSuffix))
		offs = offs[1:]
	}
	return nil
}

// ProducerSnapshotOffsets lists the offsets of the stored producer
// snapshots, oldest first.
func (l *Log) ProducerSnapshotOffsets() ([]int64, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range ents {
		stem, ok := strings.CutSuffix(e.Name(), producerSnapshotSuffix)
		if !ok || len(stem) != 20 {
			continue
		}
		if n, err := strconv.ParseInt(stem, 10, 64); err == nil && n >= 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ReadProducerSnapshot returns the snapshot taken at offset.
func (l *Log) ReadProducerSnapshot(offset int64) ([]byte, error) {
	return os.ReadFile(l.path(segmentName(offset) + producerSnapshotSuffix))
}

// RemoveProducerSnapshot deletes the snapshot taken at offset (a damaged
// one, or one past the log end after a truncation).
func (l *Log) RemoveProducerSnapshot(offset int64) error {
	err := os.Remove(l.path(segmentName(offset) + producerSnapshotSuffix))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// AppendAbortedTxn durably appends e to the active segment's .txnindex.
// Call it after the abort marker at e.LastOffset was appended.
func (l *Log) AppendAbortedTxn(e AbortedTxnEntry) error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	base := l.segs[len(l.segs)-1].base
	l.mu.RUnlock()
	b := make([]byte, txnIndexEntrySize)
	binary.BigEndian.PutUint16(b[0:], 0)
	binary.BigEndian.PutUint64(b[2:], uint64(e.ProducerID))
	binary.BigEndian.PutUint64(b[10:], uint64(e.FirstOffset))
	binary.BigEndian.PutUint64(b[18:], uint64(e.LastOffset))
	binary.BigEndian.PutUint64(b[26:], uint64(e.LastStableOffset))
	f, err := os.OpenFile(l.path(segmentName(base)+txnIndexSuffix), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = l.datasync(f)
	}
	return errors.Join(err, f.Close())
}

// AbortedTxns reads the .txnindex files of the log's segments, in offset
// order, keeping entries whose marker lies inside the log. A torn last
// entry is ignored; an index without a segment is removed.
func (l *Log) AbortedTxns() ([]AbortedTxnEntry, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return nil, ErrClosed
	}
	bases := make(map[int64]bool, len(l.segs))
	for _, s := range l.segs {
		bases[s.base] = true
	}
	start, end := l.start, l.end
	l.mu.RUnlock()
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var out []AbortedTxnEntry
	for _, de := range ents {
		stem, ok := strings.CutSuffix(de.Name(), txnIndexSuffix)
		if !ok || len(stem) != 20 {
			continue
		}
		base, err := strconv.ParseInt(stem, 10, 64)
		if err != nil {
			continue
		}
		if !bases[base] {
			_ = os.Remove(filepath.Join(l.dir, de.Name()))
			continue
		}
		b, err := os.ReadFile(filepath.Join(l.dir, de.Name()))
		if err != nil {
			return nil, err
		}
		for len(b) >= txnIndexEntrySize {
			e := AbortedTxnEntry{
				ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
				FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
				LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
				LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
			}
			b = b[txnIndexEntrySize:]
			if e.LastOffset >= start && e.LastOffset < end {
				out = append(out, e)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b AbortedTxnEntry) int {
		switch {
		case a.LastOffset < b.LastOffset:
			return -1
		case a.LastOffset > b.LastOffset:
			return 1
		}
		return 0
	})
	return out, nil
}
