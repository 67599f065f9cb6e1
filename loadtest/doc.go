// Package loadtest is Strata's bundled load-test harness, exposed as
// `strata loadtest`. It drives any Kafka-compatible endpoint with a workload
// described in YAML and reports what it measured.
//
// A run has three parts:
//
//   - A Workload (workload.go): topics, partitions, record size and payload,
//     keys, producer/consumer counts, the target rate, duration and warm-up,
//     and the producer settings (acks, compression, linger, batching,
//     idempotence, transactions). Workload.Validate names the offending field
//     of any impossible workload.
//   - A Runner (runner.go and the mode files) that executes one of three
//     modes: live (produce and consume together, end-to-end latency from a
//     send timestamp carried in a record header), backlog (write N bytes, then
//     replay from the earliest offset and measure catch-up throughput) and
//     mixed (a hot fixed-rate stream whose latency is reported with and
//     without a concurrent backlog replay).
//   - A Result (result.go), written as results.json and as a self-contained
//     HTML report with inline SVG charts (report.go); Compare puts several
//     results side by side.
//
// The decisions are pure functions with table tests: the send pacer
// (ratelimit.go), percentile math and histogram merging (hist.go), workload
// validation, the loopback check (safety.go) and Prometheus text parsing
// (metrics.go). The I/O around them is thin.
//
// The package never targets a non-loopback address unless told to
// (Options.AllowRemote), and every run is bounded by a duration or a byte
// count. It creates fresh topics named after the run, so counts are exact,
// and deletes them afterwards unless the workload keeps them.
package loadtest
