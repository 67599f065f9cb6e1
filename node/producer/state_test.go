package producer

import (
	"errors"
	"math"
	"testing"

	"github.com/stratalog/strata/record"
)

// hdr is a batch of n records from producer pid at epoch starting at seq.
func hdr(pid int64, epoch int16, seq int32, n int32) record.Header {
	return record.Header{Magic: 2, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: n - 1, NumRecords: n}
}

func txnHdr(pid int64, epoch int16, seq int32, n int32) record.Header {
	h := hdr(pid, epoch, seq, n)
	h.Attributes |= 0x10
	return h
}

// appendAt runs Check and, when it allows the batch, Update at offset.
func appendAt(t *testing.T, s *State, h record.Header, offset int64) (*Duplicate, error) {
	t.Helper()
	d, err := s.Check([]record.Header{h})
	if err != nil || d != nil {
		return d, err
	}
	h.BaseOffset = offset
	s.Update([]record.Header{h}, 1000)
	return nil, nil
}

func TestCheckSequences(t *testing.T) {
	type step struct {
		h       record.Header
		offset  int64
		wantErr error
		wantDup *Duplicate
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{h: hdr(1, 0, 0, 3)}, {h: hdr(1, 0, 3, 2), offset: 3}, {h: hdr(1, 0, 5, 1), offset: 5}}},
		{"unknown producer starts anywhere", []step{{h: hdr(1, 0, 42, 1)}, {h: hdr(1, 0, 43, 1), offset: 1}}},
		{"gap", []step{{h: hdr(1, 0, 0, 3)}, {h: hdr(1, 0, 4, 1), offset: 3, wantErr: ErrOutOfOrderSequence}}},
		{"duplicate of the last", []step{{h: hdr(1, 0, 0, 3), offset: 10}, {h: hdr(1, 0, 0, 3), wantDup: &Duplicate{10, 12}}}},
		{"duplicate of an older in-flight batch", []step{
			{h: hdr(1, 0, 0, 1), offset: 0}, {h: hdr(1, 0, 1, 1), offset: 1}, {h: hdr(1, 0, 2, 1), offset: 2},
			{h: hdr(1, 0, 1, 1), wantDup: &Duplicate{1, 1}},
		}},
		{"a batch older than five is out of order", []step{
			{h: hdr(1, 0, 0, 1), offset: 0}, {h: hdr(1, 0, 1, 1), offset: 1}, {h: hdr(1, 0, 2, 1), offset: 2},
			{h: hdr(1, 0, 3, 1), offset: 3}, {h: hdr(1, 0, 4, 1), offset: 4}, {h: hdr(1, 0, 5, 1), offset: 5},
			{h: hdr(1, 0, 0, 1), wantErr: ErrOutOfOrderSequence},
		}},
		{"stale epoch fenced", []step{{h: hdr(1, 2, 0, 1)}, {h: hdr(1, 1, 1, 1), wantErr: ErrInvalidEpoch}}},
		{"new epoch must start at 0", []step{{h: hdr(1, 0, 0, 5)}, {h: hdr(1, 1, 5, 1), wantErr: ErrOutOfOrderSequence}}},
		{"new epoch at 0", []step{{h: hdr(1, 0, 0, 5)}, {h: hdr(1, 1, 0, 1), offset: 5}, {h: hdr(1, 1, 1, 1), offset: 6}}},
		{"sequence wraps", []step{{h: hdr(1, 0, math.MaxInt32-1, 2)}, {h: hdr(1, 0, 0, 1), offset: 2}}},
		{"producers are independent", []step{{h: hdr(1, 0, 0, 1)}, {h: hdr(2, 0, 7, 1), offset: 1}, {h: hdr(1, 0, 1, 1), offset: 2}}},
		{"no producer id is never checked", []step{{h: hdr(-1, -1, -1, 1)}, {h: hdr(-1, -1, -1, 1), offset: 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New()
			for i, st := range c.steps {
				d, err := appendAt(t, s, st.h, st.offset)
				if !errors.Is(err, st.wantErr) || (st.wantErr == nil && err != nil) {
					t.Fatalf("step %d: err %v, want %v", i, err, st.wantErr)
				}
				if (d == nil) != (st.wantDup == nil) || d != nil && *d != *st.wantDup {
					t.Fatalf("step %d: duplicate %+v, want %+v", i, d, st.wantDup)
				}
			}
		})
	}
}

func TestCheckIsAtomicOverARequest(t *testing.T) {
	s := New()
	appendAt(t, s, hdr(1, 0, 0, 1), 0)
	// Two batches in one request: the second continues the first.
	if d, err := s.Check([]record.Header{hdr(1, 0, 1, 2), hdr(1, 0, 3, 1)}); err != nil || d != nil {
		t.Fatalf("check: %v %v", d, err)
	}
	// A gap inside a request refuses it, and the state is unchanged.
	if _, err := s.Check([]record.Header{hdr(1, 0, 1, 2), hdr(1, 0, 9, 1)}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap inside a request: %v", err)
	}
	if e, _ := s.Entry(1); e.LastSeq() != 0 {
		t.Fatalf("check changed the state: last seq %d", e.LastSeq())
	}
}

