package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/node"
)

// startSecureNode starts an in-process node whose config mutate adjusts.
func startSecureNode(t testing.TB, dir string, mutate func(*node.Config)) *testNode {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Logger = testLogger(t)
	mutate(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return &testNode{Node: n, cfg: cfg}
}

func writeSecret(t testing.TB, dir, name, secret string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// roundTrip produces one record to topic through cl and reads it back.
func roundTrip(ctx context.Context, cl *kgo.Client, topic, value string) error {
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr(); err != nil {
		return err
	}
	return nil
}

// TestTLSListenerWithClientCertificates: an SSL listener requiring client
// certificates serves a client with one signed by its CA, and refuses a
// client without one, one signed by another CA, and plaintext; a
// certificate replaced on disk is served to new connections while old
// ones keep working.
func TestTLSListenerWithClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, other := newTestCA(t, "strata-test-ca"), newTestCA(t, "someone-else")
	f := ca.writeFiles(t, dir, "broker")
	n := startSecureNode(t, "", func(c *node.Config) {
		c.Security = node.SecurityConfig{Listeners: "SSL://127.0.0.1:0", TLSCertFile: f.cert, TLSKeyFile: f.key,
			TLSClientCAFile: f.ca, TLSClientAuth: "required"}
	})
	addr := n.ListenerAddr("SSL")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	good := newClient(t, addr, kgo.DialTLSConfig(clientTLS(t, ca, ca, "alice")), kgo.DefaultProduceTopic("tls"), kgo.AllowAutoTopicCreation())
	if err := roundTrip(ctx, good, "tls", "over tls"); err != nil {
		t.Fatalf("client with a CA-signed certificate: %v", err)
	}
	if got := consumeN(t, addr, "tls", 1, kgo.DialTLSConfig(clientTLS(t, ca, ca, "bob"))); string(got[0].Value) != "over tls" {
		t.Fatalf("consumed %q", got[0].Value)
	}

	refused := func(what string, opts ...kgo.Opt) {
		t.Helper()
		cl := newClient(t, addr, append(opts, kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))...)
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := cl.Ping(ctx); err == nil {
			t.Fatalf("%s: connected", what)
		}
	}
	refused("no client certificate", kgo.DialTLSConfig(clientTLS(t, ca, ca, "")))
	refused("certificate from another CA", kgo.DialTLSConfig(clientTLS(t, ca, other, "mallory")))
	refused("plaintext to the TLS port")
	// TLS below 1.2 is refused at the handshake.
	old := clientTLS(t, ca, ca, "alice")
	old.MaxVersion = tls.VersionTLS11
	if c, err := tls.Dial("tcp", addr, old); err == nil {
		c.Close()
		t.Fatal("TLS 1.1 handshake accepted")
	}

	// Rotate: a new certificate (new CN) written over the files.
	c2, k2 := ca.issue(t, "broker-rotated", "")
	if err := os.WriteFile(f.cert+".new", c2, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.key, k2, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.cert+".new", f.cert); err != nil {
		t.Fatal(err)
	}
	if err := n.ReloadCerts(); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", addr, clientTLS(t, ca, ca, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "broker-rotated" {
		t.Fatalf("after reload the broker presents %q", cn)
	}
	conn.Close()
	if err := roundTrip(ctx, good, "tls", "after rotation"); err != nil {
		t.Fatalf("connection made before the rotation: %v", err)
	}
}

func scramMech(user, pass string, sha512 bool) sasl.Mechanism {
	a := scram.Auth{User: user, Pass: pass}
	if sha512 {
		return a.AsSha512Mechanism()
	}
	return a.AsSha256Mechanism()
}

