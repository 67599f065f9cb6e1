// Package e2e holds Strata's end-to-end tests: real nodes (in-process on
// ephemeral ports, or the built binary as a subprocess for crash tests)
// driven by real Kafka clients — franz-go, IBM/sarama and kcat.
package e2e
