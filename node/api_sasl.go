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
	ex, err := security.NewExchange(req.Mechanism, n.scramLookup)
	if err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		rep.finishThenClose(resp)
		return
	}
	c.sasl.mech, c.sasl.ex, c.sasl.raw = req.Mechanism, ex, r.version == 0
	rep.finish(resp)
}

// rawSASLToken steps the exchange with a bare token (after a v0
// handshake) and queues the bare answer. A failed exchange closes the
// connection without an answer, as Kafka does for v0.
func (c *conn) rawSASLToken(token []byte) error {
	s := &c.sasl
	out, err := s.ex.Step(token)
	if err != nil {
		c.n.metrics.authResults.WithLabelValues(s.mech, "failed").Inc()
		c.n.sec.audit.Warn("authentication failed", "reason", "invalid credentials", "mechanism", s.mech,
			"listener", c.listener.spec.Name, "remote", c.nc.RemoteAddr().String(), "err", err)
		c.closing("sasl_failed", err)
		return err
	}
	if s.ex.Done() {
		c.completeSASL(s.ex.User(), 0)
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

// completeSASL records a finished exchange for user and returns the
// session lifetime to report (0: unlimited, or a version without it).
func (c *conn) completeSASL(user string, version int16) int64 {
	s := &c.sasl
	s.ex, s.raw, s.authenticated, s.user = nil, false, true, user
	c.n.metrics.authResults.WithLabelValues(s.mech, "ok").Inc()
	var life int64
	s.expiry = time.Time{}
	if l := c.n.brokerCfg().Int64("connections.max.reauth.ms"); l > 0 && version >= 1 {
		life = l
		s.expiry = time.Now().Add(time.Duration(l) * time.Millisecond)
	}
	c.principal = security.User(user)
	c.markAuthenticated()
	return life
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
	fail := func(reason string, err error) {
		n.metrics.authResults.WithLabelValues(s.mech, "failed").Inc()
		n.sec.audit.Warn("authentication failed", "reason", reason, "mechanism", s.mech, "user", s.user,
			"listener", c.listener.spec.Name, "remote", c.nc.RemoteAddr().String(), "err", err)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + s.mech
		resp.ErrorMessage = &msg
		s.ex = nil
		rep.finishThenClose(resp)
	}
	out, err := s.ex.Step(req.SASLAuthBytes)
	if err != nil {
		fail("invalid credentials", err)
		return
	}
	resp.SASLAuthBytes = out
	if !s.ex.Done() {
		rep.finish(resp)
		return
	}
	user := s.ex.User()
	if s.authenticated && user != s.user {
		// KIP-368: a re-authentication may not change who the connection is.
		fail("re-authentication as another user", errors.New(user+" after "+s.user))
		return
	}
	resp.SessionLifetimeMillis = c.completeSASL(user, r.version)
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
