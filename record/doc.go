// Package record understands Kafka v2 record batches (magic 2): it parses
// batch headers, validates the records blob of a Produce request, rewrites
// the fields a broker owns (base offset, partition leader epoch,
// LogAppendTime) and iterates the records of a batch, decompressing gzip,
// snappy (raw and xerial-framed), lz4 and zstd payloads. Build and
// ControlBatch encode the uncompressed batches the broker writes itself
// (internal-topic records, transaction markers); Seal sets the length and
// CRC of an encoded batch.
//
// The package owns the byte layout of a batch and nothing else. It is pure:
// it never does I/O, never keeps state between calls, never assigns offsets
// itself and never decides where bytes are stored. Input comes from the
// network, so no input may make it panic or allocate without bound: every
// length is checked against the bytes actually present, and decompression
// is streamed and capped (MaxUncompressedBytes) so a decompression bomb
// costs CPU time, not memory.
//
// Errors wrap one of the sentinels ErrCorrupt, ErrTooLarge, ErrInvalidRecord
// and ErrUnsupportedCodec; KafkaError maps them to the Kafka error codes a
// Produce response carries.
//
// Batch layout (big-endian), HeaderSize = 61 bytes before the records:
//
//	baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 |
//	magic int8 | crc uint32 (CRC-32C of attributes..end) | attributes int16 |
//	lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 |
//	producerId int64 | producerEpoch int16 | baseSequence int32 |
//	recordCount int32 | records...
package record
