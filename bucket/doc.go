// Package bucket keeps the cluster itself in the object store, beside the
// partitions' tiered data, so that the bucket outlives the machines:
//
//	<prefix>/_cluster/cluster.json               the claim: which cluster owns the bucket
//	<prefix>/_cluster/metadata/<version>.json    metadata snapshots, by raft index
//	<prefix>/_progress/<node id>                 roll instants each leader's uploads cover (tiering)
//
// The controller (the metadata raft leader) writes a snapshot after every
// change batch (Uploader); a restore (Plan, Execute) reads the newest one,
// lists every partition's remote chain, picks a consistent cut from the
// roll instants (tiering.ChooseCut) and rebuilds a data directory from
// which a node starts as the same cluster. Layout and guarantees are in
// docs/restore.md.
package bucket
