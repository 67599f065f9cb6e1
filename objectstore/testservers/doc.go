// Package testservers starts real object-store protocol servers for tests:
// versitygw (a real S3 server that checks request signatures) as a child
// process, and fake-gcs-server in-process. Tests of the object-store
// backends and of the tiering layer use them instead of mocks of the SDKs.
//
// versitygw is found in PATH or at <module root>/bin/tools/versitygw
// (installed there by `make deps`); when it is absent the calling test is
// skipped with a message saying so.
package testservers
