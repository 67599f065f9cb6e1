// Package faultstore wraps an objectstore.Store with injected faults for
// tests of the layers above it: errors of a chosen class at a rate per
// operation, a deterministic run of failures, added latency, and uploads
// that fail after a number of bytes (mid-way through a multipart upload).
// It is test support: production code never constructs it.
package faultstore
