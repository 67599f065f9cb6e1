// Package gcsstore is the gs:// object store on cloud.google.com/go/storage.
//
// Credentials are application-default credentials; STORAGE_EMULATOR_HOST
// points the client at an emulator. Objects are written with resumable
// uploads in ChunkSize chunks (only one chunk in memory per writer); a
// failed or cancelled write cancels the upload so nothing becomes visible.
// Write-if-absent is the generation precondition ifGenerationMatch=0.
//
// Retries: chunk uploads are retried by the client library (the only
// place a resumable session can be resumed), with the backoff and attempt
// limit of the store's objectstore.RetryPolicy; every other request is
// retried by the RetryPolicy itself, with the library's retries disabled.
package gcsstore
