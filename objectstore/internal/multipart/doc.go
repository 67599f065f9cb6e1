// Package multipart streams a reader to an object store as numbered parts,
// a bounded number in flight, each part held in memory only while it
// uploads. The S3 and minio-go backends share it; creating, completing and
// aborting the upload stays with them.
package multipart
