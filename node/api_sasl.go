package node

import (
	"bufio"
	"encoding/binary"
	"errors"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/security"
)

// SASL (KIP-43, KIP-152, KIP-368): SaslHandshake (key 17) picks a
// mechanism; SaslAuthenticate (key 36, v0-2) carries its messages — or,
// after a v0 handshake, bare length-prefixed tokens do (rawSASLToken). Both
// run on the connection's reader, so the next request is read only once
// the connection's state reflects the exchange.
func init() {
	register(17, 0, 1, (*Node).handleSaslHandshake)
	register(36, 0, 2, (*Node).handleSaslAuthenticate)
}

// saslState is one connection's authentication.
type saslState struct {
	mech string            // chosen by SaslHandshake; "" between exchanges
	ex   security.Exchange // the exchange in progress
	raw  bool              // v0 handshake: tokens come bare, not in SaslAuthenticate
	// refusal is the error challenge sent for a refused credential
	// (OAUTHBEARER): the exchange then waits for the client's
	// acknowledgment, and its failure was already logged and counted.
	refusal []byte
	// authenticated is set by the first successful exchange; user is
	// who authenticated; expiry is when the session ends (zero: never).
	authenticated bool
	user          string
	expiry        time.Time
}

func (s *saslState) expired(now time.Time) bool { return !s.expiry.IsZero() && !now.Before(s.expiry) }

func (n *Node) handleSaslHandshake(r *request, rep *reply) {
	req := r.kreq.(*kmsg.SASLHandshakeRequest)
	resp := kmsg.NewPtrSASLHandshakeResponse()
	c := r.conn
	if !c.listener.spec.Protocol.SASL() || c.sasl.ex != nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		rep.finishThenClose(resp)
		return
	}
	mechs := n.sec.plan.mechs
	resp.SupportedMechanisms = slices.Clone(mechs)
	if !slices.Contains(mechs, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		n.metrics.authResults.WithLabelValues("unsupported", "failed").Inc()
		n.sec.audit.Warn("authentication failed", "reason", "unsupported mechanism", "mechanism", req.Mechanism,
			"listener", c.listener.spec.Name, "remote", c.nc.RemoteAddr().String())
		rep.finishThenClose(resp)
		return
	}
	var ex security.Exchange
	var err error
	if req.Mechanism == security.MechOAuthBearer {
		ex = security.NewOAuthBearerExchange(n.sec.plan.oauth)
	} else if ex, err = security.NewExchange(req.Mechanism, n.scramLookup); err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		rep.finishThenClose(resp)
		return
	}
	c.sasl.mech, c.sasl.ex, c.sasl.raw, c.sasl.refusal = req.Mechanism, ex, r.version == 0, nil
	rep.finish(resp)
}

// authFailed counts and audits a failed authentication.
func (c *conn) authFailed(err error) {
	s := &c.sasl
	c.n.metrics.authResults.WithLabelValues(s.mech, "failed").Inc()
	c.n.sec.audit.Warn("authentication failed", "reason", security.FailureReason(err), "mechanism", s.mech, "user", s.user,
		"listener", c.listener.spec.Name, "remote", c.nc.RemoteAddr().String(), "err", err)
}

// stepSASL steps the exchange with a client message. A failure is counted
// and audited once: when Step fails, or, for a failure the mechanism first
// tells the client about (an error challenge), when the challenge is sent
// — the client's acknowledgment then only ends the exchange. challenge is
// that message, with err nil.
func (c *conn) stepSASL(in []byte) (out, challenge []byte, err error) {
	s := &c.sasl
	out, err = s.ex.Step(in)
	if err == nil {
		return out, nil, nil
	}
	var ch *security.ErrorChallenge
	switch {
	case s.refusal != nil:
		// The answer to the challenge: already counted.
	case errors.As(err, &ch):
		c.authFailed(err)
		s.refusal = ch.Challenge
		return nil, ch.Challenge, nil
	default:
		c.authFailed(err)
	}
	return nil, nil, err
}

