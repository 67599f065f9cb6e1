package security

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MechOAuthBearer is SASL/OAUTHBEARER (RFC 7628, KIP-255): the client
// presents a JWT, checked against the keys of a JSON Web Key Set.
const MechOAuthBearer = "OAUTHBEARER"

// OAuth defaults, as Kafka's sasl.oauthbearer.* settings.
const (
	DefaultOAuthClockSkew = 30 * time.Second
	DefaultOAuthSubClaim  = "sub"
)

// OAuthAlgorithms are the JWS algorithms a token may be signed with: RSA
// and ECDSA signatures only, never "none" nor an HMAC.
var OAuthAlgorithms = []string{"RS256", "RS384", "RS512", "ES256", "ES384", "PS256"}

// oauthErrorChallenge is the server's answer to a refused token (RFC 7628
// §3.2.2), as Kafka's OAuthBearerSaslServer sends it.
const oauthErrorChallenge = `{"status":"invalid_token"}`

// OAuthClientMessage is the client's first message, RFC 7628 §3.1 as
// Kafka's OAuthBearerClientInitialResponse reads it:
//
//	n,[a=authzid],%x01auth=Bearer <token>%x01[key=value%x01]*%x01
type OAuthClientMessage struct {
	AuthzID string // the requested authorization identity, "" if none
	Token   string
	// Extensions are the other key=value pairs (KIP-342); accepted and
	// ignored, as Kafka's default validator does.
	Extensions map[string]string
}

// ParseOAuthClientMessage parses the client's first message. Keys are
// letters; values printable ASCII, space, tab, CR or LF; the auth value
// is "Bearer" (any case), spaces, then a token of base64url characters
// and dots.
func ParseOAuthClientMessage(msg []byte) (OAuthClientMessage, error) {
	var m OAuthClientMessage
	s, ok := strings.CutPrefix(string(msg), "n,")
	if !ok {
		return m, errors.New("malformed OAUTHBEARER message: no gs2 header (channel binding is not supported)")
	}
	authz, rest, ok := strings.Cut(s, ",")
	if !ok {
		return m, errors.New("malformed OAUTHBEARER message: gs2 header")
	}
	if authz != "" {
		name, ok := strings.CutPrefix(authz, "a=")
		if !ok || name == "" || !saslNameChars(name) {
			return m, errors.New("malformed OAUTHBEARER message: authorization id")
		}
		var err error
		if m.AuthzID, err = decodeSaslName(name); err != nil {
			return m, errors.New("malformed OAUTHBEARER message: authorization id")
		}
	}
	// rest = %x01 *(kvpair %x01) %x01
	body, ok := strings.CutPrefix(rest, "\x01")
	if !ok || !strings.HasSuffix(body, "\x01") {
		return m, errors.New("malformed OAUTHBEARER message: separators")
	}
	body = body[:len(body)-1]
	pairs := map[string]string{}
	for body != "" {
		pair, after, ok := strings.Cut(body, "\x01")
		if !ok {
			return m, errors.New("malformed OAUTHBEARER message: unterminated key=value")
		}
		body = after
		k, v, ok := strings.Cut(pair, "=")
		if !ok || !oauthKey(k) || !oauthValue(v) {
			return m, errors.New("malformed OAUTHBEARER message: key=value")
		}
		if _, dup := pairs[k]; dup {
			return m, fmt.Errorf("malformed OAUTHBEARER message: %q twice", k)
		}
		pairs[k] = v
	}
	auth, ok := pairs["auth"]
	if !ok {
		return m, errors.New("malformed OAUTHBEARER message: no auth")
	}
	delete(pairs, "auth")
	scheme, token, ok := strings.Cut(auth, " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || !oauthToken(token) {
		return m, errors.New("malformed OAUTHBEARER message: auth is not \"Bearer <token>\"")
	}
	m.Token = token
	if len(pairs) > 0 {
		m.Extensions = pairs
	}
	return m, nil
}

// saslNameChars: %x01-7F but '=' and ',' (escapes are checked when
// decoded).
func saslNameChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= 0x80 || c == ',' {
			return false
		}
	}
	return true
}

func oauthKey(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

func oauthValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x21 || c > 0x7e) && c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return s != ""
}

func oauthToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}

// TokenError is a token the validator refused. Its Reason is short and
// stable, for the audit log and metrics ("expired", "unknown key").
type TokenError struct{ Reason string }

func (e *TokenError) Error() string { return "invalid token: " + e.Reason }

func tokenErr(format string, args ...any) error {
	return &TokenError{Reason: fmt.Sprintf(format, args...)}
}

// OAuthValidator checks tokens as Kafka's OAuthBearerValidatorCallbackHandler
// does with a JWKS: a JWS signed with one of OAuthAlgorithms by a key of
// the set (chosen by kid), exp and iat present, exp, nbf and iat within
// the clock skew, the issuer and one audience as expected when set, and
// the principal's claim a non-empty string.
type OAuthValidator struct {
	Keys             func() *KeySet
	ExpectedIssuer   string   // "" accepts any issuer
	ExpectedAudience []string // empty accepts any audience
	ClockSkew        time.Duration
	SubClaim         string           // the principal's claim; "" is "sub"
	Now              func() time.Time // nil is time.Now
}

