package security

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stratalog/strata/internal/testjwt"
)

func TestParseOAuthClientMessage(t *testing.T) {
	for _, c := range []struct {
		msg       string
		authz     string
		token     string
		ext       map[string]string
		wantError bool
	}{
		{msg: "n,,\x01auth=Bearer a.b.c\x01\x01", token: "a.b.c"},
		{msg: "n,a=alice,\x01auth=bearer   a-b_c.d\x01\x01", authz: "alice", token: "a-b_c.d"},
		{msg: "n,a=a=2Cb=3D,\x01auth=BEARER x\x01\x01", authz: "a,b=", token: "x"},
		{msg: "n,,\x01auth=Bearer t\x01traceId=abc 123\x01logicalCluster=lkc-1\x01\x01", token: "t",
			ext: map[string]string{"traceId": "abc 123", "logicalCluster": "lkc-1"}},
		{msg: "n,,\x01ext=1\x01auth=Bearer t\x01\x01", token: "t", ext: map[string]string{"ext": "1"}},
		{msg: "", wantError: true},
		{msg: "y,,\x01auth=Bearer t\x01\x01", wantError: true},         // channel binding flag
		{msg: "n,,\x01auth=Bearer t\x01", wantError: true},             // no final separator
		{msg: "n,,auth=Bearer t\x01\x01", wantError: true},             // no leading separator
		{msg: "n,,\x01\x01", wantError: true},                          // no auth
		{msg: "n,,\x01auth=Basic dTpw\x01\x01", wantError: true},       // another scheme
		{msg: "n,,\x01auth=Bearer\x01\x01", wantError: true},           // no token
		{msg: "n,,\x01auth=Bearer a+b/c=\x01\x01", wantError: true},    // not base64url
		{msg: "n,,\x01auth=Bearer t\x01k1=v\x01\x01", wantError: true}, // key with a digit
		{msg: "n,,\x01auth=Bearer t\x01k=\x01\x01", wantError: true},   // empty value
		{msg: "n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01", wantError: true},
		{msg: "n,b=x,\x01auth=Bearer t\x01\x01", wantError: true},
		{msg: "n,a=x=2,\x01auth=Bearer t\x01\x01", wantError: true},
		{msg: "n,a=\xc3\xa9,\x01auth=Bearer t\x01\x01", wantError: true},
		{msg: "n,,\x01auth=Bearer t\x01\x01\x01", wantError: true},
	} {
		m, err := ParseOAuthClientMessage([]byte(c.msg))
		if c.wantError {
			if err == nil {
				t.Errorf("%q: parsed as %+v", c.msg, m)
			}
			continue
		}
		if err != nil || m.AuthzID != c.authz || m.Token != c.token || len(m.Extensions) != len(c.ext) {
			t.Errorf("%q: %+v %v", c.msg, m, err)
			continue
		}
		for k, v := range c.ext {
			if m.Extensions[k] != v {
				t.Errorf("%q: extension %s=%q, want %q", c.msg, k, m.Extensions[k], v)
			}
		}
	}
}

