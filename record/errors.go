package record

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Sentinel errors. Every error returned by this package wraps at least one.
var (
	// ErrCorrupt: the bytes do not form a valid batch (lengths, CRC,
	// magic, malformed records or compressed payload).
	ErrCorrupt = errors.New("corrupt record batch")
	// ErrTooLarge: a batch exceeds the allowed size, or its records
	// decompress to more than MaxUncompressedBytes.
	ErrTooLarge = errors.New("record batch too large")
	// ErrInvalidRecord: the batch is well formed but not acceptable from
	// a producer (record count or offset deltas inconsistent, control
	// batch, empty batch, old message format).
	ErrInvalidRecord = errors.New("invalid record batch")
	// ErrNoKey: a record without a key was produced to a compacted
	// topic. It wraps ErrInvalidRecord.
	ErrNoKey = fmt.Errorf("%w: compacted topic cannot accept a record without a key", ErrInvalidRecord)
	// ErrUnsupportedCodec: the compression codec is not one of 0-4.
	ErrUnsupportedCodec = errors.New("unsupported compression codec")
)

// KafkaError maps an error from this package to the Kafka error a Produce
// response reports for the partition. It returns nil for a nil error and
// kerr.UnknownServerError for errors this package did not produce.
func KafkaError(err error) *kerr.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrTooLarge):
		return kerr.MessageTooLarge
	case errors.Is(err, ErrUnsupportedCodec):
		return kerr.UnsupportedCompressionType
	case errors.Is(err, ErrInvalidRecord):
		return kerr.InvalidRecord
	case errors.Is(err, ErrCorrupt):
		return kerr.CorruptMessage
	default:
		return kerr.UnknownServerError
	}
}
