package e2e

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/stratalog/strata/internal/testjwt"
	"github.com/stratalog/strata/node"
)

const (
	oauthIssuer   = "https://idp.test"
	oauthAudience = "strata"
)

// oauthEnv is a node with a SASL_SSL listener taking OAUTHBEARER tokens
// signed by an RSA and an EC key of its JWKS file.
type oauthEnv struct {
	n        *testNode
	addr     string
	ca       *testCA
	tlsOpt   kgo.Opt
	rsa, ec  *testjwt.Key
	jwksFile string
	audit    *syncBuffer
}

// startOAuthNode starts the node; mutate adjusts its config.
func startOAuthNode(t *testing.T, mutate func(*node.Config)) *oauthEnv {
	t.Helper()
	dir := t.TempDir()
	e := &oauthEnv{ca: newTestCA(t, "strata-test-ca"), rsa: testjwt.NewRSA(t, "rsa-1"), ec: testjwt.NewEC(t, "ec-1"),
		jwksFile: filepath.Join(dir, "jwks.json"), audit: &syncBuffer{}}
	testjwt.WriteJWKS(t, e.jwksFile, e.rsa, e.ec)
	f := e.ca.writeFiles(t, dir, "broker")
	pw := writeSecret(t, dir, "admin.pw", "admin-secret")
	e.n = startSecureNode(t, "", func(c *node.Config) {
		// SCRAM stays on for the node's own clients on the inter-broker
		// listener: they have no token.
		c.Security = node.SecurityConfig{Listeners: "SASL_SSL://127.0.0.1:0", TLSCertFile: f.cert, TLSKeyFile: f.key,
			SASLMechanisms: "OAUTHBEARER,SCRAM-SHA-512", BootstrapScramUser: "admin", BootstrapScramPasswordFile: pw,
			OAuthBearerJWKSFile: e.jwksFile, OAuthBearerExpectedIssuer: oauthIssuer,
			OAuthBearerExpectedAudience: "kafka," + oauthAudience}
		c.AuditLogger = slog.New(slog.NewTextHandler(e.audit, nil))
		if mutate != nil {
			mutate(c)
		}
	})
	e.addr = e.n.ListenerAddr("SASL_SSL")
	e.tlsOpt = kgo.DialTLSConfig(clientTLS(t, e.ca, e.ca, ""))
	return e
}