func TestTransactionsAndLSO(t *testing.T) {
	s := New()
	if s.FirstOpenTxnOffset() != -1 {
		t.Fatal("open transaction in an empty state")
	}
	appendAt(t, s, txnHdr(1, 0, 0, 2), 10)
	appendAt(t, s, txnHdr(2, 0, 0, 1), 12)
	appendAt(t, s, txnHdr(1, 0, 2, 1), 13)
	if got := s.FirstOpenTxnOffset(); got != 10 {
		t.Fatalf("first open txn %d, want 10", got)
	}
	if _, err := s.Check([]record.Header{hdr(1, 0, 3, 1)}); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("non-transactional write inside a transaction: %v", err)
	}
	if _, ok := s.CompleteTxn(1, 0, 0, true, 14, 0); ok {
		t.Fatal("commit produced an aborted entry")
	}
	if got := s.FirstOpenTxnOffset(); got != 12 {
		t.Fatalf("first open txn after commit %d, want 12", got)
	}
	a, ok := s.CompleteTxn(2, 0, 0, false, 15, 0)
	if !ok || a != (AbortedTxn{ProducerID: 2, FirstOffset: 12, LastOffset: 15, LastStableOffset: 16}) {
		t.Fatalf("abort: %+v %v", a, ok)
	}
	if s.FirstOpenTxnOffset() != -1 {
		t.Fatal("transaction still open after markers")
	}
	// Markers from a fenced epoch are refused.
	appendAt(t, s, txnHdr(2, 1, 0, 1), 16)
	if err := s.CheckMarker(2, 0); !errors.Is(err, ErrInvalidEpoch) {
		t.Fatalf("stale marker: %v", err)
	}
	// An abort of a transaction that wrote nothing here indexes nothing.
	if _, ok := s.CompleteTxn(3, 0, 0, false, 17, 0); ok {
		t.Fatal("abort without data indexed")
	}
}

func TestExpireAndTruncate(t *testing.T) {
	s := New()
	h := hdr(1, 0, 0, 1)
	s.Update([]record.Header{h}, 1000)
	h2 := txnHdr(2, 0, 0, 1)
	h2.BaseOffset = 1
	s.Update([]record.Header{h2}, 1000)
	if n := s.Expire(5000, 1000); n != 1 || s.Len() != 1 {
		t.Fatalf("expired %d, left %d: the open transaction must stay", n, s.Len())
	}
	s.TruncateTo(1)
	if s.Len() != 0 || s.FirstOpenTxnOffset() != -1 {
		t.Fatalf("truncate kept %d producers", s.Len())
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := New()
	for i := int32(0); i < 7; i++ {
		appendAt(t, s, hdr(5, 3, i, 1), int64(i))
	}
	appendAt(t, s, txnHdr(6, 0, 0, 1), 7)
	b, err := s.Marshal(8)
	if err != nil {
		t.Fatal(err)
	}
	got, off, err := Unmarshal(b)
	if err != nil || off != 8 {
		t.Fatalf("unmarshal: %v offset %d", err, off)
	}
	if d, _ := got.Check([]record.Header{hdr(5, 3, 6, 1)}); d == nil || d.FirstOffset != 6 {
		t.Fatalf("restored state lost duplicate detection: %+v", d)
	}
	if got.FirstOpenTxnOffset() != 7 {
		t.Fatal("restored state lost the open transaction")
	}
	b[len(b)-2] ^= 1
	if _, _, err := Unmarshal(b); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("damaged snapshot: %v", err)
	}
	if _, _, err := Unmarshal(nil); !errors.Is(err, ErrCorruptSnapshot) {
		t.Fatalf("empty snapshot: %v", err)
	}
}

func TestAborted(t *testing.T) {
	var a Aborted
	a.Add(AbortedTxn{ProducerID: 1, FirstOffset: 0, LastOffset: 5})
	a.Add(AbortedTxn{ProducerID: 2, FirstOffset: 3, LastOffset: 9})
	if a.Add(AbortedTxn{ProducerID: 2, FirstOffset: 3, LastOffset: 9}) {
		t.Fatal("duplicate entry added")
	}
	a.Add(AbortedTxn{ProducerID: 1, FirstOffset: 20, LastOffset: 30})
	if got := a.Overlapping(6, 20); len(got) != 1 || got[0].ProducerID != 2 {
		t.Fatalf("overlapping [6,20): %+v", got)
	}
	if got := a.Overlapping(0, 100); len(got) != 3 {
		t.Fatalf("overlapping all: %+v", got)
	}
	a.DropBefore(6)
	a.DropFrom(30)
	if a.Len() != 1 {
		t.Fatalf("left %d entries", a.Len())
	}
}
