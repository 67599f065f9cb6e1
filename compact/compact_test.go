package compact

import (
	"fmt"
	"testing"
	"time"

	"github.com/stratalog/strata/record"
)

func TestKeyMap(t *testing.T) {
	m := NewKeyMap(100 * EntryBytes)
	if m.Capacity() != 75 {
		t.Fatalf("capacity %d", m.Capacity())
	}
	for i := 0; i < 75; i++ {
		if !m.Put([]byte(fmt.Sprint("k", i)), int64(i)) {
			t.Fatalf("put %d refused", i)
		}
	}
	if m.Put([]byte("new"), 100) {
		t.Fatal("a full map took a new key")
	}
	if !m.Put([]byte("k3"), 200) || m.Get([]byte("k3")) != 200 {
		t.Fatal("a full map must still update a known key")
	}
	if m.Get([]byte("k4")) != 4 || m.Get([]byte("absent")) != -1 {
		t.Fatal("lookups")
	}
	if m.LastOffset() != 200 {
		t.Fatalf("last offset %d", m.LastOffset())
	}
	m.Reset()
	if m.Len() != 0 || m.Get([]byte("k4")) != -1 || m.LastOffset() != -1 {
		t.Fatal("reset")
	}
	if !m.Put([]byte{}, 300) || m.Get([]byte{}) != 300 || m.Get(nil) != 300 {
		t.Fatal("an empty key is a key")
	}
	if NewKeyMap(0).Capacity() != 1 {
		t.Fatal("a tiny map holds one key")
	}
}

func TestCleanable(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	segs := []Segment{
		{Base: 0, Next: 100, Size: 1000, MaxTimestamp: 100_000, Sealed: true},
		{Base: 100, Next: 200, Size: 1000, MaxTimestamp: 500_000, Sealed: true},
		{Base: 200, Next: 300, Size: 1000, MaxTimestamp: 990_000, Sealed: true},
		{Base: 300, Next: 350, Size: 500, MaxTimestamp: 999_000},
	}
	for _, tc := range []struct {
		name               string
		firstDirty, stable int64
		p                  Policy
		want               Range
		due                bool
		why                string
	}{
		{"all sealed, nothing cleaned", 0, 350, Policy{MinDirtyRatio: 0.5}, Range{0, 0, 300, 0, 3000, 3, 0}, true, "dirty ratio"},
		{"never the active segment", 0, 1 << 40, Policy{MinDirtyRatio: 0.5}, Range{0, 0, 300, 0, 3000, 3, 0}, true, "dirty ratio"},
		{"high watermark inside a segment", 0, 250, Policy{MinDirtyRatio: 0.5}, Range{0, 0, 200, 0, 2000, 2, 0}, true, "dirty ratio"},
		{"min lag", 0, 350, Policy{MinDirtyRatio: 0.5, MinLag: 100 * time.Second}, Range{0, 0, 200, 0, 2000, 2, 0}, true, "dirty ratio"},
		{"ratio below", 200, 350, Policy{MinDirtyRatio: 0.5}, Range{0, 200, 300, 2000, 1000, 1, 0}, false, ""},
		{"max lag forces", 100, 350, Policy{MinDirtyRatio: 0.9, MaxLag: 400 * time.Second}, Range{0, 100, 300, 1000, 2000, 2, 0}, true, "max compaction lag"},
		{"max lag not yet", 200, 350, Policy{MinDirtyRatio: 0.9, MaxLag: 400 * time.Second}, Range{0, 200, 300, 2000, 1000, 1, 0}, false, ""},
		{"all clean", 300, 350, Policy{MinDirtyRatio: 0}, Range{0, 300, 300, 3000, 0, 0, 0}, false, ""},
		{"checkpoint below start", -5, 350, Policy{MinDirtyRatio: 0.5}, Range{0, 0, 300, 0, 3000, 3, 0}, true, "dirty ratio"},
	} {
		got := Cleanable(segs, tc.firstDirty, tc.stable, now, tc.p)
		if got != tc.want {
			t.Errorf("%s: range %+v, want %+v", tc.name, got, tc.want)
		}
		due, why := Due(got, segs, now, tc.p)
		if due != tc.due || why != tc.why {
			t.Errorf("%s: due %v %q, want %v %q", tc.name, due, why, tc.due, tc.why)
		}
	}
	if r := Cleanable(nil, 0, 0, now, Policy{}); r != (Range{}) {
		t.Fatal(r)
	}
}

