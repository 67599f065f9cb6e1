package producer

import (
	"errors"
	"reflect"
	"testing"
)

func TestSnapshotCarriesAbortedTransactions(t *testing.T) {
	s := New()
	aborted := []AbortedTxn{{ProducerID: 7, FirstOffset: 0, LastOffset: 10, LastStableOffset: 11}, {ProducerID: 9, FirstOffset: 20, LastOffset: 25, LastStableOffset: 26}}
	data, err := s.MarshalWithAborted(30, aborted)
	if err != nil {
		t.Fatal(err)
	}
	_, off, got, err := UnmarshalWithAborted(data)
	if err != nil || off != 30 || !reflect.DeepEqual(got, aborted) {
		t.Fatalf("round trip: off %d aborted %+v err %v", off, got, err)
	}
	// Old-style snapshots (no aborted list) still load.
	plain, _ := s.Marshal(30)
	if _, _, got, err := UnmarshalWithAborted(plain); err != nil || len(got) != 0 {
		t.Fatalf("plain snapshot: %+v %v", got, err)
	}
	// An entry past the snapshot's offset is refused as corrupt.
	bad, _ := s.MarshalWithAborted(5, aborted)
	if _, _, _, err := UnmarshalWithAborted(bad); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("inconsistent snapshot accepted: %v", err)
	}
}
