package compact

import (
	"bytes"
	"testing"

	"github.com/stratalog/strata/record"
)

// FuzzFilter feeds arbitrary stored batches through the key map and the
// cleaner. They must never panic, and a batch they keep must be a valid
// stored batch with the same offset range.
func FuzzFilter(f *testing.F) {
	spec := record.BatchSpec{ProducerID: 3, ProducerEpoch: 1, BaseSequence: 0, Transactional: true, FirstTimestamp: 10}
	f.Add(record.Build(record.NewBatchSpec(1), []record.Record{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("a")}}), int64(0))
	f.Add(record.Build(spec, []record.Record{{Key: []byte("k"), Value: []byte("v")}}), int64(5))
	f.Add(record.ControlBatch(3, 1, false, 0, 10), int64(7))
	f.Fuzz(func(t *testing.T, b []byte, mapEnd int64) {
		h, err := record.ParseHeader(b)
		if err != nil || h.Size() > len(b) || record.CheckCRC(b, h) != nil {
			// Stored batches passed their CRC check before the cleaner
			// sees them; make the fuzzer's bytes pass it too.
			if len(b) < record.HeaderSize {
				return
			}
			b = record.Seal(append([]byte(nil), b...))
			if h, err = record.ParseHeader(b); err != nil || h.Size() != len(b) {
				return
			}
		}
		keys := NewKeyMap(1 << 16)
		aborted := NewAborted([]AbortedTxn{{ProducerID: h.ProducerID, First: h.BaseOffset, Last: h.BaseOffset + 1}})
		if _, err := MapBatch(keys, h, b, aborted, 0); err != nil {
			return
		}
		c := &Cleaner{Keys: keys, MapEnd: mapEnd, Now: 1 << 40, DeleteRetentionMs: 1000, Aborted: aborted,
			LastBatch: func(pid int64) (int64, bool) { return h.LastOffset(), pid == h.ProducerID }}
		var st Stats
		out, err := c.Filter(h, b, &st)
		if err != nil || out == nil {
			return
		}
		oh, err := record.ParseHeader(out)
		if err != nil || oh.Size() != len(out) || record.CheckCRC(out, oh) != nil {
			t.Fatalf("kept batch does not parse: %v", err)
		}
		if oh.BaseOffset != h.BaseOffset || oh.NextOffset() != h.NextOffset() {
			t.Fatalf("kept batch moved: [%d, %d) from [%d, %d)", oh.BaseOffset, oh.NextOffset(), h.BaseOffset, h.NextOffset())
		}
		if _, err := record.ValidateStored(out); err != nil {
			t.Fatalf("kept batch is not a valid stored batch: %v", err)
		}
		if !bytes.Equal(out, b) {
			if err := record.ForEachRecord(out, func(record.Record) bool { return true }); err != nil {
				t.Fatalf("rebuilt batch's records do not decode: %v", err)
			}
		}
	})
}
