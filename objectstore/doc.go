// Package objectstore is Strata's narrow view of object storage: the cold
// tier where every sealed segment lives once it leaves a broker's disk.
//
// It owns four things:
//
//   - the Store interface its users (the tiering layer) program against:
//     atomic writes from a reader of known or unknown length, write-if-absent
//     for fencing, byte-range reads and a ReadAt-style handle, stat, paginated
//     listing by prefix and idempotent delete;
//   - the error classes callers act on (ErrNotFound, ErrPreconditionFailed,
//     ErrThrottled, ErrPermission, ErrTransient, ErrInvalid), carried by *Error
//     together with the backend, bucket, operation and key that failed;
//   - the retry policy (capped exponential backoff with jitter, bounded by
//     the caller's context deadline) that every backend applies to throttled
//     and transient failures;
//   - the object-store URL contract (ParseURL) and a Prometheus wrapper
//     (Instrument) that counts requests, errors by class, bytes and latency.
//
// The backends live in their own packages (filestore, s3store, gcsstore,
// miniostore) and are chosen from a URL by objectstore/open. The
// faultstore package wraps any Store with injected errors, throttling,
// latency and mid-upload failures for tests, and storetest is the one
// conformance suite every backend must pass.
//
// Keys are slash-separated relative paths (see ValidateKey); a backend maps
// them under its own bucket prefix or directory. An object is either wholly
// visible or absent: no backend ever exposes a partially written object,
// whether the writer fails, is cancelled or crashes.
//
// This package must never know about Kafka, partitions or segments: it moves
// opaque bytes under opaque keys.
package objectstore
