package tiering

import (
	"testing"
	"time"
)

// Remote segments wholly below the DeleteRecords log start are deleted
// even with infinite retention; the one holding it stays.
func TestPlanRemoteRetentionBelowLogStart(t *testing.T) {
	head := []Segment{
		{BaseOffset: 0, NextOffset: 100, Size: 10, MaxTimestamp: 1},
		{BaseOffset: 100, NextOffset: 200, Size: 10, MaxTimestamp: 2},
		{BaseOffset: 200, NextOffset: 300, Size: 10, MaxTimestamp: 3},
	}
	for _, tc := range []struct {
		logStart int64
		want     int
	}{{-1, 0}, {0, 0}, {99, 0}, {100, 1}, {150, 1}, {200, 2}, {299, 2}, {300, 3}} {
		s := State{Now: time.Now(), Policy: Policy{RemoteEnabled: true, RetentionMs: -1, RetentionBytes: -1, LocalRetentionMs: -1, LocalRetentionBytes: -1},
			RemoteStart: 0, RemoteEnd: 300, RemoteBytes: 30, RemoteHead: head, LogStart: tc.logStart}
		if got := PlanPartition(s).DeleteRemote; got != tc.want {
			t.Errorf("log start %d: delete %d remote segments, want %d", tc.logStart, got, tc.want)
		}
	}
}

// The local manifest record keeps the snapshot size, so the object size
// (and every chunk read of it) covers the snapshot; entries round-trip it.
func TestSnapshotFieldsRoundTrip(t *testing.T) {
	s := Segment{BaseOffset: 5, NextOffset: 9, Size: 100, IndexSize: 8, TimeIndexSize: 12, SnapshotOffset: 7, SnapshotSize: 33, UploadID: [16]byte{1}}
	if got := decodeRecord(encodeRecord(s)); got.SnapshotSize != 33 || got.ObjectSize() != 153 {
		t.Fatalf("record round trip: %+v", got)
	}
	b, err := encodeEntry(s)
	if err != nil {
		t.Fatal(err)
	}
	e, err := decodeEntry(b)
	if err != nil || e.SnapshotOffset != 7 || e.SnapshotSize != 33 {
		t.Fatalf("entry round trip: %+v, %v", e, err)
	}
	s.SnapshotOffset = 10 // past the segment's end
	b, _ = encodeEntry(s)
	if _, err := decodeEntry(b); err == nil {
		t.Fatal("an entry with a snapshot past its end decoded")
	}
}
