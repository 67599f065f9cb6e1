// Package node is the Strata broker: it accepts Kafka protocol connections,
// owns the partitions hosted on this node and serves produce, fetch and admin
// requests against them. Storage lives in storage, record-batch
// validation in record and cluster metadata behind the small Metadata
// interface implemented by package meta; the handlers never touch raft
// directly.
package node