// claims are valid claims for sub, expiring after ttl, changed by kv (a
// nil value deletes the claim).
func oauthClaims(sub string, ttl time.Duration, kv ...any) jwt.MapClaims {
	c := testjwt.Claims(sub, ttl)
	c["iss"], c["aud"] = oauthIssuer, []string{oauthAudience}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// client authenticates with token (franz-go's OAUTHBEARER).
func (e *oauthEnv) client(t *testing.T, token string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newClient(t, e.addr, append([]kgo.Opt{e.tlsOpt, kgo.SASL(oauth.Auth{Token: token}.AsMechanism())}, opts...)...)
}

// TestOAuthBearerAuthenticatesAndAuthorizes: franz-go's OAUTHBEARER over
// SASL_SSL with RS256 and ES256 tokens from the JWKS file; the principal
// is User:<sub>, as the authorizer sees it; expired tokens, tokens of a
// key not in the set, of another issuer or audience, unsigned, or without
// sub are refused with SASL_AUTHENTICATION_FAILED, audited with the
// reason, and produce nothing.
func TestOAuthBearerAuthenticatesAndAuthorizes(t *testing.T) {
	e := startOAuthNode(t, func(c *node.Config) {
		c.Security.Authorizer, c.Security.SuperUsers = true, "User:admin;User:ops"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	ops := kadm.NewClient(e.client(t, e.rsa.Sign(t, oauthClaims("ops", time.Hour))))
	for _, topic := range []string{"orders", "secret"} {
		if _, err := ops.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatalf("the super user ops (RS256 token) creates %s: %v", topic, err)
		}
	}
	res, err := ops.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").ResourcePatternType(kadm.ACLPatternLiteral).
		Topics("orders").Operations(kadm.OpWrite, kadm.OpRead))
	if err != nil || res[0].Err != nil {
		t.Fatalf("create ACL: %v %+v", err, res)
	}

	// alice's token is ES256, names one of the two audiences as a string,
	// and carries an extension, which is ignored.
	aliceTok := e.ec.Sign(t, oauthClaims("alice", time.Hour, "aud", "kafka"))
	alice := newClient(t, e.addr, e.tlsOpt, kgo.SASL(oauth.Auth{Token: aliceTok, Extensions: map[string]string{"traceId": "t1"}}.AsMechanism()),
		kgo.RequestRetries(1), kgo.RetryTimeout(3*time.Second))
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("from alice")}).FirstErr(); err != nil {
		t.Fatalf("alice produces to orders: %v", err)
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	alice.Close()
	got := consumeN(t, e.addr, "orders", 1, e.tlsOpt, kgo.SASL(oauth.Auth{Token: aliceTok}.AsMechanism()))
	if string(got[0].Value) != "from alice" {
		t.Fatalf("consumed %q", got[0].Value)
	}
	if !strings.Contains(e.audit.String(), "principal=User:alice") {
		t.Fatalf("the denial is not audited as User:alice:\n%s", e.audit.String())
	}

	stranger := testjwt.NewRSA(t, "rsa-1") // the set's kid, another key
	outsider := testjwt.NewEC(t, "ec-9")
	for _, c := range []struct {
		name, token, reason string
	}{
		{"expired", e.rsa.Sign(t, oauthClaims("alice", -5*time.Minute)), `reason="invalid token: expired"`},
		{"signed by a key not in the set", outsider.Sign(t, oauthClaims("alice", time.Hour)), `unknown key \"ec-9\"`},
		{"signed by another key with the set's kid", stranger.Sign(t, oauthClaims("alice", time.Hour)), `reason="invalid token: bad signature"`},
		{"wrong issuer", e.rsa.Sign(t, oauthClaims("alice", time.Hour, "iss", "https://evil.test")), `reason="invalid token: wrong issuer"`},
		{"wrong audience", e.rsa.Sign(t, oauthClaims("alice", time.Hour, "aud", "billing")), `reason="invalid token: wrong audience"`},
		{"alg none", testjwt.Unsigned(t, oauthClaims("ops", time.Hour)), `algorithm \"none\" not allowed`},
		{"no sub", e.rsa.Sign(t, oauthClaims("alice", time.Hour, "sub", nil)), `reason="invalid token: missing claim sub"`},
	} {
		cl := e.client(t, c.token, kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		err := cl.Ping(pctx)
		pcancel()
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), `{"status":"invalid_token"}`) {
			t.Errorf("%s: %v, want SASL_AUTHENTICATION_FAILED with the error challenge", c.name, err)
		}
		if !strings.Contains(e.audit.String(), c.reason) {
			t.Errorf("%s: no audit line with %s", c.name, c.reason)
		}
		pctx, pcancel = context.WithTimeout(ctx, time.Second)
		if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "orders", Value: []byte(c.name)}).FirstErr(); err == nil {
			t.Errorf("%s: produced", c.name)
		}
		pcancel()
		cl.Close()
	}
	ends, err := ops.ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("orders", 0); o.Offset != 1 {
		t.Fatalf("orders ends at %d, want 1: a refused client produced", o.Offset)
	}
	// Each refusal is counted once and audited once.
	failed := metricSamples(t, e.n.HTTPAddr(), `strata_sasl_authentications_total{mechanism="OAUTHBEARER",result="failed"}`)
	audited := strings.Count(e.audit.String(), `msg="authentication failed"`)
	if len(failed) != 1 || failed[0] < 7 || int(failed[0]) != audited {
		t.Errorf("%v failed authentications counted, %d audited", failed, audited)
	}
}

