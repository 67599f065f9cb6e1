// Package tiering moves sealed log segments between a broker's local disk and
// object storage: it uploads them, keeps the per-partition remote manifest,
// serves cold reads through a bounded chunk cache and applies remote
// retention. It never speaks the Kafka protocol and never touches raft.
package tiering
