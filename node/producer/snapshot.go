package producer

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
)

// snapshotFormat versions the encoding of Marshal.
const snapshotFormat = 1

type snapshotJSON struct {
	Format  int     `json:"format"`
	Offset  int64   `json:"offset"`
	Entries []Entry `json:"entries"`
	// Aborted lists the partition's aborted transactions below Offset.
	// Segments (and their .txnindex files) leave local disk once tiered,
	// so the snapshot — uploaded with every segment — is what carries the
	// aborted list across restarts and restores.
	Aborted []AbortedTxn `json:"aborted,omitempty"`
}

// Marshal encodes the state as of log offset (the log end when taken): a
// CRC-32C of the body followed by the body.
func (s *State) Marshal(offset int64) ([]byte, error) {
	return s.MarshalWithAborted(offset, nil)
}

// MarshalWithAborted is Marshal carrying the aborted transactions too.
func (s *State) MarshalWithAborted(offset int64, aborted []AbortedTxn) ([]byte, error) {
	body, err := json.Marshal(snapshotJSON{Format: snapshotFormat, Offset: offset, Entries: s.Entries(), Aborted: aborted})
	if err != nil {
		return nil, fmt.Errorf("producer: encoding snapshot: %w", err)
	}
	out := make([]byte, 4, 4+len(body))
	c := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
	out[0], out[1], out[2], out[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	return append(out, body...), nil
}

// Unmarshal decodes a snapshot written by Marshal and returns the state
// and the offset it was taken at. Damaged input is ErrCorruptSnapshot.
func Unmarshal(data []byte) (*State, int64, error) {
	s, off, _, err := UnmarshalWithAborted(data)
	return s, off, err
}

// UnmarshalWithAborted is Unmarshal returning the aborted transactions the
// snapshot carries as well.
func UnmarshalWithAborted(data []byte) (*State, int64, []AbortedTxn, error) {
	s, off, snap, err := unmarshal(data)
	if err != nil {
		return nil, 0, nil, err
	}
	for _, a := range snap.Aborted {
		if a.ProducerID < 0 || a.FirstOffset > a.LastOffset || a.LastOffset >= off {
			return nil, 0, nil, fmt.Errorf("%w: aborted transaction %+v", ErrCorruptSnapshot, a)
		}
	}
	return s, off, snap.Aborted, nil
}

func unmarshal(data []byte) (*State, int64, snapshotJSON, error) {
	var none snapshotJSON
	if len(data) < 4 {
		return nil, 0, none, fmt.Errorf("%w: %d bytes", ErrCorruptSnapshot, len(data))
	}
	want := uint32(data[0])<<24 | uint32(data[1])<<16 | uint32(data[2])<<8 | uint32(data[3])
	body := data[4:]
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != want {
		return nil, 0, none, fmt.Errorf("%w: checksum mismatch", ErrCorruptSnapshot)
	}
	var snap snapshotJSON
	if err := json.Unmarshal(body, &snap); err != nil {
		return nil, 0, none, fmt.Errorf("%w: %v", ErrCorruptSnapshot, err)
	}
	if snap.Format != snapshotFormat {
		return nil, 0, none, fmt.Errorf("%w: format %d", ErrCorruptSnapshot, snap.Format)
	}
	s := New()
	for i := range snap.Entries {
		e := snap.Entries[i]
		if len(e.Batches) > MaxBatches || e.ProducerID < 0 {
			return nil, 0, none, fmt.Errorf("%w: entry for producer %d", ErrCorruptSnapshot, e.ProducerID)
		}
		s.entries[e.ProducerID] = e.clone()
	}
	return s, snap.Offset, snap, nil
}