func TestAborted(t *testing.T) {
	a := NewAborted([]AbortedTxn{{ProducerID: 1, First: 10, Last: 20}, {ProducerID: 1, First: 40, Last: 45}, {ProducerID: 2, First: 0, Last: 5}})
	for _, tc := range []struct {
		pid, off int64
		want     bool
	}{{1, 9, false}, {1, 10, true}, {1, 20, true}, {1, 21, false}, {1, 42, true}, {2, 3, true}, {2, 12, false}, {3, 12, false}} {
		if got := a.Contains(tc.pid, tc.off); got != tc.want {
			t.Errorf("%d@%d: %v", tc.pid, tc.off, got)
		}
	}
	if (*Aborted)(nil).Contains(1, 1) {
		t.Fatal("nil index")
	}
}

// batch builds a stored batch at base with one record per key (a nil
// value is a tombstone).
func batch(t *testing.T, base int64, spec record.BatchSpec, kvs ...*string) ([]byte, record.Header) {
	t.Helper()
	var recs []record.Record
	for i := 0; i+1 < len(kvs); i += 2 {
		r := record.Record{TimestampDelta: int64(i)}
		if kvs[i] != nil {
			r.Key = []byte(*kvs[i])
		}
		if kvs[i+1] != nil {
			r.Value = []byte(*kvs[i+1])
		}
		recs = append(recs, r)
	}
	b := record.Build(spec, recs)
	record.SetBaseOffset(b, base)
	h, err := record.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, h
}

func s(v string) *string { return &v }

type kept struct {
	off  int64
	key  string
	tomb bool
}

