package security

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/xdg-go/scram"
)

// scramServer is the server side of RFC 5802 as Kafka runs it: no channel
// binding, extensions (KIP-84's tokenauth) tolerated in the client's first
// message, and the client's final nonce required to end with the combined
// nonce rather than to equal it (Kafka's check, which librdkafka relies
// on: it sends its own nonce before the combined one). The hash and HMAC
// come from the mechanism's scram.HashGeneratorFcn.
type scramServer struct {
	mech   string
	hash   scram.HashGeneratorFcn
	lookup CredentialLookup

	step   int // 0: want client-first; 1: want client-final; 2: done
	user   string
	cred   ScramCredential
	gs2    string // the client's gs2 header, which c= must repeat
	c1bare string
	s1     string
	nonce  string // client nonce + server nonce
	done   bool
}

func (s *scramServer) Step(in []byte) ([]byte, error) {
	switch s.step {
	case 0:
		s.step = 2 // any error ends the exchange
		out, err := s.first(string(in))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrAuthFailed, err)
		}
		s.step = 1
		return []byte(out), nil
	case 1:
		s.step = 2
		out, err := s.final(string(in))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrAuthFailed, err)
		}
		s.done = true
		return []byte(out), nil
	}
	return nil, fmt.Errorf("%w: exchange already finished", ErrAuthFailed)
}

func (s *scramServer) Done() bool   { return s.done }
func (s *scramServer) User() string { return s.user }

// first reads client-first-message = gs2-header client-first-message-bare.
func (s *scramServer) first(msg string) (string, error) {
	// gs2-header: cbind-flag "," [authzid] ","
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok || (flag != "n" && flag != "y") {
		return "", errors.New("channel binding is not supported")
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return "", errors.New("malformed gs2 header")
	}
	fields := strings.Split(bare, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "n=") || !strings.HasPrefix(fields[1], "r=") {
		return "", errors.New("malformed client-first-message")
	}
	for _, f := range fields[2:] {
		if strings.HasPrefix(f, "m=") {
			return "", errors.New("mandatory extension not supported")
		}
	}
	user, err := decodeSaslName(fields[0][2:])
	if err != nil || user == "" {
		return "", errors.New("malformed user name")
	}
	if authz != "" {
		if z, err := decodeSaslName(strings.TrimPrefix(authz, "a=")); err != nil || !strings.HasPrefix(authz, "a=") || z != user {
			return "", errors.New("authorization id differs from the user")
		}
	}
	cnonce := fields[1][2:]
	if cnonce == "" {
		return "", errors.New("empty client nonce")
	}
	cred, ok := s.lookup(user, s.mech)
	if !ok {
		return "", errors.New("unknown user")
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	s.user, s.cred, s.c1bare, s.gs2 = user, cred, bare, flag+","+authz+","
	s.nonce = cnonce + base64.RawURLEncoding.EncodeToString(raw)
	s.s1 = "r=" + s.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	return s.s1, nil
}

// final reads client-final-message = "c=" binding ",r=" nonce ["," ext] ",p=" proof.
func (s *scramServer) final(msg string) (string, error) {
	cut := strings.LastIndex(msg, ",p=")
	if cut < 0 {
		return "", errors.New("no proof")
	}
	withoutProof, proofB64 := msg[:cut], msg[cut+3:]
	fields := strings.Split(withoutProof, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "c=") || !strings.HasPrefix(fields[1], "r=") {
		return "", errors.New("malformed client-final-message")
	}
	if b, err := base64.StdEncoding.DecodeString(fields[0][2:]); err != nil || string(b) != s.gs2 {
		return "", errors.New("channel binding does not match")
	}
	if !strings.HasSuffix(fields[1][2:], s.nonce) {
		return "", errors.New("nonce does not match")
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != s.hash().Size() {
		return "", errors.New("malformed proof")
	}
	authMsg := s.c1bare + "," + s.s1 + "," + withoutProof
	clientSig := s.mac(s.cred.StoredKey, authMsg)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	h := s.hash()
	h.Write(clientKey)
	if !hmac.Equal(h.Sum(nil), s.cred.StoredKey) {
		return "", errors.New("invalid proof")
	}
	return "v=" + base64.StdEncoding.EncodeToString(s.mac(s.cred.ServerKey, authMsg)), nil
}

func (s *scramServer) mac(key []byte, msg string) []byte {
	m := hmac.New(s.hash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// decodeSaslName undoes RFC 5802's escaping of ',' and '=' in names.
func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", errors.New("bad escape in name")
		}
		i += 2
	}
	return b.String(), nil
}