// grepLines are the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// rawOAuthConn authenticates a hand-spoken connection with token and
// returns it with the session lifetime the broker gave (KIP-368). The
// connection never re-authenticates.
func (e *oauthEnv) rawOAuthConn(t *testing.T, token string) (*tls.Conn, int64) {
	t.Helper()
	c, err := tls.Dial("tcp", e.addr, clientTLS(t, e.ca, e.ca, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "OAUTHBEARER"
	hsResp := kmsg.NewPtrSASLHandshakeResponse()
	hsResp.SetVersion(1)
	if err := hsResp.ReadFrom(rawRequest(t, c, 1, hs)[4:]); err != nil || hsResp.ErrorCode != 0 {
		t.Fatalf("SaslHandshake: %v %d", err, hsResp.ErrorCode)
	}
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(2)
	auth.SASLAuthBytes = []byte("n,,\x01auth=Bearer " + token + "\x01\x01")
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.SetVersion(2)
	if err := resp.ReadFrom(rawRequest(t, c, 2, auth)[5:]); err != nil || resp.ErrorCode != 0 || len(resp.SASLAuthBytes) != 0 {
		t.Fatalf("SaslAuthenticate: %v %d %q", err, resp.ErrorCode, resp.SASLAuthBytes)
	}
	return c, resp.SessionLifetimeMillis
}

// metadataOK sends a Metadata request on a raw connection and reports
// whether it was answered.
func metadataOK(t *testing.T, c *tls.Conn, corr int32) bool {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(1)
	b := make([]byte, 0, 64)
	b = append(b, 0, 0, 0, 0, 0, 3, 0, 1, byte(corr>>24), byte(corr>>16), byte(corr>>8), byte(corr), 0, 4)
	b = append(b, "test"...)
	b = req.AppendTo(b)
	b[3] = byte(len(b) - 4)
	if _, err := c.Write(b); err != nil {
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var sz [4]byte
	if _, err := io.ReadFull(c, sz[:]); err != nil {
		return false
	}
	_, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(sz[:])))
	return err == nil
}

// TestOAuthBearerSessionLifetime: the session ends with the token, or
// earlier at connections.max.reauth.ms. franz-go re-authenticates on its
// own before a short token expires; a connection that does not is closed
// at its next request once its token has expired.
func TestOAuthBearerSessionLifetime(t *testing.T) {
	e := startOAuthNode(t, func(c *node.Config) {
		c.Settings = map[string]string{"connections.max.reauth.ms": "60000"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The lifetime told: the token's when it ends sooner, else the cap.
	if _, life := e.rawOAuthConn(t, e.rsa.Sign(t, oauthClaims("alice", time.Hour))); life != 60000 {
		t.Fatalf("an hour's token: lifetime %d ms, want connections.max.reauth.ms (60000)", life)
	}
	short, life := e.rawOAuthConn(t, e.ec.Sign(t, oauthClaims("alice", 3*time.Second)))
	if life <= 0 || life > 3000 {
		t.Fatalf("a 3 s token: lifetime %d ms", life)
	}
	if !metadataOK(t, short, 3) {
		t.Fatal("metadata refused within the session")
	}

	// franz-go with tokens of 4 s, minted afresh at each authentication.
	var mints atomic.Int32
	fresh := oauth.Oauth(func(context.Context) (oauth.Auth, error) {
		mints.Add(1)
		return oauth.Auth{Token: e.rsa.Sign(t, oauthClaims("alice", 4*time.Second))}, nil
	})
	cl := newClient(t, e.addr, e.tlsOpt, kgo.SASL(fresh), kgo.DefaultProduceTopic("sessions"), kgo.AllowAutoTopicCreation())
	if err := roundTrip(ctx, cl, "sessions", "first"); err != nil {
		t.Fatal(err)
	}
	before := mints.Load()
	time.Sleep(5 * time.Second) // past the first token's expiry
	if err := roundTrip(ctx, cl, "sessions", "after the first token expired"); err != nil {
		t.Fatalf("after the token's lifetime: %v", err)
	}
	if mints.Load() <= before {
		t.Fatal("franz-go did not authenticate again after its token's lifetime")
	}
	if m := metricsText(t, e.n.HTTPAddr()); strings.Contains(m, `reason="reauth_expired"`) {
		t.Fatalf("a re-authenticating client's connection was cut:\n%s", grepLines(m, "connections_closed"))
	}

	// The raw connection never re-authenticated: by now its session has
	// ended, and its next request closes it.
	if metadataOK(t, short, 4) {
		t.Fatal("a connection whose token expired was served")
	}
	if m := metricsText(t, e.n.HTTPAddr()); !strings.Contains(m, `strata_kafka_connections_closed_total{reason="reauth_expired"} 1`) {
		t.Fatalf("the expired session's close was not counted:\n%s", grepLines(m, "connections_closed"))
	}
}

// TestOAuthBearerKeyRotation: a key written into the JWKS file is
// accepted once the node has reread the file (it watches it like the TLS
// files), and a key removed from it is refused from then on; connections
// authenticated before keep working.
func TestOAuthBearerKeyRotation(t *testing.T) {
	e := startOAuthNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ping := func(token string) error {
		cl := e.client(t, token, kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		defer pcancel()
		err := cl.Ping(pctx)
		cl.Close()
		return err
	}
	old := e.client(t, e.rsa.Sign(t, oauthClaims("alice", time.Hour)), kgo.DefaultProduceTopic("rotation"), kgo.AllowAutoTopicCreation())
	if err := roundTrip(ctx, old, "rotation", "before"); err != nil {
		t.Fatal(err)
	}
	next := testjwt.NewRSA(t, "rsa-2")
	nextTok := next.Sign(t, oauthClaims("alice", time.Hour))
	if err := ping(nextTok); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("a key not yet in the set: %v", err)
	}
	// Rotate: rsa-2 in, rsa-1 out.
	testjwt.WriteJWKS(t, e.jwksFile, next, e.ec)
	deadline := time.Now().Add(15 * time.Second)
	for ping(nextTok) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the rotated key was not accepted within 15 s")
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err := ping(e.rsa.Sign(t, oauthClaims("alice", time.Hour))); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("a key removed from the set: %v", err)
	}
	if err := ping(e.ec.Sign(t, oauthClaims("alice", time.Hour))); err != nil {
		t.Fatalf("the key that stayed: %v", err)
	}
	if err := roundTrip(ctx, old, "rotation", "after"); err != nil {
		t.Fatalf("a connection authenticated before the rotation: %v", err)
	}
	if !strings.Contains(metricsText(t, e.n.HTTPAddr()), `strata_sasl_oauthbearer_jwks_reloads_total{result="ok"} 1`) {
		t.Error("the reload was not counted")
	}
}

// saramaToken is a sarama.AccessTokenProvider of one token.
type saramaToken string

func (s saramaToken) Token() (*sarama.AccessToken, error) {
	return &sarama.AccessToken{Token: string(s)}, nil
}

// TestOAuthBearerSarama: sarama's OAUTHBEARER client (another
// implementation of the client message) produces with a valid token and
// is refused with an expired one. sarama acknowledges the error challenge
// with the four characters `\x01` rather than %x01: anything after the
// challenge fails the authentication all the same.
func TestOAuthBearerSarama(t *testing.T) {
	e := startOAuthNode(t, nil)
	cfg := func(token string) *sarama.Config {
		c := saramaConfig()
		c.ClientID = "strata-e2e-sarama-oauth"
		c.Net.TLS.Enable, c.Net.TLS.Config = true, clientTLS(t, e.ca, e.ca, "")
		c.Net.SASL.Enable, c.Net.SASL.Handshake = true, true
		c.Net.SASL.Mechanism, c.Net.SASL.TokenProvider = sarama.SASLTypeOAuth, saramaToken(token)
		c.Net.DialTimeout = 5 * time.Second
		c.Metadata.Retry.Max, c.Producer.Retry.Max = 0, 0
		return c
	}
	prod, err := sarama.NewSyncProducer([]string{e.addr}, cfg(e.ec.Sign(t, oauthClaims("sarama", time.Hour))))
	if err != nil {
		t.Fatalf("sarama producer with an ES256 token: %v", err)
	}
	if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: "sarama-oauth", Value: sarama.StringEncoder("hello")}); err != nil {
		t.Fatalf("send: %v", err)
	}
	_ = prod.Close()
	_, err = sarama.NewSyncProducer([]string{e.addr}, cfg(e.rsa.Sign(t, oauthClaims("sarama", -time.Hour))))
	if err == nil || !errors.Is(err, sarama.ErrSASLAuthenticationFailed) && !strings.Contains(err.Error(), "SASL Authentication failed") {
		t.Fatalf("sarama with an expired token: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if !strings.Contains(e.audit.String(), `reason="invalid token: expired"`) {
		t.Fatal("the refusal was not audited")
	}
}