// TestSASLSCRAMAndPlain: SASL_SSL and SASL_PLAINTEXT listeners with the
// bootstrap administrator; users created with AlterUserScramCredentials
// authenticate with SCRAM and PLAIN; wrong passwords, unknown users and
// disabled mechanisms are refused with Kafka's errors; a deleted user's
// session ends at re-authentication; nothing is served in plaintext.
func TestSASLSCRAMAndPlain(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "strata-test-ca")
	f := ca.writeFiles(t, dir, "broker")
	pw := writeSecret(t, dir, "admin.pw", "admin-secret")
	data := t.TempDir()
	sec := node.SecurityConfig{Listeners: "SASL_SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0", TLSCertFile: f.cert, TLSKeyFile: f.key,
		SASLMechanisms: "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN", BootstrapScramUser: "admin", BootstrapScramPasswordFile: pw}
	n := startSecureNode(t, data, func(c *node.Config) {
		c.Security = sec
		c.Settings = map[string]string{"connections.max.reauth.ms": "1500"}
	})
	tlsAddr, plainAddr := n.ListenerAddr("SASL_SSL"), n.ListenerAddr("SASL_PLAINTEXT")
	tlsOpt := kgo.DialTLSConfig(clientTLS(t, ca, ca, ""))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	admin := newClient(t, tlsAddr, tlsOpt, kgo.SASL(scramMech("admin", "admin-secret", true)))
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "secure"); err != nil {
		t.Fatalf("admin creates a topic over SASL_SSL: %v", err)
	}
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-pw"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "bob-pw"},
	})
	if err != nil || res["bob"].Err != nil {
		t.Fatalf("alter SCRAM: %v %+v", err, res)
	}
	// Too few iterations, an unknown mechanism, and a salted password of
	// the wrong size are refused per user (kadm checks the first itself).
	raw := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	for _, u := range []struct {
		name string
		mech int8
		iter int32
		size int
	}{{"weak", 1, 100, 32}, {"odd", 7, 4096, 32}, {"short", 2, 4096, 5}} {
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = u.name, u.mech, u.iter, []byte("salt"), make([]byte, u.size)
		raw.Upsertions = append(raw.Upsertions, up)
	}
	rawResp, err := raw.RequestWith(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []error{kerr.UnacceptableCredential, kerr.UnsupportedSaslMechanism, kerr.UnacceptableCredential} {
		if got := kerr.ErrorForCode(rawResp.Results[i].ErrorCode); !errors.Is(got, want) {
			t.Fatalf("upsertion %s: %v, want %v", rawResp.Results[i].User, got, want)
		}
	}
	desc, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil || len(desc["bob"].CredInfos) != 2 || len(desc["admin"].CredInfos) != 2 {
		t.Fatalf("describe SCRAM: %v %+v", err, desc)
	}
	if d, _ := adm.DescribeUserSCRAMs(ctx, "nobody"); !errors.Is(d["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe an unknown user: %+v", d)
	}

	for _, c := range []struct {
		name string
		addr string
		opts []kgo.Opt
	}{
		{"SCRAM-SHA-256 over TLS", tlsAddr, []kgo.Opt{tlsOpt, kgo.SASL(scramMech("bob", "bob-pw", false))}},
		{"SCRAM-SHA-512 in plaintext", plainAddr, []kgo.Opt{kgo.SASL(scramMech("bob", "bob-pw", true))}},
		{"PLAIN over TLS", tlsAddr, []kgo.Opt{tlsOpt, kgo.SASL(plain.Auth{User: "bob", Pass: "bob-pw"}.AsMechanism())}},
	} {
		cl := newClient(t, c.addr, append(c.opts, kgo.DefaultProduceTopic("secure"))...)
		if err := roundTrip(ctx, cl, "secure", c.name); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}

	refused := func(what string, want error, addr string, opts ...kgo.Opt) {
		t.Helper()
		cl := newClient(t, addr, append(opts, kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))...)
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err := cl.Ping(ctx)
		if err == nil || (want != nil && !errors.Is(err, want)) {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
	}
	refused("wrong password", kerr.SaslAuthenticationFailed, tlsAddr, tlsOpt, kgo.SASL(scramMech("bob", "nope", false)))
	refused("unknown user", kerr.SaslAuthenticationFailed, plainAddr, kgo.SASL(scramMech("eve", "bob-pw", true)))
	refused("PLAIN wrong password", kerr.SaslAuthenticationFailed, plainAddr, kgo.SASL(plain.Auth{User: "bob", Pass: "x"}.AsMechanism()))
	refused("no credentials", nil, plainAddr)
	refused("plaintext to the SASL_SSL port", nil, tlsAddr, kgo.SASL(scramMech("bob", "bob-pw", false)))

	// A session outlives its credentials only until re-authentication.
	bob := newClient(t, plainAddr, kgo.SASL(scramMech("bob", "bob-pw", true)), kgo.DefaultProduceTopic("secure"),
		kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
	if err := roundTrip(ctx, bob, "secure", "before revocation"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // past connections.max.reauth.ms: franz-go re-authenticates
	if err := roundTrip(ctx, bob, "secure", "after re-authentication"); err != nil {
		t.Fatalf("after a re-authentication: %v", err)
	}
	if _, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha256}, {User: "bob", Mechanism: kadm.ScramSha512}}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		err := bob.ProduceSync(pctx, &kgo.Record{Value: []byte("revoked")}).FirstErr()
		pcancel()
		if err != nil {
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("a deleted user's produce failed with %v, want SASL_AUTHENTICATION_FAILED", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a deleted user kept producing past its session lifetime")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The bootstrap user was stored once: a restart with another password
	// file changes nothing.
	n.Close()
	sec.BootstrapScramPasswordFile = writeSecret(t, dir, "other.pw", "other-secret")
	n = startSecureNode(t, data, func(c *node.Config) { c.Security = sec })
	tlsAddr = n.ListenerAddr("SASL_SSL")
	refused("bootstrap password changed after initialisation", kerr.SaslAuthenticationFailed, tlsAddr, tlsOpt, kgo.SASL(scramMech("admin", "other-secret", true)))
	again := newClient(t, tlsAddr, tlsOpt, kgo.SASL(scramMech("admin", "admin-secret", false)), kgo.DefaultProduceTopic("secure"))
	if err := roundTrip(ctx, again, "secure", "after restart"); err != nil {
		t.Fatalf("original admin password after restart: %v", err)
	}
}

// TestSASLRefusesRequestsBeforeAuthentication speaks the protocol by
// hand: a Metadata request before authenticating closes the connection,
// and a frame beyond sasl.server.max.receive.size is refused unread.
func TestSASLRefusesRequestsBeforeAuthentication(t *testing.T) {
	dir := t.TempDir()
	pw := writeSecret(t, dir, "pw", "p")
	n := startSecureNode(t, "", func(c *node.Config) {
		c.Security = node.SecurityConfig{Listeners: "SASL_PLAINTEXT://127.0.0.1:0", BootstrapScramUser: "admin", BootstrapScramPasswordFile: pw}
		c.Settings = map[string]string{"sasl.server.max.receive.size": "4096"}
	})
	addr := n.ListenerAddr("SASL_PLAINTEXT")
	metadata := []byte{0, 3, 0, 1, 0, 0, 0, 7, 0, 0, 255, 255, 255, 255} // Metadata v1, all topics
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"metadata before authentication", append([]byte{0, 0, 0, byte(len(metadata))}, metadata...)},
		{"oversized frame", []byte{0, 1, 0, 0, 0, 3, 0, 0}},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(c.frame); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		if k, err := conn.Read(buf); err == nil {
			t.Fatalf("%s: got %d bytes of answer instead of a closed connection", c.name, k)
		}
		conn.Close()
	}
	// The node still serves an authenticated client.
	cl := newClient(t, addr, kgo.SASL(scramMech("admin", "p", true)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(metricsText(t, n.HTTPAddr()), `strata_kafka_connections_closed_total{reason="sasl_required"} 1`) {
		t.Error("the refused request was not counted")
	}
}

// TestKcatSCRAMOverTLS: librdkafka (kcat) with SASL_SSL and
// SCRAM-SHA-512 produces and consumes; with a wrong password it fails.
func TestKcatSCRAMOverTLS(t *testing.T) {
	kcat := kcatPath(t)
	dir := t.TempDir()
	ca := newTestCA(t, "strata-test-ca")
	f := ca.writeFiles(t, dir, "broker")
	pw := writeSecret(t, dir, "admin.pw", "kcat-secret")
	n := startSecureNode(t, "", func(c *node.Config) {
		c.Security = node.SecurityConfig{Listeners: "SASL_SSL://127.0.0.1:0", TLSCertFile: f.cert, TLSKeyFile: f.key,
			BootstrapScramUser: "admin", BootstrapScramPasswordFile: pw}
	})
	addr := n.ListenerAddr("SASL_SSL")
	args := func(pass string, extra ...string) []string {
		return append([]string{"-b", addr, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
			"-X", "sasl.username=admin", "-X", "sasl.password=" + pass, "-X", "ssl.ca.location=" + f.ca}, extra...)
	}
	prod := exec.Command(kcat, args("kcat-secret", "-P", "-t", "kcat-secure", "-X", "acks=all")...)
	prod.Stdin = strings.NewReader("one\ntwo\nthree\n")
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce over SASL_SSL: %v\n%s", err, out)
	}
	out, err := exec.Command(kcat, args("kcat-secret", "-C", "-t", "kcat-secure", "-o", "beginning", "-e")...).Output()
	if err != nil || string(out) != "one\ntwo\nthree\n" {
		t.Fatalf("kcat consume over SASL_SSL: %v %q", err, out)
	}
	bad := exec.Command(kcat, args("wrong", "-L", "-m", "5")...)
	out, err = bad.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Authentication failed") {
		t.Fatalf("kcat with a wrong password: %v\n%s", err, out)
	}
}

