package security

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// ClientAuth is --tls-client-auth: whether TLS listeners ask clients for a
// certificate.
type ClientAuth string

// The client-auth modes, as Kafka's ssl.client.auth.
const (
	ClientAuthNone      ClientAuth = "none"
	ClientAuthRequested ClientAuth = "requested"
	ClientAuthRequired  ClientAuth = "required"
)

// ParseClientAuth checks a --tls-client-auth value ("" is none).
func ParseClientAuth(s string) (ClientAuth, error) {
	switch a := ClientAuth(strings.ToLower(strings.TrimSpace(s))); a {
	case "", ClientAuthNone:
		return ClientAuthNone, nil
	case ClientAuthRequested, ClientAuthRequired:
		return a, nil
	}
	return "", fmt.Errorf("tls-client-auth: %q must be none, requested or required", s)
}

// TLSFiles names the PEM files of a TLS identity.
type TLSFiles struct {
	CertFile, KeyFile string
	// ClientCAFile holds the CAs whose client certificates are accepted
	// (and, for outgoing connections, the CAs servers are checked
	// against); empty means the system roots for the latter and no client
	// certificates for the former.
	ClientCAFile string
	ClientAuth   ClientAuth
}

// Configured reports whether a certificate is named.
func (f TLSFiles) Configured() bool { return f.CertFile != "" || f.KeyFile != "" }

// Certs is a TLS identity loaded from PEM files that can be reloaded in
// place: connections made after a reload use the new certificate and CAs,
// established ones keep theirs. Safe for concurrent use.
type Certs struct {
	files TLSFiles
	cur   atomic.Pointer[loaded]
	mu    sync.Mutex // serialises Reload
}

type loaded struct {
	cert   *tls.Certificate
	leaf   *x509.Certificate
	pool   *x509.CertPool // nil: no client CA file
	digest [32]byte       // of the files' bytes, to skip unchanged reloads
}

// LoadCerts reads the files once; an error names the file at fault.
func LoadCerts(f TLSFiles) (*Certs, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("tls-cert-file and tls-key-file must both be given")
	}
	if f.ClientAuth != ClientAuthNone && f.ClientAuth != "" && f.ClientCAFile == "" {
		return nil, fmt.Errorf("tls-client-auth %s needs tls-client-ca-file", f.ClientAuth)
	}
	c := &Certs{files: f}
	if _, err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload rereads the files. On any error the previous identity stays in
// use; changed is false when the files' contents are unchanged.
func (c *Certs) Reload() (changed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	certPEM, err := os.ReadFile(c.files.CertFile)
	if err != nil {
		return false, fmt.Errorf("tls-cert-file: %w", err)
	}
	keyPEM, err := os.ReadFile(c.files.KeyFile)
	if err != nil {
		return false, fmt.Errorf("tls-key-file: %w", err)
	}
	var caPEM []byte
	if c.files.ClientCAFile != "" {
		if caPEM, err = os.ReadFile(c.files.ClientCAFile); err != nil {
			return false, fmt.Errorf("tls-client-ca-file: %w", err)
		}
	}
	digest := sha256.Sum256(bytes.Join([][]byte{certPEM, keyPEM, caPEM}, []byte{0}))
	if old := c.cur.Load(); old != nil && old.digest == digest {
		return false, nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("tls-cert-file/tls-key-file: %w", err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return false, fmt.Errorf("tls-cert-file: %w", err)
	}
	l := &loaded{cert: &cert, leaf: leaf, digest: digest}
	if caPEM != nil {
		l.pool = x509.NewCertPool()
		if !l.pool.AppendCertsFromPEM(caPEM) {
			return false, fmt.Errorf("tls-client-ca-file %s: no PEM certificate in it", c.files.ClientCAFile)
		}
	}
	c.cur.Store(l)
	return true, nil
}

// Leaf is the current certificate.
func (c *Certs) Leaf() *x509.Certificate { return c.cur.Load().leaf }

// Files are the files the identity is read from.
func (c *Certs) Files() TLSFiles { return c.files }

// cipherSuites are TLS 1.2's AEAD suites with forward secrecy; TLS 1.3's
// are fixed by Go and all modern.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig is the TLS configuration of a listener: TLS 1.2 or newer,
// the current certificate and client CAs at every handshake.
func (c *Certs) ServerConfig() *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites}
	switch c.files.ClientAuth {
	case ClientAuthRequested:
		base.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequired:
		base.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			l := c.cur.Load()
			cfg := base.Clone()
			cfg.Certificates = []tls.Certificate{*l.cert}
			cfg.ClientCAs = l.pool
			return cfg, nil
		},
	}
}

// ClientConfig is the TLS configuration of this node's own outgoing
// connections (to its peers' listeners): it trusts the client CA file
// (the system roots when none) and presents the current certificate when
// asked for one.
func (c *Certs) ClientConfig(serverName string) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.cur.Load().cert, nil
		},
	}
	if l := c.cur.Load(); l.pool != nil {
		cfg.RootCAs = l.pool
	}
	return cfg
}

// PeerConfigs are the TLS configurations of a connection between two
// nodes of one cluster (the raft address): both sides present their
// current certificate and accept the other's only if it chains to the
// CA file (TLSFiles.ClientCAFile), whatever its names and key usages —
// the CA is the cluster's own, and every certificate it signs is a
// member. Host names are not checked, since peers dial the addresses
// they gossip.
func (c *Certs) PeerConfigs() (server, client *tls.Config) {
	verify := func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("security: the peer presented no certificate")
		}
		opts := x509.VerifyOptions{Roots: c.cur.Load().pool, Intermediates: x509.NewCertPool(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			return fmt.Errorf("security: peer certificate %q: %w", cs.PeerCertificates[0].Subject.CommonName, err)
		}
		return nil
	}
	server = &tls.Config{
		MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites,
		ClientAuth:       tls.RequireAnyClientCert,
		VerifyConnection: verify,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load().cert, nil
		},
	}
	client = &tls.Config{
		MinVersion: tls.VersionTLS12, CipherSuites: cipherSuites,
		// Verification is VerifyConnection's: the chain, not the name.
		InsecureSkipVerify: true, //nolint:gosec // see VerifyConnection
		VerifyConnection:   verify,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.cur.Load().cert, nil
		},
	}
	return server, client
}
