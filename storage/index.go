package storage

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
)

// offsetEntry maps a batch's base offset, relative to the segment base, to
// the file position of the batch.
type offsetEntry struct {
	rel uint32
	pos uint32
}

// timeEntry records the largest timestamp seen so far in a segment and the
// relative base offset of the batch that holds it.
type timeEntry struct {
	ts  int64
	rel uint32
}

const (
	offsetEntrySize = 8
	timeEntrySize   = 12
)

// lookupOffset returns the position to scan from for relative offset rel:
// that of the last entry at or below it, or 0.
func lookupOffset(entries []offsetEntry, rel uint32) int64 {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].rel > rel })
	if i == 0 {
		return 0
	}
	return int64(entries[i-1].pos)
}

// lookupTime returns the relative offset to scan from for the first record
// with a timestamp >= ts: that of the last entry whose timestamp is below
// ts (all records before it are older), or 0.
func lookupTime(entries []timeEntry, ts int64) (uint32, bool) {
	i := sort.Search(len(entries), func(i int) bool { return entries[i].ts >= ts })
	if i == 0 {
		return 0, false
	}
	return entries[i-1].rel, true
}

func appendOffsetEntry(dst []byte, e offsetEntry) []byte {
	dst = binary.BigEndian.AppendUint32(dst, e.rel)
	return binary.BigEndian.AppendUint32(dst, e.pos)
}

func appendTimeEntry(dst []byte, e timeEntry) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.ts))
	return binary.BigEndian.AppendUint32(dst, e.rel)
}

// loadOffsetIndex reads an offset index file and checks it against the
// segment: whole entries, strictly increasing offsets and positions, all
// positions inside the log file.
func loadOffsetIndex(path string, logSize int64) ([]offsetEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%offsetEntrySize != 0 {
		return nil, fmt.Errorf("%w: %s: %d bytes is not whole entries", ErrCorruptSegment, path, len(b))
	}
	out := make([]offsetEntry, 0, len(b)/offsetEntrySize)
	for i := 0; i < len(b); i += offsetEntrySize {
		e := offsetEntry{rel: binary.BigEndian.Uint32(b[i:]), pos: binary.BigEndian.Uint32(b[i+4:])}
		if int64(e.pos) >= logSize || (len(out) > 0 && (e.rel <= out[len(out)-1].rel || e.pos <= out[len(out)-1].pos)) {
			return nil, fmt.Errorf("%w: %s: entry %d out of order or past the log", ErrCorruptSegment, path, i/offsetEntrySize)
		}
		out = append(out, e)
	}
	return out, nil
}

// loadTimeIndex reads a time index file: whole entries with increasing
// timestamps and relative offsets below maxRel.
func loadTimeIndex(path string, maxRel int64) ([]timeEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%timeEntrySize != 0 {
		return nil, fmt.Errorf("%w: %s: %d bytes is not whole entries", ErrCorruptSegment, path, len(b))
	}
	out := make([]timeEntry, 0, len(b)/timeEntrySize)
	for i := 0; i < len(b); i += timeEntrySize {
		e := timeEntry{ts: int64(binary.BigEndian.Uint64(b[i:])), rel: binary.BigEndian.Uint32(b[i+8:])}
		if int64(e.rel) >= maxRel || (len(out) > 0 && (e.ts <= out[len(out)-1].ts || e.rel < out[len(out)-1].rel)) {
			return nil, fmt.Errorf("%w: %s: entry %d out of order", ErrCorruptSegment, path, i/timeEntrySize)
		}
		out = append(out, e)
	}
	return out, nil
}