// OAuthToken is what a valid token says.
type OAuthToken struct {
	Principal string    // the SubClaim's value, trimmed
	Expiry    time.Time // exp
}

// Validate checks a token; a refusal is a *TokenError.
func (v *OAuthValidator) Validate(raw string) (OAuthToken, error) {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	claims := jwt.MapClaims{}
	keys := v.Keys()
	_, err := jwt.NewParser(jwt.WithoutClaimsValidation()).ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		if !slices.Contains(OAuthAlgorithms, alg) {
			return nil, tokenErr("algorithm %s not allowed", strconv.Quote(alg))
		}
		kid, _ := t.Header["kid"].(string)
		cands := keys.candidates(alg, kid)
		if len(cands) == 0 {
			return nil, tokenErr("unknown key %s for %s", strconv.Quote(kid), alg)
		}
		return jwt.VerificationKeySet{Keys: cands}, nil
	})
	var te *TokenError
	switch {
	case err == nil:
	case errors.As(err, &te):
		return OAuthToken{}, te
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return OAuthToken{}, tokenErr("bad signature")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return OAuthToken{}, tokenErr("unsupported algorithm")
	default:
		return OAuthToken{}, tokenErr("malformed")
	}
	return v.checkClaims(claims, now)
}

// checkClaims checks a signed token's claims at now.
func (v *OAuthValidator) checkClaims(c jwt.MapClaims, now time.Time) (OAuthToken, error) {
	skew := v.ClockSkew
	exp, err := c.GetExpirationTime()
	switch {
	case err != nil:
		return OAuthToken{}, tokenErr("malformed exp")
	case exp == nil:
		return OAuthToken{}, tokenErr("missing claim exp")
	case !now.Before(exp.Add(skew)):
		return OAuthToken{}, tokenErr("expired")
	}
	iat, err := c.GetIssuedAt()
	switch {
	case err != nil:
		return OAuthToken{}, tokenErr("malformed iat")
	case iat == nil:
		return OAuthToken{}, tokenErr("missing claim iat")
	case now.Add(skew).Before(iat.Time):
		return OAuthToken{}, tokenErr("issued in the future")
	}
	nbf, err := c.GetNotBefore()
	switch {
	case err != nil:
		return OAuthToken{}, tokenErr("malformed nbf")
	case nbf != nil && now.Add(skew).Before(nbf.Time):
		return OAuthToken{}, tokenErr("not yet valid")
	}
	if v.ExpectedIssuer != "" {
		if iss, err := c.GetIssuer(); err != nil || iss != v.ExpectedIssuer {
			return OAuthToken{}, tokenErr("wrong issuer")
		}
	}
	if len(v.ExpectedAudience) > 0 {
		aud, err := c.GetAudience()
		if err != nil || !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(v.ExpectedAudience, a) }) {
			return OAuthToken{}, tokenErr("wrong audience")
		}
	}
	name := v.SubClaim
	if name == "" {
		name = DefaultOAuthSubClaim
	}
	sub, _ := c[name].(string)
	if sub = strings.TrimSpace(sub); sub == "" {
		return OAuthToken{}, tokenErr("missing claim %s", name)
	}
	return OAuthToken{Principal: sub, Expiry: exp.Time}, nil
}

// NewOAuthBearerExchange starts an OAUTHBEARER exchange checking tokens
// with v.
func NewOAuthBearerExchange(v *OAuthValidator) Exchange { return &oauthExchange{v: v} }

// oauthExchange is the server side of RFC 7628 as Kafka's
// OAuthBearerSaslServer runs it: one client message with the token; a
// valid one ends the exchange with an empty answer; a refused one is
// answered with the error challenge, the client acknowledges it with a
// lone %x01, and the exchange then fails.
type oauthExchange struct {
	v       *OAuthValidator
	step    int   // 0: want the client's message; 1: want %x01 after a refusal; 2: ended
	refusal error // why the token was refused (step 1)
	tok     OAuthToken
	done    bool
}

func (o *oauthExchange) Step(in []byte) ([]byte, error) {
	switch o.step {
	case 0:
		o.step = 2
		msg, err := ParseOAuthClientMessage(in)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrAuthFailed, err)
		}
		tok, err := o.v.Validate(msg.Token)
		if err != nil {
			o.step, o.refusal = 1, fmt.Errorf("%w: %w", ErrAuthFailed, err)
			return nil, &ErrorChallenge{Challenge: []byte(oauthErrorChallenge), Err: o.refusal}
		}
		if msg.AuthzID != "" && msg.AuthzID != tok.Principal {
			return nil, fmt.Errorf("%w: authorization id %q differs from the token's principal %q", ErrAuthFailed, msg.AuthzID, tok.Principal)
		}
		o.tok, o.done = tok, true
		return []byte{}, nil
	case 1:
		o.step = 2
		if len(in) != 1 || in[0] != 0x01 {
			return nil, fmt.Errorf("%w: expected %%x01 after the error challenge", ErrAuthFailed)
		}
		return nil, o.refusal
	}
	return nil, fmt.Errorf("%w: exchange already finished", ErrAuthFailed)
}

func (o *oauthExchange) Done() bool   { return o.done }
func (o *oauthExchange) User() string { return o.tok.Principal }

// CredentialExpiry is the token's exp: the session may not outlive it.
func (o *oauthExchange) CredentialExpiry() time.Time { return o.tok.Expiry }