// TestHTTPAddressHardening: profiles are off unless asked for; with a
// token file everything but the health checks needs the bearer token;
// with a certificate the address speaks only TLS.
func TestHTTPAddressHardening(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "http-ca")
	f := ca.writeFiles(t, dir, "broker")
	token := writeSecret(t, dir, "token", "s3cr3t-token")
	get := func(url string, auth string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: clientTLS(t, ca, ca, "")}}
		resp, err := cl.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	plain := startSecureNode(t, "", func(c *node.Config) {})
	if code := get("http://"+plain.HTTPAddr()+"/debug/pprof/", ""); code != http.StatusNotFound {
		t.Fatalf("pprof without --http-pprof: %d, want 404", code)
	}
	n := startSecureNode(t, "", func(c *node.Config) {
		c.Security = node.SecurityConfig{HTTPPprof: true, HTTPTokenFile: token, HTTPTLSCertFile: f.cert, HTTPTLSKeyFile: f.key}
	})
	base := "https://" + n.HTTPAddr()
	for _, c := range []struct {
		path, token string
		want        int
	}{
		{"/healthz", "", 200}, {"/readyz", "", 200},
		{"/metrics", "", 401}, {"/metrics", "wrong", 401}, {"/metrics", "s3cr3t-token", 200},
		{"/debug/pprof/", "", 401}, {"/debug/pprof/", "s3cr3t-token", 200},
	} {
		if got := get(base+c.path, c.token); got != c.want {
			t.Errorf("GET %s (token %q): %d, want %d", c.path, c.token, got, c.want)
		}
	}
	if got := get("http://"+n.HTTPAddr()+"/healthz", ""); got == 200 {
		t.Error("plain HTTP served on a TLS HTTP address")
	}
}
