// Package testca makes certificate authorities and certificates for
// tests at run time, so no private key is ever checked in.
package testca
