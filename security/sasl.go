package security

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/xdg-go/scram"
)

// SASL mechanism names, as clients send them in SaslHandshake.
const (
	MechPlain       = "PLAIN"
	MechScramSHA256 = "SCRAM-SHA-256"
	MechScramSHA512 = "SCRAM-SHA-512"
)

// ScramMechanisms are the SCRAM mechanisms credentials are kept for.
var ScramMechanisms = []string{MechScramSHA256, MechScramSHA512}

// Kafka's bounds on SCRAM iterations (KIP-554).
const (
	MinScramIterations     = 4096
	MaxScramIterations     = 16384
	DefaultScramIterations = 8192
)

// ParseMechanisms checks --sasl-enabled-mechanisms, a comma-separated list
// (upper-cased); empty means SCRAM-SHA-256 and SCRAM-SHA-512.
func ParseMechanisms(s string) ([]string, error) {
	items := splitList(s)
	if len(items) == 0 {
		return slices.Clone(ScramMechanisms), nil
	}
	var out []string
	for _, m := range items {
		m = strings.ToUpper(m)
		switch m {
		case MechPlain, MechScramSHA256, MechScramSHA512, MechOAuthBearer:
		default:
			return nil, fmt.Errorf("sasl-enabled-mechanisms: %q is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", m)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// ScramCredential is what the server keeps of a SCRAM password (RFC 5802):
// never the password itself.
type ScramCredential struct {
	Mechanism  string
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

func hashOf(mechanism string) (scram.HashGeneratorFcn, error) {
	switch mechanism {
	case MechScramSHA256:
		return scram.SHA256, nil
	case MechScramSHA512:
		return scram.SHA512, nil
	}
	return nil, fmt.Errorf("unknown SCRAM mechanism %q", mechanism)
}

// NewScramCredential derives the stored credential of password with a
// fresh random salt.
func NewScramCredential(mechanism, user, password string, iterations int) (ScramCredential, error) {
	salt := make([]byte, 24)
	if _, err := rand.Read(salt); err != nil {
		return ScramCredential{}, err
	}
	return DeriveScramCredential(mechanism, user, password, salt, iterations)
}

// DeriveScramCredential derives the stored credential of password with the
// given salt, as KIP-554's salted password is derived by the client.
func DeriveScramCredential(mechanism, user, password string, salt []byte, iterations int) (ScramCredential, error) {
	if iterations < MinScramIterations || iterations > MaxScramIterations {
		return ScramCredential{}, fmt.Errorf("iterations %d outside %d-%d", iterations, MinScramIterations, MaxScramIterations)
	}
	h, err := hashOf(mechanism)
	if err != nil {
		return ScramCredential{}, err
	}
	cl, err := h.NewClient(user, password, "")
	if err != nil {
		return ScramCredential{}, fmt.Errorf("password: %w", err)
	}
	sc, err := cl.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	if err != nil {
		return ScramCredential{}, err
	}
	return ScramCredential{Mechanism: mechanism, Salt: bytes.Clone(salt), Iterations: iterations, StoredKey: sc.StoredKey, ServerKey: sc.ServerKey}, nil
}

// ScramFromSaltedPassword builds the stored credential from the salted
// password an AlterUserScramCredentials upsertion carries (KIP-554: the
// client salts and hashes; the password never travels).
func ScramFromSaltedPassword(mechanism string, salt, salted []byte, iterations int) (ScramCredential, error) {
	if iterations < MinScramIterations || iterations > MaxScramIterations {
		return ScramCredential{}, fmt.Errorf("iterations %d outside %d-%d", iterations, MinScramIterations, MaxScramIterations)
	}
	h, err := hashOf(mechanism)
	if err != nil {
		return ScramCredential{}, err
	}
	if len(salt) == 0 || len(salted) != h().Size() {
		return ScramCredential{}, fmt.Errorf("%s: salted password of %d bytes, want %d, with a salt", mechanism, len(salted), h().Size())
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	sk := h()
	sk.Write(clientKey)
	return ScramCredential{Mechanism: mechanism, Salt: bytes.Clone(salt), Iterations: iterations,
		StoredKey: sk.Sum(nil), ServerKey: mac(salted, "Server Key")}, nil
}

// CredentialLookup finds a user's stored credential for a mechanism; ok is
// false when the user has none.
type CredentialLookup func(user, mechanism string) (cred ScramCredential, ok bool)

// ErrAuthFailed is the error of every failed authentication: the client is
// told that its credentials were refused, never which part.
var ErrAuthFailed = errors.New("authentication failed: invalid credentials")

// FailureReason is the audit log's reason for a failed exchange's error:
// the refused token's ("invalid token: expired"), else "invalid
// credentials".
func FailureReason(err error) string {
	var te *TokenError
	if errors.As(err, &te) {
		return te.Error()
	}
	return "invalid credentials"
}

// ErrorChallenge is a failed authentication that the mechanism reports to
// the client before it ends (OAUTHBEARER, RFC 7628 §3.2.2): the server
// sends Challenge as its message, the client acknowledges it, and the
// exchange's next Step then fails with Err. The authentication has failed
// when Step returns it.
type ErrorChallenge struct {
	Challenge []byte
	Err       error
}

func (e *ErrorChallenge) Error() string { return e.Err.Error() }
func (e *ErrorChallenge) Unwrap() error { return e.Err }

// Expiring is implemented by exchanges whose credential has a lifetime
// (OAUTHBEARER's token): a session may not outlive it (KIP-368).
type Expiring interface {
	// CredentialExpiry is when the authenticated credential expires, once
	// Done.
	CredentialExpiry() time.Time
}

// Exchange is the server side of one SASL authentication: each client
// message in, a server message out, until Done.
type Exchange interface {
	// Step consumes a client message and returns the server's answer. An
	// error ends the exchange: authentication failed (an *ErrorChallenge
	// still has a message for the client).
	Step(in []byte) (out []byte, err error)
	// Done reports whether the exchange has finished successfully.
	Done() bool
	// User is the authenticated user name, once Done.
	User() string
}

// NewExchange starts an exchange of a password mechanism, which must be
// enabled (OAUTHBEARER's is NewOAuthBearerExchange).
func NewExchange(mechanism string, lookup CredentialLookup) (Exchange, error) {
	switch mechanism {
	case MechPlain:
		return &plainExchange{lookup: lookup}, nil
	case MechScramSHA256, MechScramSHA512:
		h, _ := hashOf(mechanism)
		return &scramServer{mech: mechanism, hash: h, lookup: lookup}, nil
	}
	return nil, fmt.Errorf("unsupported SASL mechanism %q", mechanism)
}

// plainExchange is RFC 4616: one message, authzid NUL authcid NUL passwd,
// checked against the user's stored SCRAM credential.
type plainExchange struct {
	lookup CredentialLookup
	user   string
	done   bool
}

func (p *plainExchange) Step(in []byte) ([]byte, error) {
	if p.done {
		return nil, errors.New("PLAIN takes one message")
	}
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return nil, fmt.Errorf("%w: malformed PLAIN message", ErrAuthFailed)
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if authz != "" && authz != user {
		return nil, fmt.Errorf("%w: authorization id %q differs from user", ErrAuthFailed, authz)
	}
	if !p.check(user, pass) {
		return nil, ErrAuthFailed
	}
	p.user, p.done = user, true
	return nil, nil
}

// check derives the credential from the password with each stored
// credential's salt, strongest first, and compares in constant time.
func (p *plainExchange) check(user, pass string) bool {
	for _, mech := range []string{MechScramSHA512, MechScramSHA256} {
		c, ok := p.lookup(user, mech)
		if !ok {
			continue
		}
		d, err := DeriveScramCredential(mech, user, pass, c.Salt, c.Iterations)
		return err == nil && hmac.Equal(d.StoredKey, c.StoredKey)
	}
	return false
}

func (p *plainExchange) Done() bool   { return p.done }
func (p *plainExchange) User() string { return p.user }
