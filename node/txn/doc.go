// Package txn is the transaction coordinator: for every transactional ID
// its producer ID and epoch, its state (Empty, Ongoing, PrepareCommit,
// PrepareAbort, CompleteCommit, CompleteAbort) and the partitions and
// consumer groups in its open transaction, with the transitions Kafka's
// TransactionCoordinator makes on InitProducerId, AddPartitionsToTxn,
// AddOffsetsToTxn and EndTxn, transaction timeouts and expiration.
//
// The coordinator owns decisions, not I/O: it reaches the world through
// the Env interface — allocate a producer ID, persist a transaction's
// metadata durably (the node appends a record to __transaction_state),
// and write commit or abort markers to the transaction's partitions. A
// state change is persisted before it is acted on and before the caller
// is answered, so a restart (Load replays the persisted records) finds
// every transaction either complete or in a Prepare state whose markers
// Recover writes again, or Ongoing, which its timeout aborts.
//
// Calls for one transactional ID are serialised by a per-ID lock held
// across the Env calls of one operation; different IDs proceed in
// parallel. Errors are Kafka's (kerr values), mapped per request version
// by the wire layer (PRODUCER_FENCED becomes INVALID_PRODUCER_EPOCH for
// old versions).
package txn
