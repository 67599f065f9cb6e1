// Package quota is Kafka's client quotas as pure logic: quota entities
// (user, client-id, their defaults), the eight-level precedence that picks
// the quota for a connection's user and client id, the sampled rates that
// measure use, and the throttle time that brings a client back under its
// quota. It does no I/O and reads no clock: callers pass the time.
//
// The node records produce bytes, fetch bytes and request handler time
// against the Manager and answers with the throttle it returns, as Kafka
// does (throttle_time_ms in the response, then the connection is not read
// until the throttle ends).
package quota
