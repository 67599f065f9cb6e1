// Package producer is one partition's producer state: for every producer
// ID that wrote to the partition, its epoch, the sequence and offset ranges
// of its last five batches, and its open transaction, plus the partition's
// open transactions (which bound the last stable offset) and the aborted
// transactions read_committed consumers must skip.
//
// It decides, for each produce batch, whether to append it, acknowledge it
// as a duplicate with its original offsets, or refuse it (out-of-order
// sequence, fenced epoch), the way Kafka's ProducerStateManager does. It is
// pure: no I/O, no clocks (callers pass the time), no locks. The partition
// that owns a State serialises every call under its append lock, so the
// check and the append it guards are atomic. Snapshots are encoded with
// Marshal and read back with Unmarshal; storing them is the caller's job.
package producer
