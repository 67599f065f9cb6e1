package record

import (
	"bytes"
	"errors"
	"testing"
)

func TestRebuildKeepsBatchFieldsEveryCodec(t *testing.T) {
	spec := BatchSpec{ProducerID: 7, ProducerEpoch: 2, BaseSequence: 40, Transactional: true, FirstTimestamp: 1000}
	var recs []Record
	for i := 0; i < 6; i++ {
		recs = append(recs, Record{TimestampDelta: int64(i * 10), Key: []byte{byte('a' + i)}, Value: bytes.Repeat([]byte{byte(i)}, 50),
			Headers: []RecordHeader{{Key: []byte("h"), Value: []byte{byte(i)}}}})
	}
	orig := Build(spec, recs)
	SetBaseOffset(orig, 500)
	SetPartitionLeaderEpoch(orig, 3)
	h0, err := ParseHeader(orig)
	if err != nil {
		t.Fatal(err)
	}
	for codec := CodecNone; codec <= CodecZstd; codec++ {
		h := h0
		h.Attributes = h.Attributes&^codecMask | int16(codec)
		// Keep records 1, 3 and 5 (offset deltas with gaps; the last kept).
		keep := []Record{recs[1], recs[3], recs[5]}
		keep[0].OffsetDelta, keep[1].OffsetDelta, keep[2].OffsetDelta = 1, 3, 5
		for _, horizon := range []int64{0, 99_000} {
			b, err := Rebuild(h, keep, horizon)
			if err != nil {
				t.Fatalf("%v: %v", codec, err)
			}
			got, err := ParseHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckCRC(b, got); err != nil {
				t.Fatalf("%v: %v", codec, err)
			}
			if got.BaseOffset != 500 || got.LastOffsetDelta != 5 || got.PartitionLeaderEpoch != 3 || got.ProducerID != 7 ||
				got.ProducerEpoch != 2 || got.BaseSequence != 40 || !got.IsTransactional() || got.Codec() != codec ||
				got.MaxTimestamp != h.MaxTimestamp || got.NumRecords != 3 {
				t.Fatalf("%v: header %+v", codec, got)
			}
			hz, ok := got.DeleteHorizon()
			if ok != (horizon > 0) || (ok && hz != horizon) {
				t.Fatalf("%v: horizon %d %v, want %d", codec, hz, ok, horizon)
			}
			var deltas []int32
			err = ForEachRecord(b, func(r Record) bool {
				i := int(r.OffsetDelta)
				if ts := got.RecordTimestamp(r); ts != 1000+int64(i*10) {
					t.Errorf("%v: record %d timestamp %d", codec, i, ts)
				}
				if !bytes.Equal(r.Key, recs[i].Key) || !bytes.Equal(r.Value, recs[i].Value) || len(r.Headers) != 1 {
					t.Errorf("%v: record %d changed", codec, i)
				}
				deltas = append(deltas, r.OffsetDelta)
				return true
			})
			if err != nil || len(deltas) != 3 {
				t.Fatalf("%v: %v %v", codec, deltas, err)
			}
			// A thinned batch is a stored batch, not a producer's.
			if _, err := ValidateStored(b); err != nil {
				t.Fatalf("%v: %v", codec, err)
			}
			if _, err := Validate(b, 1<<20); err == nil {
				t.Fatalf("%v: a thinned batch passed producer validation", codec)
			}
		}
	}
	// An empty batch keeps the producer's place.
	b, err := Rebuild(h0, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ParseHeader(b)
	if got.NumRecords != 0 || got.LastOffsetDelta != 5 || got.BaseSequence != 40 || CheckCRC(b, got) != nil {
		t.Fatalf("empty batch %+v", got)
	}
	if err := ForEachRecord(b, func(Record) bool { t.Fatal("record in empty batch"); return true }); err != nil {
		t.Fatal(err)
	}
}

func TestValidateKeyed(t *testing.T) {
	keyed := Build(NewBatchSpec(1), []Record{{Key: []byte("k"), Value: []byte("v")}, {Key: []byte{}, Value: nil}})
	if _, err := ValidateKeyed(keyed, 1<<20); err != nil {
		t.Fatalf("keyed batch (an empty key is a key): %v", err)
	}
	keyless := Build(NewBatchSpec(1), []Record{{Key: []byte("k"), Value: []byte("v")}, {Key: nil, Value: []byte("v")}})
	if _, err := Validate(keyless, 1<<20); err != nil {
		t.Fatal(err)
	}
	_, err := ValidateKeyed(keyless, 1<<20)
	if !errors.Is(err, ErrNoKey) || !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("keyless batch: %v", err)
	}
	if KafkaError(err).Code != 87 {
		t.Fatalf("kafka error %v", KafkaError(err))
	}
}
