package security

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/golang-jwt/jwt/v5"
)

// minRSABits is the smallest RSA key accepted for token signatures, as
// jose4j (Kafka's JWT library) requires.
const minRSABits = 2048

// KeySet is the verification keys of a JSON Web Key Set (RFC 7517):
// public RSA and EC keys, each with its key ID and, when the set says so,
// the one algorithm it may be used with.
type KeySet struct {
	keys []jwk
	// Skipped counts the set's keys that cannot verify a token here: other
	// key types (oct, OKP), encryption keys, unsupported curves, RSA keys
	// under 2048 bits.
	Skipped int
}

type jwk struct {
	kid, alg string
	pub      crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey
}

// Len is the number of usable keys.
func (s *KeySet) Len() int { return len(s.keys) }

// jwkJSON is one key as RFC 7517 and RFC 7518 spell it.
type jwkJSON struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	Alg    string   `json:"alg"`
	KeyOps []string `json:"key_ops"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// ParseJWKS reads a JSON Web Key Set. Keys that cannot verify a signature
// here are skipped (and counted); a key of a supported type that is
// malformed, or a set with no usable key, is an error.
func ParseJWKS(raw []byte) (*KeySet, error) {
	var doc struct {
		Keys []jwkJSON `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	s := &KeySet{}
	for i, k := range doc.Keys {
		if (k.Use != "" && k.Use != "sig") || (k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify")) {
			s.Skipped++
			continue
		}
		pub, err := k.publicKey()
		switch {
		case errors.Is(err, errUnusableKey):
			s.Skipped++
			continue
		case err != nil:
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		s.keys = append(s.keys, jwk{kid: k.Kid, alg: k.Alg, pub: pub})
	}
	if len(s.keys) == 0 {
		return nil, fmt.Errorf("no RSA or EC signature key among its %d keys", len(doc.Keys))
	}
	return s, nil
}

// errUnusableKey marks a well-formed key that cannot verify tokens here.
var errUnusableKey = errors.New("unusable key")

func (k jwkJSON) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, err := b64Field("n", k.N)
		if err != nil {
			return nil, err
		}
		e, err := b64Field("e", k.E)
		if err != nil {
			return nil, err
		}
		if len(e) > 4 {
			return nil, errors.New("malformed RSA modulus or exponent")
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 || exp%2 == 0 || exp >= 1<<31 {
			return nil, fmt.Errorf("RSA exponent %d", exp)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
		if pub.N.BitLen() < minRSABits {
			return nil, errUnusableKey
		}
		return pub, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		default:
			return nil, errUnusableKey
		}
		x, err := b64Field("x", k.X)
		if err != nil {
			return nil, err
		}
		y, err := b64Field("y", k.Y)
		if err != nil {
			return nil, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return nil, fmt.Errorf("%s coordinates of %d and %d bytes, want %d", k.Crv, len(x), len(y), size)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, slices.Concat([]byte{4}, x, y))
		if err != nil {
			return nil, fmt.Errorf("%s point: %w", k.Crv, err)
		}
		return pub, nil
	}
	return nil, errUnusableKey
}

// b64Field decodes a base64url member (RFC 7518 omits the padding; it is
// tolerated).
func b64Field(name, v string) ([]byte, error) {
	if v == "" {
		return nil, fmt.Errorf("missing %q", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
	if err != nil {
		return nil, fmt.Errorf("%q: %w", name, err)
	}
	return b, nil
}

// candidates are the keys that may verify a token signed with alg and
// naming kid: with a kid, the keys of that ID; without one, every key
// (as jose4j selects). A key must be of the algorithm's type and curve,
// and of its algorithm when the set names one.
func (s *KeySet) candidates(alg, kid string) []jwt.VerificationKey {
	var out []jwt.VerificationKey
	for _, k := range s.keys {
		if (kid != "" && k.kid != kid) || (k.alg != "" && k.alg != alg) || !keyFits(alg, k.pub) {
			continue
		}
		out = append(out, k.pub)
	}
	return out
}

func keyFits(alg string, pub crypto.PublicKey) bool {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		_, ok := pub.(*rsa.PublicKey)
		return ok
	case "ES256", "ES384":
		ec, ok := pub.(*ecdsa.PublicKey)
		return ok && ec.Curve.Params().BitSize == map[string]int{"ES256": 256, "ES384": 384}[alg]
	}
	return false
}

// JWKS is a key set loaded from a file that can be reloaded in place,
// like Certs: authentications after a reload use the new keys. Safe for
// concurrent use.
type JWKS struct {
	file string
	cur  atomic.Pointer[jwksLoaded]
	mu   sync.Mutex // serialises Reload
}

type jwksLoaded struct {
	set    *KeySet
	digest [32]byte
}

// LoadJWKS reads the key set file once.
func LoadJWKS(file string) (*JWKS, error) {
	j := &JWKS{file: file}
	if _, err := j.Reload(); err != nil {
		return nil, err
	}
	return j, nil
}

// Reload rereads the file. On any error the previous keys stay in use;
// changed is false when the file's contents are unchanged.
func (j *JWKS) Reload() (changed bool, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	raw, err := os.ReadFile(j.file)
	if err != nil {
		return false, fmt.Errorf("sasl-oauthbearer-jwks-file: %w", err)
	}
	digest := sha256.Sum256(raw)
	if old := j.cur.Load(); old != nil && old.digest == digest {
		return false, nil
	}
	set, err := ParseJWKS(raw)
	if err != nil {
		return false, fmt.Errorf("sasl-oauthbearer-jwks-file %s: %w", j.file, err)
	}
	j.cur.Store(&jwksLoaded{set: set, digest: digest})
	return true, nil
}

// Keys is the current key set.
func (j *JWKS) Keys() *KeySet { return j.cur.Load().set }

// File is the file the keys are read from.
func (j *JWKS) File() string { return j.file }
