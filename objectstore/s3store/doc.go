// Package s3store is the s3:// object store on aws-sdk-go-v2: AWS S3 and
// S3-compatible stores reached through a custom endpoint with path-style
// addressing.
//
// Credentials come from the standard AWS chain (environment, shared files,
// web identity, instance roles). Objects up to one part are written with a
// single PutObject; larger ones, or readers of unknown length, are streamed
// with a multipart upload, PartConcurrency parts in flight, each part held
// in memory only while it uploads, and the upload is aborted on any
// failure or cancellation so no partial object or orphaned parts remain.
// Write-if-absent uses If-None-Match: * on PutObject and on
// CompleteMultipartUpload. The SDK's own retryer is disabled: every request
// is retried by the objectstore.RetryPolicy, so throttling and transient
// failures are retried, classified and counted in one place.
package s3store
