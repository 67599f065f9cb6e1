// Package storetest is the conformance suite every objectstore backend
// passes: the same test code run against the file store, S3, GCS and
// minio-go, so the tiering layer can rely on one behaviour whatever the
// URL. Backends call Run from their tests with a constructor that returns
// a fresh, empty store (a new bucket or prefix) for each subtest.
package storetest
