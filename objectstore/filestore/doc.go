// Package filestore is the file:// object store: objects are files under one
// local directory. It is Strata's embedded default and the store used in
// development and tests.
//
// Durability: an object is written to a temporary file in the store's
// private .strata-tmp directory, fsynced, then renamed (or, for
// write-if-absent, hard-linked, which fails atomically if the key exists)
// into place, and the destination directory is fsynced. A crash at any
// point leaves either the old state or the whole new object. Temporary files
// are named after their writer's host and process id: the next Open sweeps
// at once those of processes of this host that no longer run (a killed
// broker's uploads), and any other older than an hour.
//
// Keys are validated with objectstore.ValidateKey and resolved beneath the
// root, so no key can name a path outside it. The package must never
// follow symbolic links out of the root for writes it creates.
package filestore
