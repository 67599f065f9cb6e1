package security

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testca"
)

// files writes a certificate for cn (no SANs, no extended key usage:
// peer verification must not need them) with ca as the CA file.
func files(t *testing.T, ca *testca.CA, cn string) TLSFiles {
	f := ca.WriteFiles(t, t.TempDir(), cn, testca.Options{Bare: true})
	return TLSFiles{CertFile: f.Cert, KeyFile: f.Key, ClientCAFile: f.CA}
}

// handshake runs a TLS handshake between a client and a server config
// over a pipe and returns each side's error.
func handshake(server, client *tls.Config) (serr, cerr error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err, err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		a, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer a.Close()
		s := tls.Server(a, server)
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		err = s.Handshake()
		done <- err
		if err == nil {
			_, _ = s.Read(make([]byte, 1)) // until the client closes
		}
	}()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err, err
	}
	defer b.Close()
	c := tls.Client(b, client)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if cerr = c.Handshake(); cerr == nil {
		// TLS 1.3: the client learns of a refused certificate only on
		// its first read.
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, cerr = c.Read(make([]byte, 1))
		if errors.Is(cerr, os.ErrDeadlineExceeded) {
			cerr = nil
		}
	}
	return <-done, cerr
}

func TestPeerConfigs(t *testing.T) {
	ca, other := testca.New(t, "cluster-ca"), testca.New(t, "other-ca")
	load := func(f TLSFiles) *Certs {
		c, err := LoadCerts(f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	n1, n2 := load(files(t, ca, "node-1")), load(files(t, ca, "node-2"))
	stranger := load(files(t, other, "stranger"))
	s1, c1 := n1.PeerConfigs()
	_, c2 := n2.PeerConfigs()
	ss, cs := stranger.PeerConfigs()

	if serr, cerr := handshake(s1, c2); serr != nil || cerr != nil {
		t.Fatalf("two members: server %v, client %v", serr, cerr)
	}
	if serr, _ := handshake(s1, cs); serr == nil {
		t.Fatal("a member accepted a certificate from another CA")
	}
	if _, cerr := handshake(ss, c1); cerr == nil {
		t.Fatal("a member dialled a server whose certificate is from another CA")
	}
	noCert := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} //nolint:gosec // the test's stranger
	if serr, _ := handshake(s1, noCert); serr == nil {
		t.Fatal("a member accepted a peer without a certificate")
	}
	if serr, _ := handshake(s1, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}); serr == nil { //nolint:gosec // TLS 1.1 must be refused
		t.Fatal("TLS 1.1 accepted")
	}
}
