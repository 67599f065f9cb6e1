package record

import "fmt"

// Validate splits the records blob of a produce request into batches and
// validates each one: magic 2, a sane batchLength with the blob covered
// exactly by whole batches, the CRC-32C, a known codec, a record count that
// matches the records present (decompressing compressed batches, capped at
// MaxUncompressedBytes), offset deltas 0..count-1 with lastOffsetDelta ==
// count-1, no control batch and no batch larger than maxBatchBytes. It
// returns the headers of the batches in order.
func Validate(records []byte, maxBatchBytes int) ([]Header, error) {
	return validate(records, maxBatchBytes, false)
}

// ValidateKeyed is Validate for a compacted topic: every record must also
// have a key (a null key is ErrNoKey, as Kafka refuses it).
func ValidateKeyed(records []byte, maxBatchBytes int) ([]Header, error) {
	return validate(records, maxBatchBytes, true)
}

func validate(records []byte, maxBatchBytes int, needKey bool) ([]Header, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	var hdrs []Header
	for pos, i := 0, 0; pos < len(records); i++ {
		b := records[pos:]
		h, err := ParseHeader(b)
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", i, pos, err)
		}
		if err := validateBatch(b, h, maxBatchBytes, needKey); err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", i, pos, err)
		}
		hdrs = append(hdrs, h)
		pos += h.Size()
	}
	return hdrs, nil
}

func validateBatch(b []byte, h Header, maxBatchBytes int, needKey bool) error {
	if h.Size() > len(b) {
		if h.Size() > maxBatchBytes {
			return fmt.Errorf("%w: batch of %d bytes, at most %d allowed", ErrTooLarge, h.Size(), maxBatchBytes)
		}
		return fmt.Errorf("%w: batch of %d bytes but only %d remain", ErrCorrupt, h.Size(), len(b))
	}
	if err := CheckCRC(b, h); err != nil {
		return err
	}
	if h.Size() > maxBatchBytes {
		return fmt.Errorf("%w: batch of %d bytes, at most %d allowed", ErrTooLarge, h.Size(), maxBatchBytes)
	}
	if h.Codec() > CodecZstd {
		return fmt.Errorf("%w: %v", ErrUnsupportedCodec, h.Codec())
	}
	if h.IsControl() {
		return fmt.Errorf("%w: control batches are written only by the broker", ErrInvalidRecord)
	}
	if h.NumRecords <= 0 {
		return fmt.Errorf("%w: batch declares %d records", ErrInvalidRecord, h.NumRecords)
	}
	if int64(h.LastOffsetDelta) != int64(h.NumRecords)-1 {
		return fmt.Errorf("%w: lastOffsetDelta %d with %d records", ErrInvalidRecord, h.LastOffsetDelta, h.NumRecords)
	}
	return walkRecords(h, b[HeaderSize:h.Size()], walkOpts{strict: true, needKey: needKey}, nil)
}

// ValidateStored splits batches copied from another broker's log (a
// follower's fetch from its leader) and checks what the copy could have
// broken: magic 2, whole batches covering the blob, and each batch's
// CRC-32C. The leader validated the records when they were produced;
// control batches are expected. It returns the headers in order.
func ValidateStored(records []byte) ([]Header, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: no record batches", ErrInvalidRecord)
	}
	var hdrs []Header
	for pos, i := 0, 0; pos < len(records); i++ {
		b := records[pos:]
		h, err := ParseHeader(b)
		if err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", i, pos, err)
		}
		if h.Size() > len(b) {
			return nil, fmt.Errorf("batch %d at byte %d: %w: batch of %d bytes but only %d remain", i, pos, ErrCorrupt, h.Size(), len(b))
		}
		if err := CheckCRC(b, h); err != nil {
			return nil, fmt.Errorf("batch %d at byte %d: %w", i, pos, err)
		}
		hdrs = append(hdrs, h)
		pos += h.Size()
	}
	return hdrs, nil
}
