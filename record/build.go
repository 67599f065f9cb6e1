package record

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BatchSpec is the batch-level fields of a batch Build encodes. A batch
// without a producer carries ProducerID, ProducerEpoch and BaseSequence of
// -1; NewBatchSpec returns such a spec.
type BatchSpec struct {
	ProducerID     int64
	ProducerEpoch  int16
	BaseSequence   int32
	Transactional  bool
	Control        bool
	FirstTimestamp int64 // records' TimestampDelta is relative to it
}

// NewBatchSpec returns the spec of a batch with no producer whose records
// are relative to firstTimestamp.
func NewBatchSpec(firstTimestamp int64) BatchSpec {
	return BatchSpec{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, FirstTimestamp: firstTimestamp}
}

// Build encodes records as one uncompressed v2 batch at base offset 0 with
// partition leader epoch -1, a correct length and CRC-32C. Each record's
// OffsetDelta is its index; MaxTimestamp is FirstTimestamp plus the largest
// TimestampDelta.
func Build(b BatchSpec, records []Record) []byte {
	var raw []byte
	var maxDelta int64
	for i, r := range records {
		raw = appendRecord(raw, r, int32(i), r.TimestampDelta)
		if i == 0 || r.TimestampDelta > maxDelta {
			maxDelta = r.TimestampDelta
		}
	}
	kb := kmsg.NewRecordBatch()
	kb.PartitionLeaderEpoch = -1
	kb.Magic = 2
	if b.Transactional {
		kb.Attributes |= transactionalBit
	}
	if b.Control {
		kb.Attributes |= controlBit
	}
	kb.LastOffsetDelta = int32(len(records) - 1)
	kb.FirstTimestamp, kb.MaxTimestamp = b.FirstTimestamp, b.FirstTimestamp+maxDelta
	kb.ProducerID, kb.ProducerEpoch, kb.FirstSequence = b.ProducerID, b.ProducerEpoch, b.BaseSequence
	kb.NumRecords = int32(len(records))
	kb.Records = raw
	return Seal(kb.AppendTo(nil))
}

// appendRecord encodes r with the given offset and timestamp deltas
// (kmsg computes the length) and appends it to raw.
func appendRecord(raw []byte, r Record, offsetDelta int32, tsDelta int64) []byte {
	kr := kmsg.NewRecord()
	kr.Attributes = r.Attributes
	kr.TimestampDelta64 = tsDelta
	kr.OffsetDelta = offsetDelta
	kr.Key, kr.Value = r.Key, r.Value
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kmsg.Header{Key: string(h.Key), Value: h.Value})
	}
	kr.Length = int32(len(kr.AppendTo(nil)) - 1)
	return kr.AppendTo(raw)
}

// ControlBatch encodes the commit or abort marker batch of a producer's
// transaction: one control record whose key is the marker type and whose
// value is the EndTxnMarker with coordinatorEpoch.
func ControlBatch(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, timestamp int64) []byte {
	key := kmsg.NewControlRecordKey()
	key.Type = kmsg.ControlRecordKeyTypeAbort
	if commit {
		key.Type = kmsg.ControlRecordKeyTypeCommit
	}
	val := kmsg.NewEndTxnMarker()
	val.CoordinatorEpoch = coordinatorEpoch
	spec := BatchSpec{
		ProducerID: producerID, ProducerEpoch: producerEpoch, BaseSequence: -1,
		Transactional: true, Control: true, FirstTimestamp: timestamp,
	}
	return Build(spec, []Record{{Key: key.AppendTo(nil), Value: val.AppendTo(nil)}})
}

// Seal sets the length and CRC-32C fields of the whole encoded batch b from
// its bytes and returns b. b must hold at least a batch header.
func Seal(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-lengthOverhead))
	h := Header{Length: int32(len(b) - lengthOverhead)}
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b, h))
	return b
}
