package record

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// legacyBatch is the hand-built encoding Build replaced (node and
// node/group built batches this way); Build must produce the same bytes.
func legacyBatch(kvs [][2][]byte, ts int64, pid int64, epoch int16, attrs int16) []byte {
	var raw []byte
	for i, kv := range kvs {
		r := kmsg.NewRecord()
		r.OffsetDelta = int32(i)
		r.Key, r.Value = kv[0], kv[1]
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		raw = r.AppendTo(raw)
	}
	b := kmsg.NewRecordBatch()
	b.PartitionLeaderEpoch = -1
	b.Magic = 2
	b.Attributes = attrs
	b.LastOffsetDelta = int32(len(kvs) - 1)
	b.FirstTimestamp, b.MaxTimestamp = ts, ts
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = pid, epoch, -1
	b.NumRecords = int32(len(kvs))
	b.Records = raw
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

func TestBuildMatchesLegacy(t *testing.T) {
	big := bytes.Repeat([]byte("v"), 300)
	cases := []struct {
		name  string
		kvs   [][2][]byte
		pid   int64
		epoch int16
		txn   bool
	}{
		{"one", [][2][]byte{{[]byte("k"), []byte("v")}}, -1, -1, false},
		{"null key and tombstone", [][2][]byte{{nil, []byte("v")}, {[]byte("k"), nil}}, -1, -1, false},
		{"large value", [][2][]byte{{[]byte("k"), big}, {[]byte("k2"), big}}, -1, -1, false},
		{"transactional", [][2][]byte{{[]byte("a"), []byte("b")}}, 7, 3, true},
	}
	for _, c := range cases {
		spec := NewBatchSpec(1_700_000_000_123)
		var attrs int16
		if c.txn {
			spec.ProducerID, spec.ProducerEpoch, spec.Transactional = c.pid, c.epoch, true
			attrs = 0x10
		}
		recs := make([]Record, len(c.kvs))
		for i, kv := range c.kvs {
			recs[i] = Record{Key: kv[0], Value: kv[1]}
		}
		got := Build(spec, recs)
		want := legacyBatch(c.kvs, spec.FirstTimestamp, c.pid, c.epoch, attrs)
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: Build differs from the hand-built batch\n got %x\nwant %x", c.name, got, want)
		}
		mustValidate(t, got)
	}
}

func TestControlBatchMatchesLegacy(t *testing.T) {
	for _, commit := range []bool{true, false} {
		key := kmsg.NewControlRecordKey()
		key.Type = kmsg.ControlRecordKeyTypeAbort
		if commit {
			key.Type = kmsg.ControlRecordKeyTypeCommit
		}
		val := kmsg.NewEndTxnMarker()
		val.CoordinatorEpoch = 5
		want := legacyBatch([][2][]byte{{key.AppendTo(nil), val.AppendTo(nil)}}, 42, 9, 2, 0x30)
		got := ControlBatch(9, 2, commit, 5, 42)
		if !bytes.Equal(got, want) {
			t.Fatalf("commit=%v: ControlBatch differs\n got %x\nwant %x", commit, got, want)
		}
		// Validate refuses control batches from clients, so check the
		// parts it would: header, CRC and record structure.
		h, err := ParseHeader(got)
		if err != nil || !h.IsControl() || !h.IsTransactional() {
			t.Fatalf("header %+v, %v", h, err)
		}
		if err := CheckCRC(got, h); err != nil {
			t.Fatal(err)
		}
		if err := ForEachRecord(got, func(Record) bool { return true }); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBuildHeadersAndTimestamps(t *testing.T) {
	spec := NewBatchSpec(1000)
	spec.ProducerID, spec.ProducerEpoch, spec.BaseSequence = 11, 0, 40
	recs := []Record{
		{TimestampDelta: 0, Key: []byte("a"), Value: []byte("1"), Headers: []RecordHeader{{Key: []byte("h"), Value: []byte("x")}, {Key: []byte("n")}}},
		{TimestampDelta: 25, Value: []byte("2")},
		{TimestampDelta: 5, Key: []byte("c")},
	}
	b := Build(spec, recs)
	mustValidate(t, b)
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.MaxTimestamp != 1025 || h.ProducerID != 11 || h.BaseSequence != 40 || h.NumRecords != 3 || h.IsTransactional() {
		t.Fatalf("header %+v", h)
	}
	var got []Record
	if err := ForEachRecord(b, func(r Record) bool { got = append(got, r); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || len(got[0].Headers) != 2 || string(got[0].Headers[0].Value) != "x" || got[0].Headers[1].Value != nil ||
		got[1].Key != nil || got[2].Value != nil || got[1].TimestampDelta != 25 || got[2].OffsetDelta != 2 {
		t.Fatalf("records %+v", got)
	}
}

func mustValidate(t *testing.T, b []byte) {
	t.Helper()
	if _, err := Validate(b, 1<<20); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}
