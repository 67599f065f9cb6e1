// Package security holds the decisions of Strata's security model, apart
// from the connections they guard: Kafka's listeners and security
// protocols, TLS material that reloads in place, principals and the
// mapping of client certificates to them, and the server side of the SASL
// mechanisms (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with the credentials
// they check against.
//
// Nothing here opens a socket or reads the metadata: the node owns the
// listeners and connections, the metadata store owns the credentials, and
// they meet through the small interfaces defined here (CredentialLookup).
package security