func TestParseJWKS(t *testing.T) {
	rsaKey, ecKey := testjwt.NewRSA(t, "r1"), testjwt.NewEC(t, "e1")
	set, err := ParseJWKS(testjwt.JWKS(rsaKey, ecKey))
	if err != nil || set.Len() != 2 || set.Skipped != 0 {
		t.Fatalf("%+v %v", set, err)
	}
	if c := set.candidates("ES256", "e1"); len(c) != 1 {
		t.Fatalf("ES256 candidates for e1: %d", len(c))
	}
	if c := set.candidates("ES256", "r1"); len(c) != 0 {
		t.Fatal("an RSA key is a candidate for ES256")
	}
	if c := set.candidates("RS256", ""); len(c) != 1 {
		t.Fatalf("RS256 candidates without a kid: %d", len(c))
	}
	if c := set.candidates("ES384", "e1"); len(c) != 0 {
		t.Fatal("a P-256 key is a candidate for ES384")
	}
	// Keys that cannot verify here are skipped; the others still load.
	mixed := `{"keys":[
		{"kty":"oct","kid":"h","k":"c2VjcmV0"},
		{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
		{"kty":"RSA","kid":"enc","use":"enc","n":"` + rsaKey.JWK()["n"].(string) + `","e":"AQAB"},
		{"kty":"RSA","kid":"small","n":"ALhx","e":"AQAB"},
		{"kty":"EC","crv":"P-521","x":"AA","y":"AA"},
		{"kty":"RSA","kid":"r1","alg":"RS256","n":"` + rsaKey.JWK()["n"].(string) + `","e":"AQAB"}]}`
	set, err = ParseJWKS([]byte(mixed))
	if err != nil || set.Len() != 1 || set.Skipped != 5 {
		t.Fatalf("mixed set: %+v %v", set, err)
	}
	if c := set.candidates("RS384", "r1"); len(c) != 0 {
		t.Fatal("a key for RS256 is a candidate for RS384")
	}
	ec := ecKey.JWK()
	for name, doc := range map[string]string{
		"not JSON":         `{"keys":`,
		"no usable key":    `{"keys":[{"kty":"oct","k":"AA"}]}`,
		"empty":            `{}`,
		"bad base64":       `{"keys":[{"kty":"RSA","n":"!!","e":"AQAB"}]}`,
		"even exponent":    `{"keys":[{"kty":"RSA","n":"` + rsaKey.JWK()["n"].(string) + `","e":"Ag"}]}`,
		"short coordinate": `{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`,
		"off the curve":    `{"keys":[{"kty":"EC","crv":"P-256","x":"` + ec["x"].(string) + `","y":"` + ec["x"].(string) + `"}]}`,
	} {
		if _, err := ParseJWKS([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestJWKSReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "jwks.json")
	k1, k2 := testjwt.NewEC(t, "k1"), testjwt.NewEC(t, "k2")
	testjwt.WriteJWKS(t, file, k1)
	j, err := LoadJWKS(file)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := j.Reload(); changed || err != nil {
		t.Fatalf("unchanged file: %v %v", changed, err)
	}
	testjwt.WriteJWKS(t, file, k1, k2)
	if changed, err := j.Reload(); !changed || err != nil || j.Keys().Len() != 2 {
		t.Fatalf("rotated file: %v %v", changed, err)
	}
	if err := os.WriteFile(file, []byte(`{"keys":[`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Reload(); err == nil || !strings.Contains(err.Error(), "sasl-oauthbearer-jwks-file") {
		t.Fatalf("half-written file: %v", err)
	}
	if j.Keys().Len() != 2 {
		t.Fatal("a failed reload dropped the keys")
	}
	if _, err := LoadJWKS(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("missing file loaded")
	}
}

// oauthFixture is a key set of an RSA and an EC key and a validator over
// it at a fixed time.
type oauthFixture struct {
	rsa, ec, other *testjwt.Key
	now            time.Time
	v              *OAuthValidator
}

func newOAuthFixture(t testing.TB) *oauthFixture {
	f := &oauthFixture{rsa: testjwt.NewRSA(t, "rsa-1"), ec: testjwt.NewEC(t, "ec-1"), other: testjwt.NewRSA(t, "rsa-1"),
		now: time.Unix(1_800_000_000, 0)}
	set, err := ParseJWKS(testjwt.JWKS(f.rsa, f.ec))
	if err != nil {
		t.Fatal(err)
	}
	f.v = &OAuthValidator{Keys: func() *KeySet { return set }, ClockSkew: DefaultOAuthClockSkew,
		Now: func() time.Time { return f.now }}
	return f
}

// claims are valid claims for sub at the fixture's time, changed by kv
// (a nil value deletes the claim).
func (f *oauthFixture) claims(sub string, kv ...any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": sub, "iat": f.now.Add(-time.Minute).Unix(), "exp": f.now.Add(time.Hour).Unix()}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

func TestOAuthValidator(t *testing.T) {
	f := newOAuthFixture(t)
	withMethod := func(k *testjwt.Key, m jwt.SigningMethod) *testjwt.Key {
		return &testjwt.Key{Kid: k.Kid, Method: m, Priv: k.Priv}
	}
	hmac, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, f.claims("alice")).SignedString([]byte("secret"))
	noKid := func() string {
		s, _ := jwt.NewWithClaims(jwt.SigningMethodES256, f.claims("alice")).SignedString(f.ec.Priv)
		return s
	}()
	now := f.now
	for _, c := range []struct {
		name   string
		token  string
		tweak  func(v *OAuthValidator)
		want   string // principal, or "!" + the refusal reason
		expiry time.Time
	}{
		{name: "RS256", token: f.rsa.Sign(t, f.claims("alice")), want: "alice", expiry: now.Add(time.Hour)},
		{name: "RS384", token: withMethod(f.rsa, jwt.SigningMethodRS384).Sign(t, f.claims("alice")), want: "alice"},
		{name: "RS512", token: withMethod(f.rsa, jwt.SigningMethodRS512).Sign(t, f.claims("alice")), want: "alice"},
		{name: "PS256", token: withMethod(f.rsa, jwt.SigningMethodPS256).Sign(t, f.claims("alice")), want: "alice"},
		{name: "ES256", token: f.ec.Sign(t, f.claims("bob")), want: "bob"},
		{name: "no kid", token: noKid, want: "alice"},
		{name: "sub trimmed", token: f.ec.Sign(t, f.claims(" carol ")), want: "carol"},
		{name: "expired within the skew", token: f.rsa.Sign(t, f.claims("alice", "exp", now.Add(-10*time.Second).Unix())), want: "alice"},
		{name: "expired", token: f.rsa.Sign(t, f.claims("alice", "exp", now.Add(-time.Minute).Unix())), want: "!expired"},
		{name: "expired, no skew", token: f.rsa.Sign(t, f.claims("alice", "exp", now.Add(-time.Second).Unix())),
			tweak: func(v *OAuthValidator) { v.ClockSkew = 0 }, want: "!expired"},
		{name: "nbf within the skew", token: f.rsa.Sign(t, f.claims("alice", "nbf", now.Add(20*time.Second).Unix())), want: "alice"},
		{name: "not yet valid", token: f.rsa.Sign(t, f.claims("alice", "nbf", now.Add(time.Minute).Unix())), want: "!not yet valid"},
		{name: "issued in the future", token: f.rsa.Sign(t, f.claims("alice", "iat", now.Add(time.Minute).Unix())), want: "!issued in the future"},
		{name: "no exp", token: f.rsa.Sign(t, f.claims("alice", "exp", nil)), want: "!missing claim exp"},
		{name: "no iat", token: f.rsa.Sign(t, f.claims("alice", "iat", nil)), want: "!missing claim iat"},
		{name: "exp a string", token: f.rsa.Sign(t, f.claims("alice", "exp", "tomorrow")), want: "!malformed exp"},
		{name: "no sub", token: f.rsa.Sign(t, f.claims("alice", "sub", nil)), want: "!missing claim sub"},
		{name: "blank sub", token: f.rsa.Sign(t, f.claims("  ")), want: "!missing claim sub"},
		{name: "sub a number", token: f.rsa.Sign(t, f.claims("alice", "sub", 7)), want: "!missing claim sub"},
		{name: "another claim", token: f.rsa.Sign(t, f.claims("x", "client_id", "svc-1")),
			tweak: func(v *OAuthValidator) { v.SubClaim = "client_id" }, want: "svc-1"},
		{name: "another claim missing", token: f.rsa.Sign(t, f.claims("x")),
			tweak: func(v *OAuthValidator) { v.SubClaim = "client_id" }, want: "!missing claim client_id"},
		{name: "issuer", token: f.rsa.Sign(t, f.claims("alice", "iss", "https://idp")),
			tweak: func(v *OAuthValidator) { v.ExpectedIssuer = "https://idp" }, want: "alice"},
		{name: "wrong issuer", token: f.rsa.Sign(t, f.claims("alice", "iss", "https://evil")),
			tweak: func(v *OAuthValidator) { v.ExpectedIssuer = "https://idp" }, want: "!wrong issuer"},
		{name: "no issuer", token: f.rsa.Sign(t, f.claims("alice")),
			tweak: func(v *OAuthValidator) { v.ExpectedIssuer = "https://idp" }, want: "!wrong issuer"},
		{name: "audience in a list", token: f.rsa.Sign(t, f.claims("alice", "aud", []string{"web", "kafka"})),
			tweak: func(v *OAuthValidator) { v.ExpectedAudience = []string{"strata", "kafka"} }, want: "alice"},
		{name: "audience a string", token: f.rsa.Sign(t, f.claims("alice", "aud", "strata")),
			tweak: func(v *OAuthValidator) { v.ExpectedAudience = []string{"strata"} }, want: "alice"},
		{name: "wrong audience", token: f.rsa.Sign(t, f.claims("alice", "aud", "web")),
			tweak: func(v *OAuthValidator) { v.ExpectedAudience = []string{"strata"} }, want: "!wrong audience"},
		{name: "no audience", token: f.rsa.Sign(t, f.claims("alice")),
			tweak: func(v *OAuthValidator) { v.ExpectedAudience = []string{"strata"} }, want: "!wrong audience"},
		{name: "any audience when none is expected", token: f.rsa.Sign(t, f.claims("alice", "aud", "web")), want: "alice"},
		{name: "alg none", token: testjwt.Unsigned(t, f.claims("alice")), want: `!algorithm "none" not allowed`},
		{name: "HMAC", token: hmac, want: `!algorithm "HS256" not allowed`},
		{name: "key not in the set", token: testjwt.NewEC(t, "ec-2").Sign(t, f.claims("alice")), want: `!unknown key "ec-2" for ES256`},
		{name: "kid of the set, other key", token: f.other.Sign(t, f.claims("alice")), want: "!bad signature"},
		{name: "kid of a key of another type", token: (&testjwt.Key{Kid: "rsa-1", Method: jwt.SigningMethodES256, Priv: f.ec.Priv}).Sign(t, f.claims("alice")),
			want: `!unknown key "rsa-1" for ES256`},
		{name: "tampered claims", token: tamper(f.rsa.Sign(t, f.claims("alice")), f.rsa.Sign(t, f.claims("admin"))), want: "!bad signature"},
		{name: "not a JWT", token: "abc", want: "!malformed"},
		{name: "bad base64", token: "a.b.c", want: "!malformed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := *f.v
			if c.tweak != nil {
				c.tweak(&v)
			}
			tok, err := v.Validate(c.token)
			if reason, refused := strings.CutPrefix(c.want, "!"); refused {
				var te *TokenError
				if !errors.As(err, &te) || te.Reason != reason {
					t.Fatalf("got %+v %v, want refusal %q", tok, err, reason)
				}
				return
			}
			if err != nil || tok.Principal != c.want {
				t.Fatalf("got %+v %v, want principal %q", tok, err, c.want)
			}
			if !c.expiry.IsZero() && !tok.Expiry.Equal(c.expiry) {
				t.Fatalf("expiry %v, want %v", tok.Expiry, c.expiry)
			}
		})
	}
}

// tamper puts the claims of b into a's signed token.
func tamper(a, b string) string {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	return pa[0] + "." + pb[1] + "." + pa[2]
}

func oauthMessage(authz, token string) []byte {
	a := ""
	if authz != "" {
		a = "a=" + authz
	}
	return []byte("n," + a + ",\x01auth=Bearer " + token + "\x01\x01")
}

func TestOAuthBearerExchange(t *testing.T) {
	f := newOAuthFixture(t)
	good := f.rsa.Sign(t, f.claims("alice"))

	ex := NewOAuthBearerExchange(f.v)
	out, err := ex.Step(oauthMessage("", good))
	if err != nil || len(out) != 0 || !ex.Done() || ex.User() != "alice" {
		t.Fatalf("valid token: %q %v done=%v user=%q", out, err, ex.Done(), ex.User())
	}
	if exp := ex.(Expiring).CredentialExpiry(); !exp.Equal(f.now.Add(time.Hour)) {
		t.Fatalf("credential expiry %v", exp)
	}
	if _, err := ex.Step([]byte{1}); err == nil {
		t.Fatal("a finished exchange took another message")
	}

	ex = NewOAuthBearerExchange(f.v)
	if _, err := ex.Step(oauthMessage("alice", good)); err != nil || !ex.Done() {
		t.Fatalf("matching authorization id: %v", err)
	}

	// A refused token: the error challenge, then the failure on %x01.
	ex = NewOAuthBearerExchange(f.v)
	_, err = ex.Step(oauthMessage("", f.rsa.Sign(t, f.claims("alice", "exp", f.now.Add(-time.Hour).Unix()))))
	var ch *ErrorChallenge
	if !errors.As(err, &ch) || string(ch.Challenge) != `{"status":"invalid_token"}` || ex.Done() {
		t.Fatalf("expired token: %v", err)
	}
	if !errors.Is(err, ErrAuthFailed) || FailureReason(err) != "invalid token: expired" {
		t.Fatalf("refusal %v, reason %q", err, FailureReason(err))
	}
	_, err = ex.Step([]byte{1})
	if err == nil || errors.As(err, &ch) || FailureReason(err) != "invalid token: expired" || ex.Done() {
		t.Fatalf("after %%x01: %v", err)
	}

	// Anything but %x01 after the challenge fails too: no second try.
	ex = NewOAuthBearerExchange(f.v)
	_, _ = ex.Step(oauthMessage("", "a.b.c"))
	if _, err := ex.Step(oauthMessage("", good)); err == nil || ex.Done() {
		t.Fatalf("a second token after the challenge: %v", err)
	}

	for name, msg := range map[string][]byte{
		"malformed message":         []byte("n,,auth=Bearer x"),
		"another authorization id":  oauthMessage("admin", good),
		"empty message":             {},
		"%x01 without a challenge":  {1},
		"token in the gs2 position": []byte("n,a=" + good + ",\x01\x01"),
	} {
		ex := NewOAuthBearerExchange(f.v)
		_, err := ex.Step(msg)
		if err == nil || errors.As(err, &ch) || !errors.Is(err, ErrAuthFailed) || ex.Done() {
			t.Errorf("%s: %v", name, err)
		}
		if FailureReason(err) != "invalid credentials" {
			t.Errorf("%s: reason %q", name, FailureReason(err))
		}
	}
}

func TestParseMechanismsOAuthBearer(t *testing.T) {
	if m, err := ParseMechanisms("oauthbearer,SCRAM-SHA-512"); err != nil || strings.Join(m, ",") != "OAUTHBEARER,SCRAM-SHA-512" {
		t.Fatalf("%v %v", m, err)
	}
	if _, err := NewExchange(MechOAuthBearer, nil); err == nil {
		t.Fatal("NewExchange made an OAUTHBEARER exchange without a validator")
	}
}

// FuzzOAuthBearer feeds arbitrary client messages, tokens and key sets to
// the parser, the validator and the exchange: they may refuse, never
// panic, and never authenticate a token the test did not sign.
func FuzzOAuthBearer(f *testing.F) {
	fx := newOAuthFixture(f)
	good, goodEC := fx.rsa.Sign(f, fx.claims("alice")), fx.ec.Sign(f, fx.claims("alice"))
	f.Add(oauthMessage("", good), []byte{1}, testjwt.JWKS(fx.rsa))
	f.Add(oauthMessage("alice", goodEC), []byte{}, testjwt.JWKS(fx.ec))
	f.Add([]byte("n,,\x01auth=Bearer "+testjwt.Unsigned(f, fx.claims("root"))+"\x01k=v\x01\x01"), []byte{1}, []byte(`{"keys":[]}`))
	f.Add([]byte("n,,\x01auth=Bearer eyJhbGciOiJSUzI1NiJ9.e30.AA\x01\x01"), []byte("x"), []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}]}`))
	f.Fuzz(func(t *testing.T, first, second, jwks []byte) {
		if set, err := ParseJWKS(jwks); err == nil {
			v := *fx.v
			v.Keys = func() *KeySet { return set }
			_, _ = v.Validate(string(first))
		}
		m, perr := ParseOAuthClientMessage(first)
		ex := NewOAuthBearerExchange(fx.v)
		_, err := ex.Step(first)
		if perr != nil && (err == nil || ex.Done()) {
			t.Fatalf("a message the parser refuses (%v) was accepted", perr)
		}
		if err != nil {
			_, _ = ex.Step(second)
		}
		if ex.Done() && ((m.Token != good && m.Token != goodEC) || ex.User() != "alice") {
			t.Fatalf("authenticated %q from %q", ex.User(), first)
		}
		if !bytes.Equal(second, []byte{1}) && err != nil && ex.Done() {
			t.Fatal("done after a refusal")
		}
	})
}