// rawSASLToken steps the exchange with a bare token (after a v0
// handshake) and queues the bare answer. A failed exchange closes the
// connection without an answer, as Kafka does for v0.
func (c *conn) rawSASLToken(token []byte) error {
	s := &c.sasl
	out, challenge, err := c.stepSASL(token)
	if err != nil {
		c.closing("sasl_failed", err)
		return err
	}
	if challenge != nil {
		out = challenge
	} else if s.ex.Done() {
		c.completeSASL(s.ex, 0)
	}
	rep := newReply()
	rep.raw = out
	if rep.raw == nil {
		rep.raw = []byte{}
	}
	close(rep.done)
	req := &request{key: 17, conn: c, received: time.Now()}
	c.pending.Add(1)
	select {
	case c.queue <- inflight{req, rep}:
		return nil
	case <-c.closed:
		c.pending.Add(-1)
		return errDrained
	}
}

// completeSASL records the finished exchange ex and returns the session
// lifetime to report (0: unlimited, or a version without it; the
// SaslAuthenticate version, 0 for bare tokens).
func (c *conn) completeSASL(ex security.Exchange, version int16) int64 {
	s := &c.sasl
	user := ex.User()
	s.ex, s.raw, s.refusal, s.authenticated, s.user = nil, false, nil, true, user
	c.n.metrics.authResults.WithLabelValues(s.mech, "ok").Inc()
	var credExpiry time.Time
	if e, ok := ex.(security.Expiring); ok {
		credExpiry = e.CredentialExpiry()
	}
	life, expiry := sessionLifetime(time.Now(), credExpiry, c.n.brokerCfg().Int64("connections.max.reauth.ms"), version)
	s.expiry = expiry
	c.principal = security.User(user)
	c.markAuthenticated()
	return life
}

// sessionLifetime is KIP-368's session of an authentication ending at
// now: until the credential expires (zero: it does not), and at most
// maxReauthMs (connections.max.reauth.ms; 0: unlimited) for a client that
// can be told so (SaslAuthenticate v1+). The lifetime reported is in
// milliseconds, 0 when there is none or the version cannot carry it; the
// expiry is zero when the session never ends. A credential already
// expired (within the clock skew) gives a session that has ended, as
// Kafka does.
func sessionLifetime(now, credExpiry time.Time, maxReauthMs int64, version int16) (lifeMs int64, expiry time.Time) {
	var life time.Duration
	limited := false
	if maxReauthMs > 0 && version >= 1 {
		life, limited = time.Duration(maxReauthMs)*time.Millisecond, true
	}
	if !credExpiry.IsZero() {
		if left := max(credExpiry.Sub(now), 0); !limited || left < life {
			life, limited = left, true
		}
	}
	if !limited {
		return 0, time.Time{}
	}
	if version >= 1 {
		lifeMs = life.Milliseconds()
	}
	return lifeMs, now.Add(life)
}

func (n *Node) handleSaslAuthenticate(r *request, rep *reply) {
	req := r.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	c := r.conn
	s := &c.sasl
	if s.ex == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate without a SaslHandshake"
		resp.ErrorMessage = &msg
		rep.finishThenClose(resp)
		return
	}
	refuse := func() {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + s.mech
		if s.refusal != nil {
			msg = string(s.refusal) // Kafka's message after an error challenge
		}
		resp.ErrorMessage = &msg
		s.ex, s.refusal = nil, nil
		rep.finishThenClose(resp)
	}
	out, challenge, err := c.stepSASL(req.SASLAuthBytes)
	switch {
	case err != nil:
		refuse()
		return
	case challenge != nil:
		// The failure is told first; the client acknowledges, then fails.
		resp.SASLAuthBytes = challenge
		rep.finish(resp)
		return
	}
	resp.SASLAuthBytes = out
	if !s.ex.Done() {
		rep.finish(resp)
		return
	}
	if user := s.ex.User(); s.authenticated && user != s.user {
		// KIP-368: a re-authentication may not change who the connection is.
		n.metrics.authResults.WithLabelValues(s.mech, "failed").Inc()
		n.sec.audit.Warn("authentication failed", "reason", "re-authentication as another user", "mechanism", s.mech, "user", s.user,
			"listener", c.listener.spec.Name, "remote", c.nc.RemoteAddr().String(), "err", errors.New(user+" after "+s.user))
		refuse()
		return
	}
	resp.SessionLifetimeMillis = c.completeSASL(s.ex, r.version)
	rep.finish(resp)
}

// writeRaw writes a bare length-prefixed SASL token and flushes it.
func writeRaw(bw *bufio.Writer, token []byte) error {
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], uint32(len(token)))
	if _, err := bw.Write(size[:]); err != nil {
		return err
	}
	if _, err := bw.Write(token); err != nil {
		return err
	}
	return bw.Flush()
}
