package tiering

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
)

// Replicas roll their segments on their own clocks, so a new leader's
// sealed segment can begin before the offset where the previous leader's
// uploads end. Its batches are the same bytes (followers append the
// leader's batches unchanged), so the new leader uploads only the part from
// that offset on: the object is the segment's batches from the batch that
// starts there, with its offset and time indexes cut and rebased to the new
// base. The remote log stays a chain of segments with no gap and no
// overlap.

// tail is the part of a segment from an offset on.
type tail struct {
	pos       int64  // file position of the batch at the offset
	index     []byte // offset index entries at or past it, rebased
	timeIndex []byte // time index entries at or past it, rebased
}

const (
	offsetIndexEntry = 8  // relative offset, position (uint32 each)
	timeIndexEntry   = 12 // timestamp (int64), relative offset (uint32)
)

// segmentTail finds the batch of seg that starts at from and cuts the
// segment's indexes there. files are the open log, index and time index;
// sizes their usable lengths. A segment with no batch starting at from
// (the local log diverges from the remote one) is ErrDiverged.
func segmentTail(files []*os.File, sizes []int64, seg storage.SegmentInfo, from int64) (tail, error) {
	var t tail
	if from <= seg.BaseOffset || from >= seg.NextOffset {
		return t, fmt.Errorf("tiering: tail at %d of segment [%d, %d)", from, seg.BaseOffset, seg.NextOffset)
	}
	index := make([]byte, sizes[1])
	if _, err := io.ReadFull(io.NewSectionReader(files[1], 0, sizes[1]), index); err != nil {
		return t, fmt.Errorf("reading the offset index of %s: %w", seg.Path, err)
	}
	timeIndex := make([]byte, sizes[2])
	if _, err := io.ReadFull(io.NewSectionReader(files[2], 0, sizes[2]), timeIndex); err != nil {
		return t, fmt.Errorf("reading the time index of %s: %w", seg.Path, err)
	}
	rel := uint32(from - seg.BaseOffset)
	// Scan batch headers from the last index entry at or below from.
	pos := int64(0)
	for i := 0; i+offsetIndexEntry <= len(index); i += offsetIndexEntry {
		if binary.BigEndian.Uint32(index[i:]) > rel {
			break
		}
		pos = int64(binary.BigEndian.Uint32(index[i+4:]))
	}
	var hdr [record.HeaderSize]byte
	for {
		if pos+record.HeaderSize > seg.Size {
			return t, fmt.Errorf("%w: segment %s has no batch starting at %d", ErrDiverged, seg.Path, from)
		}
		if _, err := files[0].ReadAt(hdr[:], pos); err != nil {
			return t, fmt.Errorf("reading %s at %d: %w", seg.Path, pos, err)
		}
		h, err := record.ParseHeader(hdr[:])
		if err != nil {
			return t, fmt.Errorf("%w: %s at %d: %w", ErrCorruptLocal, seg.Path, pos, err)
		}
		if h.BaseOffset == from {
			break
		}
		if h.BaseOffset > from || h.NextOffset() > from {
			return t, fmt.Errorf("%w: segment %s has no batch starting at %d (batch [%d, %d))", ErrDiverged, seg.Path, from, h.BaseOffset, h.NextOffset())
		}
		pos += int64(h.Size())
	}
	t.pos = pos
	for i := 0; i+offsetIndexEntry <= len(index); i += offsetIndexEntry {
		r, p := binary.BigEndian.Uint32(index[i:]), int64(binary.BigEndian.Uint32(index[i+4:]))
		if r <= rel || p <= pos {
			continue // the first batch of the tail is found at position 0
		}
		t.index = binary.BigEndian.AppendUint32(t.index, r-rel)
		t.index = binary.BigEndian.AppendUint32(t.index, uint32(p-pos))
	}
	for i := 0; i+timeIndexEntry <= len(timeIndex); i += timeIndexEntry {
		ts, r := binary.BigEndian.Uint64(timeIndex[i:]), binary.BigEndian.Uint32(timeIndex[i+8:])
		if r < rel {
			continue
		}
		t.timeIndex = binary.BigEndian.AppendUint64(t.timeIndex, ts)
		t.timeIndex = binary.BigEndian.AppendUint32(t.timeIndex, r-rel)
	}
	return t, nil
}
