package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/testjwt"
)

// TestSecurityConfigRefusals: security flags that cannot work together
// are refused at start with the flag names, before anything binds.
func TestSecurityConfigRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"SSL listener without a certificate", func(c *Config) { c.Security.Listeners = "SSL://127.0.0.1:0" }, "tls-cert-file"},
		{"bootstrap user without password", func(c *Config) { c.Security.BootstrapScramUser = "admin" }, "bootstrap-scram-password-file"},
		{"client auth without CA", func(c *Config) {
			c.Security.TLSClientAuth = "required"
		}, "tls-client-ca-file"},
		{"cluster TLS incomplete", func(c *Config) {
			c.Security.ClusterTLSCertFile = "a.pem"
			c.Cluster.Join = []string{"127.0.0.1:7946"}
		}, "go together"},
		{"cluster TLS on a lone node", func(c *Config) {
			c.Security.ClusterTLSCertFile, c.Security.ClusterTLSKeyFile, c.Security.ClusterTLSCAFile = "a.pem", "a.key", "ca.pem"
		}, "clustered"},
		{"SASL inter-broker listener without credentials", func(c *Config) {
			c.Security.Listeners = "SASL_PLAINTEXT://127.0.0.1:0"
		}, "inter-broker-user"},
		{"OAUTHBEARER without a key set", func(c *Config) {
			c.Security.SASLMechanisms = "OAUTHBEARER,SCRAM-SHA-512"
		}, "--sasl-oauthbearer-jwks-file"},
		{"OAUTHBEARER with a missing key set", func(c *Config) {
			c.Security.SASLMechanisms, c.Security.OAuthBearerJWKSFile = "OAUTHBEARER", "/no/such/jwks.json"
		}, "sasl-oauthbearer-jwks-file"},
		{"OAUTHBEARER flags without the mechanism", func(c *Config) {
			c.Security.OAuthBearerExpectedIssuer = "https://idp"
		}, "OAUTHBEARER is not in --sasl-enabled-mechanisms"},
		{"OAUTHBEARER bad clock skew", func(c *Config) {
			c.Security.SASLMechanisms, c.Security.OAuthBearerJWKSFile = "OAUTHBEARER", "/no/such/jwks.json"
			c.Security.OAuthBearerClockSkew = "a while"
		}, "sasl-oauthbearer-clock-skew"},
		{"only OAUTHBEARER on a SASL inter-broker listener", func(c *Config) {
			c.Security.Listeners = "SASL_PLAINTEXT://127.0.0.1:0"
			c.Security.SASLMechanisms, c.Security.OAuthBearerJWKSFile = "OAUTHBEARER", writeTestJWKS(t)
			c.Security.InterBrokerUser, c.Security.InterBrokerPasswordFile = "node", writeTestFile(t, "pw", "secret")
		}, "SCRAM or PLAIN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir = t.TempDir()
			c.mut(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: %v, want an error naming %s", err, c.want)
			}
		})
	}
}

func writeTestFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeTestJWKS(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jwks.json")
	testjwt.WriteJWKS(t, p, testjwt.NewEC(t, "k1"))
	return p
}

// TestOAuthBearerPlan: the OAUTHBEARER flags reach the validator.
func TestOAuthBearerPlan(t *testing.T) {
	sc := SecurityConfig{SASLMechanisms: "SCRAM-SHA-512,OAUTHBEARER", OAuthBearerJWKSFile: writeTestJWKS(t),
		OAuthBearerClockSkew: "5", OAuthBearerExpectedIssuer: "https://idp", OAuthBearerExpectedAudience: "strata, kafka,",
		OAuthBearerSubClaimName: "client_id"}
	p, err := sc.plan("127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	v := p.oauth
	if v == nil || v.ClockSkew != 5*time.Second || v.ExpectedIssuer != "https://idp" || strings.Join(v.ExpectedAudience, "|") != "strata|kafka" ||
		v.SubClaim != "client_id" || v.Keys().Len() != 1 {
		t.Fatalf("validator %+v", v)
	}
	sc.OAuthBearerClockSkew = "1m"
	if p, err := sc.plan("127.0.0.1:0", ""); err != nil || p.oauth.ClockSkew != time.Minute {
		t.Fatalf("clock skew 1m: %v", err)
	}
	sc.OAuthBearerClockSkew = ""
	if p, err := sc.plan("127.0.0.1:0", ""); err != nil || p.oauth.ClockSkew != 30*time.Second {
		t.Fatalf("default clock skew: %v", err)
	}
}

// TestSessionLifetime: KIP-368's lifetime from connections.max.reauth.ms
// and the credential's expiry.
func TestSessionLifetime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		name       string
		credExpiry time.Duration // from now; 0: none
		maxReauth  int64
		version    int16
		wantMs     int64
		wantExpiry time.Duration // from now; -1: none
	}{
		{"neither", 0, 0, 2, 0, -1},
		{"max reauth", 0, 1500, 1, 1500, 1500 * time.Millisecond},
		{"max reauth, v0: not told, not enforced", 0, 1500, 0, 0, -1},
		{"token", 10 * time.Second, 0, 1, 10_000, 10 * time.Second},
		{"token, v0: enforced, not told", 10 * time.Second, 0, 0, 0, 10 * time.Second},
		{"token sooner than max reauth", 2 * time.Second, 60_000, 2, 2000, 2 * time.Second},
		{"max reauth sooner than token", time.Hour, 60_000, 2, 60_000, time.Minute},
		{"token expired within the skew", -5 * time.Second, 60_000, 1, 0, 0},
	} {
		var exp time.Time
		if c.credExpiry != 0 {
			exp = now.Add(c.credExpiry)
		}
		ms, expiry := sessionLifetime(now, exp, c.maxReauth, c.version)
		wantExpiry := time.Time{}
		if c.wantExpiry >= 0 {
			wantExpiry = now.Add(c.wantExpiry)
		}
		if ms != c.wantMs || !expiry.Equal(wantExpiry) {
			t.Errorf("%s: %d ms, expiry %v; want %d ms, %v", c.name, ms, expiry, c.wantMs, wantExpiry)
		}
	}
}
