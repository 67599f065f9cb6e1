// Package miniostore is the minio:// (or s3+minio://) object store on
// minio-go: MinIO and other S3-compatible stores for users who prefer that
// client to the AWS SDK.
//
// Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or
// MINIO_ACCESS_KEY/MINIO_SECRET_KEY). Large objects and readers of unknown
// length are streamed as multipart uploads through minio-go's Core API,
// PartConcurrency parts in flight, and a failed or cancelled upload is
// aborted. Write-if-absent sends If-None-Match: * on PutObject and on
// CompleteMultipartUpload (minio-go's high-level PutObject drops it from
// the completion, which is why the multipart path is driven here).
// minio-go's own retries are off: every request is retried by the
// objectstore.RetryPolicy.
package miniostore