func contents(t *testing.T, b []byte) (record.Header, []kept) {
	t.Helper()
	h, err := record.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := record.CheckCRC(b, h); err != nil {
		t.Fatal(err)
	}
	var out []kept
	if err := record.ForEachRecord(b, func(r record.Record) bool {
		out = append(out, kept{h.BaseOffset + int64(r.OffsetDelta), string(r.Key), r.Value == nil})
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return h, out
}

func TestFilterLatestPerKeyTombstonesAndHorizon(t *testing.T) {
	m := NewKeyMap(1 << 16)
	spec := record.NewBatchSpec(1000)
	b1, h1 := batch(t, 0, spec, s("a"), s("1"), s("b"), s("1"), s("c"), s("1"))
	b2, h2 := batch(t, 3, spec, s("a"), s("2"), s("b"), nil, nil, s("keyless"))
	b3, h3 := batch(t, 6, spec, s("a"), s("3"))
	for _, x := range []struct {
		h record.Header
		b []byte
	}{{h1, b1}, {h2, b2}} {
		if stop, err := MapBatch(m, x.h, x.b, nil, 0); stop >= 0 || err != nil {
			t.Fatal(stop, err)
		}
	}
	c := &Cleaner{Keys: m, MapEnd: 6, Now: 50_000, DeleteRetentionMs: 10_000}
	var st Stats
	out1, err := c.Filter(h1, b1, &st)
	if err != nil {
		t.Fatal(err)
	}
	if _, got := contents(t, out1); fmt.Sprint(got) != fmt.Sprint([]kept{{2, "c", false}}) {
		t.Fatalf("batch 1 keeps %v", got)
	}
	out2, err := c.Filter(h2, b2, &st)
	if err != nil {
		t.Fatal(err)
	}
	nh, got := contents(t, out2)
	if fmt.Sprint(got) != fmt.Sprint([]kept{{3, "a", false}, {4, "b", true}}) {
		t.Fatalf("batch 2 keeps %v", got)
	}
	if hz, ok := nh.DeleteHorizon(); !ok || hz != 60_000 {
		t.Fatalf("tombstone batch horizon %d %v", hz, ok)
	}
	if nh.BaseOffset != 3 || nh.LastOffsetDelta != 2 {
		t.Fatalf("offsets moved: %+v", nh)
	}
	// Beyond the map: untouched, same bytes.
	if out3, err := c.Filter(h3, b3, &st); err != nil || &out3[0] != &b3[0] {
		t.Fatal("a batch past the map end was rewritten", err)
	}
	if st.KeylessRemoved != 1 || st.BatchesRewritten != 2 {
		t.Fatalf("stats %+v", st)
	}

	// A later pass before the horizon keeps the tombstone as it is; after
	// it, the tombstone goes.
	m2 := NewKeyMap(1 << 16)
	if stop, err := MapBatch(m2, h3, b3, nil, 0); stop >= 0 || err != nil {
		t.Fatal(err)
	}
	c2 := &Cleaner{Keys: m2, MapEnd: 7, Now: 59_999, DeleteRetentionMs: 10_000}
	again, err := c2.Filter(nh, out2, &st)
	if err != nil {
		t.Fatal(err)
	}
	if _, got := contents(t, again); fmt.Sprint(got) != fmt.Sprint([]kept{{4, "b", true}}) {
		t.Fatalf("before the horizon: %v", got)
	}
	c2.Now = 60_000
	after, err := c2.Filter(nh, out2, &st)
	if err != nil || after != nil {
		t.Fatalf("after the horizon the batch should go: %v %v", after, err)
	}
	if st.TombstonesRemoved != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFilterTransactions(t *testing.T) {
	txn := record.BatchSpec{ProducerID: 9, ProducerEpoch: 0, BaseSequence: 0, Transactional: true, FirstTimestamp: 1}
	data, dh := batch(t, 10, txn, s("k"), s("aborted"))
	committed, ch := batch(t, 11, record.BatchSpec{ProducerID: 8, ProducerEpoch: 0, BaseSequence: 1, Transactional: true, FirstTimestamp: 1}, s("k"), s("committed"))
	marker := record.ControlBatch(9, 0, false, 0, 5)
	record.SetBaseOffset(marker, 12)
	mh, _ := record.ParseHeader(marker)
	ab := NewAborted([]AbortedTxn{{ProducerID: 9, First: 10, Last: 12}})

	m := NewKeyMap(1 << 16)
	for _, x := range []struct {
		h record.Header
		b []byte
	}{{dh, data}, {ch, committed}, {mh, marker}} {
		if stop, err := MapBatch(m, x.h, x.b, ab, 0); stop >= 0 || err != nil {
			t.Fatal(err)
		}
	}
	// The aborted write does not count as the key's latest.
	if m.Get([]byte("k")) != 11 {
		t.Fatalf("map has %d", m.Get([]byte("k")))
	}
	c := &Cleaner{Keys: m, MapEnd: 13, Now: 100, DeleteRetentionMs: 50, Aborted: ab}
	var st Stats
	if out, err := c.Filter(dh, data, &st); err != nil || out != nil {
		t.Fatal("aborted data kept", out, err)
	}
	if out, err := c.Filter(ch, committed, &st); err != nil || &out[0] != &committed[0] {
		t.Fatal("committed data changed", err)
	}
	// The marker stays until its horizon, which the first pass sets.
	out, err := c.Filter(mh, marker, &st)
	if err != nil {
		t.Fatal(err)
	}
	oh, recs := contents(t, out)
	if hz, ok := oh.DeleteHorizon(); !ok || hz != 150 || len(recs) != 1 || !oh.IsControl() {
		t.Fatalf("marker %+v %v", oh, recs)
	}
	c.Now = 150
	if gone, err := c.Filter(oh, out, &st); err != nil || gone != nil {
		t.Fatal("expired marker kept", err)
	}
	// Unless it is the producer's newest batch: then it stays, empty.
	c.LastBatch = func(pid int64) (int64, bool) { return 12, pid == 9 }
	kept, err := c.Filter(oh, out, &st)
	if err != nil {
		t.Fatal(err)
	}
	if kh, recs := contents(t, kept); len(recs) != 0 || kh.BaseOffset != 12 || kh.ProducerID != 9 {
		t.Fatalf("producer's last batch %+v %v", kh, recs)
	}
	if st.AbortedRemoved != 1 || st.MarkersRemoved != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMapBatchFull(t *testing.T) {
	m := NewKeyMap(4 * EntryBytes) // 3 keys
	b, h := batch(t, 0, record.NewBatchSpec(1), s("a"), s("1"), s("b"), s("1"))
	if stop, err := MapBatch(m, h, b, nil, 0); stop >= 0 || err != nil {
		t.Fatal(stop, err)
	}
	// Known keys still update a full map; the first new key that does not
	// fit ends the map mid-batch.
	big, bh := batch(t, 2, record.NewBatchSpec(1), s("a"), s("2"), s("c"), s("1"), s("d"), s("1"), s("b"), s("2"))
	stop, err := MapBatch(m, bh, big, nil, 0)
	if err != nil || stop != 4 {
		t.Fatalf("stop %d, %v: want 4 (key d)", stop, err)
	}
	if m.Get([]byte("a")) != 2 || m.Get([]byte("c")) != 3 || m.Get([]byte("d")) != -1 || m.Get([]byte("b")) != 1 {
		t.Fatal("map contents after stopping")
	}
	// The next pass starts at the stop offset, skipping what is before it.
	m2 := NewKeyMap(4 * EntryBytes)
	if stop, err := MapBatch(m2, bh, big, nil, 4); stop >= 0 || err != nil {
		t.Fatal(stop, err)
	}
	if m2.Get([]byte("a")) != -1 || m2.Get([]byte("d")) != 4 || m2.Get([]byte("b")) != 5 {
		t.Fatal("a pass from offset 4 mapped records before it")
	}
}

func TestKeyMapGrowsToItsBound(t *testing.T) {
	const keys = 300_000
	m := NewKeyMap(keys * 2 * EntryBytes)
	if m.Bytes() != initialSlots*EntryBytes {
		t.Fatalf("starts at %d bytes", m.Bytes())
	}
	for i := 0; i < keys; i++ {
		if !m.Put([]byte(fmt.Sprint("key-", i)), int64(i)) {
			t.Fatalf("put %d refused (capacity %d)", i, m.Capacity())
		}
	}
	if m.Bytes() > keys*2*EntryBytes {
		t.Fatalf("grew to %d bytes, bound %d", m.Bytes(), keys*2*EntryBytes)
	}
	for i := 0; i < keys; i += 997 {
		if got := m.Get([]byte(fmt.Sprint("key-", i))); got != int64(i) {
			t.Fatalf("key %d: %d after growing", i, got)
		}
	}
	for m.Put([]byte(fmt.Sprint("more-", m.Len())), 1) {
	}
	if m.Len() != m.Capacity() || m.Bytes() != int64(keys*2)*EntryBytes {
		t.Fatalf("full at %d keys of %d, %d bytes", m.Len(), m.Capacity(), m.Bytes())
	}
}

func BenchmarkKeyMapPut(b *testing.B) {
	m := NewKeyMap(128 << 20)
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("user-%08d", i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Put(keys[i&(len(keys)-1)], int64(i))
	}
}

func TestDueAtDeleteHorizon(t *testing.T) {
	now := time.UnixMilli(10_000)
	segs := []Segment{{Base: 0, Next: 10, Size: 100, MaxTimestamp: 1, Sealed: true}, {Base: 10, Next: 10, Sealed: false}}
	r := Cleanable(segs, 10, 10, now, Policy{MinDirtyRatio: 0.5})
	if due, _ := Due(r, segs, now, Policy{MinDirtyRatio: 0.5}); due {
		t.Fatal("a clean log with no horizon is not due")
	}
	r.NextHorizon = 10_001
	if due, _ := Due(r, segs, now, Policy{MinDirtyRatio: 0.5}); due {
		t.Fatal("due before the horizon")
	}
	r.NextHorizon = 10_000
	if due, why := Due(r, segs, now, Policy{MinDirtyRatio: 0.5}); !due || why != "delete horizon" {
		t.Fatal("not due at the horizon", why)
	}
}
