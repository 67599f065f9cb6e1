// Package security holds the decisions of Strata's security model, apart
// from the connections they guard: Kafka's listeners and security
// protocols, TLS material that reloads in place, principals and the
// mapping of client certificates to them, and the server side of the SASL
// mechanisms (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with the credentials
// they check against, and OAUTHBEARER with the JWT validation and the
// reloadable JSON Web Key Set its tokens are checked against.
//
// Nothing here opens a socket or reads the metadata, and the only files
// read are those of the reloadable holders (Certs, JWKS): the node owns
// the listeners and connections, the metadata store owns the credentials,
// and they meet through the small interfaces defined here
// (CredentialLookup, OAuthValidator.Keys).
package security
