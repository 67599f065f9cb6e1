package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"testing"

	"github.com/stratalog/strata/internal/testca"
)

// testCA is a certificate authority made by a test: certificates and keys
// are generated at run time, never checked in.
type testCA struct{ *testca.CA }

func newTestCA(t testing.TB, name string) *testCA { return &testCA{testca.New(t, name)} }

// issue makes a certificate for cn (server and client use; SANs for
// loopback) and returns its PEM certificate and key; org, when set, is
// its organizational unit.
func (ca *testCA) issue(t testing.TB, cn string, org string) (certPEM, keyPEM []byte) {
	t.Helper()
	return ca.Issue(t, cn, testca.Options{OU: org})
}

// tlsFiles are a CA and a certificate it issued, as files.
type tlsFiles struct{ ca, cert, key string }

// writeFiles writes the CA and a certificate it issued for cn into dir.
func (ca *testCA) writeFiles(t testing.TB, dir, cn string) tlsFiles {
	t.Helper()
	f := ca.WriteFiles(t, dir, cn, testca.Options{})
	return tlsFiles{ca: f.CA, cert: f.Cert, key: f.Key}
}

// clientTLS trusts ca and, when cn is not empty, presents a certificate
// for cn issued by signer.
func clientTLS(t testing.TB, ca *testCA, signer *testCA, cn string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cn != "" {
		c, k := signer.issue(t, cn, "")
		pair, err := tls.X509KeyPair(c, k)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg
}
