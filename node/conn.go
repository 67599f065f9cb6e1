package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/kconfig"
	"github.com/stratalog/strata/security"
)

// maxInflightPerConn bounds how many requests of one connection may be
// decoded and waiting for their response at once. Clients pipeline (franz-go
// sends up to five produce requests per connection); the bound keeps memory
// per connection finite.
const maxInflightPerConn = 32

// request is one decoded Kafka request.
type request struct {
	key      int16
	version  int16
	corr     int32
	clientID string
	kreq     kmsg.Request
	conn     *conn
	received time.Time
	size     int
	// share and held are the bytes this request holds of its
	// connection's share and of the broker-wide budget, until its reply
	// is written.
	share, held int64
	// principal is who the connection acted as when the request arrived.
	principal security.Principal
	// throttleMs is the client-quota throttle its response carries
	// (quotas.go); set from any goroutine before the reply is written.
	throttleMs atomic.Int32
}

// reply is the completion of one request. Handlers call exactly one of the
// finish methods, possibly from another goroutine; the connection's writer
// waits for replies in request order.
type reply struct {
	done   chan struct{}
	resp   kmsg.Response // nil: write nothing (acks=0 produce)
	splice *spliceSet    // file ranges to splice into a fetch response
	close  bool          // close the connection after this point
	raw    []byte        // a bare SASL token to write instead of resp (v0 SaslHandshake)
	// closeAfter closes the connection once resp is written (a failed
	// SASL authentication is answered, then the connection closed).
	closeAfter bool
	// patches amend the response before it is kept (the authorizer's
	// answers for entries it cut out of the request; authz.go). Set before
	// the handler runs.
	patches []func(kmsg.Response)
	once    sync.Once
}

// addPatch registers a change to make to the response when it is given.
func (r *reply) addPatch(p func(kmsg.Response)) { r.patches = append(r.patches, p) }

func (r *reply) applyPatches(resp kmsg.Response) {
	for _, p := range r.patches {
		p(resp)
	}
}

func newReply() *reply { return &reply{done: make(chan struct{})} }

// finish completes the request with a response.
func (r *reply) finish(resp kmsg.Response) {
	r.once.Do(func() { r.applyPatches(resp); r.resp = resp; close(r.done) })
}

// finishSplice completes a fetch with a response whose record fields are
// placeholders for file ranges.
func (r *reply) finishSplice(resp kmsg.Response, s *spliceSet) {
	r.once.Do(func() { r.applyPatches(resp); r.resp = resp; r.splice = s; close(r.done) })
}

// finishThenClose completes the request with a response after which the
// connection closes.
func (r *reply) finishThenClose(resp kmsg.Response) {
	r.once.Do(func() { r.applyPatches(resp); r.resp = resp; r.closeAfter = true; close(r.done) })
}

// finishNone completes the request without a response.
func (r *reply) finishNone() { r.once.Do(func() { close(r.done) }) }

// finishClose completes the request by closing the connection, which is how
// Kafka answers an acks=0 produce that failed and a request it cannot parse.
func (r *reply) finishClose() { r.once.Do(func() { r.close = true; close(r.done) }) }

type inflight struct {
	req *request
	rep *reply
}

// Reasons a connection's reader stops.
var (
	errIdle    = errors.New("connection idle") // connections.max.idle.ms
	errDrained = errors.New("node draining")
)

// conn is one client connection. runRead decodes and dispatches requests;
// runWrite writes their responses in request order. The connection closes
// when either side fails or the server shuts down.
type conn struct {
	n      *Node
	nc     net.Conn
	log    *slog.Logger
	queue  chan inflight
	closed chan struct{}
	once   sync.Once
	ctx    context.Context // ends when the connection closes or the node drains
	cancel context.CancelFunc
	br     *bufio.Reader
	frames frameReader
	// share bounds the bytes this connection's decoded, unanswered requests
	// hold (queued.max.request.bytes.per.connection).
	share *memBudget
	// pending counts requests dispatched and not yet answered; lastActive
	// is when a request was last read or a reply written (unix nanos).
	// Together they decide idleness (connections.max.idle.ms).
	pending    atomic.Int32
	lastActive atomic.Int64
	// mutedUntil is when a client-quota throttle ends (unix nanos): the
	// reader reads nothing before it (quotas.go).
	mutedUntil atomic.Int64
	// valid is set once the connection has sent a valid request (on a
	// SASL listener: once it has authenticated); until then frames are
	// limited to sasl.server.max.receive.size.
	valid bool
	// listener is the listener the connection arrived on; principal who
	// it acts as (Anonymous until TLS or SASL says otherwise).
	listener  *kafkaListener
	principal security.Principal
	host      string    // the client's IP, as ACLs name hosts
	sasl      saslState // api_sasl.go; read and written by runRead only
}

func (n *Node) serveConn(nc net.Conn, kl *kafkaListener) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	principal := security.Anonymous
	if kl.spec.Protocol.TLS() {
		tc, p, err := n.handshakeTLS(nc)
		if err != nil {
			n.metrics.connClosed.WithLabelValues("tls_handshake").Inc()
			n.sec.audit.Warn("TLS handshake failed", "listener", kl.spec.Name, "remote", nc.RemoteAddr().String(), "err", err)
			_ = nc.Close()
			return
		}
		nc, principal = tc, p
	}
	c := &conn{
		n:         n,
		nc:        nc,
		listener:  kl,
		principal: principal,
		host:      remoteIP(nc),
		log:       n.log.With("remote", nc.RemoteAddr().String()),
		queue:     make(chan inflight, maxInflightPerConn),
		closed:    make(chan struct{}),
		share:     newMemBudget(n.brokerCfg().Int64("queued.max.request.bytes.per.connection"), true),
	}
	c.ctx, c.cancel = context.WithCancel(n.drainCtx)
	// 16 KiB: enough to batch small pipelined requests per read; large
	// bodies are read straight into their own buffers, past this one.
	c.br = bufio.NewReaderSize(nc, 16<<10)
	c.frames = frameReader{br: c.br, setDeadline: nc.SetReadDeadline, budget: n.reqBudget,
		onWait: n.metrics.budgetWaits.WithLabelValues("broker").Inc}
	c.lastActive.Store(time.Now().UnixNano())
	n.metrics.openConns.Inc()
	defer n.metrics.openConns.Dec()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.runWrite() }()
	c.runRead()
	close(c.queue) // writer drains what was dispatched, then exits
	wg.Wait()
	c.close()
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.closed)
		c.cancel()
		_ = c.nc.Close()
	})
}

// markAuthenticated lifts the small pre-authentication frame limit: on
// the first valid request of a listener without SASL, on successful
// authentication of one with it.
func (c *conn) markAuthenticated() { c.valid = true }

// admit decides whether a decoded request may run on this connection now.
// A SASL listener serves only ApiVersions, SaslHandshake and
// SaslAuthenticate until the client has authenticated, and, once a
// session has expired (connections.max.reauth.ms), nothing but a
// re-authentication; anything else closes the connection, as Kafka does.
func (c *conn) admit(req *request) bool {
	if !c.listener.spec.Protocol.SASL() {
		c.markAuthenticated()
		return true
	}
	saslAPI := req.key == 17 || req.key == 36
	switch {
	case !c.sasl.authenticated && !saslAPI && req.key != 18:
		c.closing("sasl_required", fmt.Errorf("%s before SASL authentication", kmsg.NameForKey(req.key)))
		c.n.sec.audit.Warn("request before SASL authentication", "listener", c.listener.spec.Name,
			"remote", c.nc.RemoteAddr().String(), "api", kmsg.NameForKey(req.key))
		return false
	case c.sasl.authenticated && !saslAPI && c.sasl.expired(time.Now()):
		c.closing("reauth_expired", fmt.Errorf("SASL session of %s expired", c.principal))
		return false
	}
	return true
}

// maxFrame is the largest frame the connection may send now.
func (c *conn) maxFrame(cfg kconfig.Broker) int64 {
	limit := cfg.Int64("socket.request.max.bytes")
	if !c.valid {
		limit = min(limit, cfg.Int64("sasl.server.max.receive.size"))
	}
	return limit
}

// closing logs why the connection closes and counts it by reason.
func (c *conn) closing(reason string, err error) {
	c.n.metrics.connClosed.WithLabelValues(reason).Inc()
	c.log.Warn("closing connection", "reason", reason, "err", err)
}

// runRead reads frames until the connection closes, the server stops
// accepting new requests, or a frame cannot be parsed.
func (c *conn) runRead() {
	for {
		if !c.awaitUnmuted() {
			return
		}
		if err := c.awaitRequest(); err != nil {
			if errors.Is(err, errIdle) {
				c.n.metrics.connClosed.WithLabelValues("idle").Inc()
				c.log.Debug("closing idle connection")
			}
			return
		}
		cfg := c.n.brokerCfg()
		frameTimeout := time.Duration(cfg.Int64("socket.request.read.timeout.ms")) * time.Millisecond
		_ = c.nc.SetReadDeadline(time.Now().Add(frameTimeout))
		if c.n.draining() {
			return
		}
		size, err := c.frames.readSize()
		if err != nil {
			if errors.Is(err, errFrameTimeout) && !c.n.draining() {
				c.closing("frame_timeout", err)
			}
			return
		}
		if err := checkFrameSize(size, c.maxFrame(cfg), c.n.reqBudget.limit); err != nil {
			c.closing("frame_too_large", err)
			return
		}
		// This connection's share: while its unanswered requests hold too
		// much, stop reading it until replies are written.
		if !c.share.tryAcquire(int64(size)) {
			c.n.metrics.budgetWaits.WithLabelValues("connection").Inc()
			if err := c.share.acquire(c.ctx, int64(size)); err != nil {
				return
			}
		}
		body, held, err := c.frames.readBody(c.ctx, size, time.Now().Add(frameTimeout))
		if err != nil {
			c.share.release(int64(size))
			if errors.Is(err, errFrameTimeout) && !c.n.draining() {
				c.closing("frame_timeout", err)
			}
			return
		}
		c.lastActive.Store(time.Now().UnixNano())
		c.n.metrics.bytesIn.Add(float64(size) + 4)
		if c.sasl.raw {
			// After a v0 SaslHandshake the client sends bare SASL tokens.
			err := c.rawSASLToken(body)
			c.release(int64(size), held)
			if err != nil {
				return
			}
			continue
		}
		req, err := c.decode(body)
		if err != nil || c.n.draining() {
			c.release(int64(size), held)
			if err != nil {
				c.log.Warn("closing connection: undecodable request", "err", err)
			}
			return
		}
		req.share, req.held = int64(size), held
		rep := newReply()
		if req.kreq == nil {
			// Unsupported version of a known API: ApiVersions gets its
			// dedicated error reply, anything else closes the connection.
			if req.key == 18 {
				c.n.handleApiVersionsUnsupported(req, rep)
			} else {
				c.release(req.share, req.held)
				c.log.Warn("closing connection: unsupported request", "api", kmsg.NameForKey(req.key), "version", req.version)
				return
			}
		} else if !c.admit(req) {
			c.release(req.share, req.held)
			return
		}
		c.pending.Add(1)
		if req.kreq != nil {
			c.n.dispatch(req, rep)
		}
		select {
		case c.queue <- inflight{req, rep}:
		case <-c.closed:
			c.finished(req)
			return
		}
	}
}

// awaitRequest waits for the first byte of the next frame. A connection
// with nothing in flight and no traffic for connections.max.idle.ms is
// closed (errIdle); one with requests in flight (a parked fetch) never is.
func (c *conn) awaitRequest() error {
	for {
		idle := time.Duration(c.n.brokerCfg().Int64("connections.max.idle.ms")) * time.Millisecond
		deadline := time.Unix(0, c.lastActive.Load()).Add(idle)
		if c.pending.Load() > 0 {
			deadline = time.Now().Add(idle)
		}
		_ = c.nc.SetReadDeadline(deadline)
		if c.n.draining() { // Close may have set its deadline before ours
			return errDrained
		}
		_, err := c.br.Peek(1)
		if err == nil {
			return nil
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || c.n.draining() {
			return err
		}
		if c.pending.Load() == 0 && time.Since(time.Unix(0, c.lastActive.Load())) >= idle {
			return errIdle
		}
	}
}

// release returns a request's bytes to the connection's share and the
// broker-wide budget.
func (c *conn) release(share, held int64) {
	c.share.release(share)
	c.n.reqBudget.release(held)
}

// finished ends a dispatched request's life: its bytes (which produce
// records aliased until now) go back to the budgets.
func (c *conn) finished(req *request) {
	c.release(req.share, req.held)
	req.share, req.held = 0, 0
	c.pending.Add(-1)
	c.lastActive.Store(time.Now().UnixNano())
}

// decode parses the request header and body. A known API at an unsupported
// version yields a request with a nil kreq.
func (c *conn) decode(body []byte) (*request, error) {
	rd := kbin.Reader{Src: body}
	req := &request{
		key:       rd.Int16(),
		version:   rd.Int16(),
		corr:      rd.Int32(),
		conn:      c,
		received:  time.Now(),
		size:      len(body),
		principal: c.principal,
	}
	if cid := rd.NullableString(); cid != nil {
		req.clientID = *cid
	}
	if !rd.Ok() {
		return nil, fmt.Errorf("truncated request header")
	}
	api, ok := apis[req.key]
	if !ok {
		return nil, fmt.Errorf("unknown api key %d", req.key)
	}
	if req.version < api.min || req.version > api.max {
		if req.key == 18 {
			return req, nil
		}
		return nil, fmt.Errorf("%s v%d not supported (serving v%d-v%d)", kmsg.NameForKey(req.key), req.version, api.min, api.max)
	}
	kreq := kmsg.RequestForKey(req.key)
	kreq.SetVersion(req.version)
	if kreq.IsFlexible() {
		kmsg.SkipTags(&rd)
		if !rd.Ok() {
			return nil, fmt.Errorf("truncated request tags")
		}
	}
	if err := decodeBody(kreq, rd.Src); err != nil {
		return nil, fmt.Errorf("decoding %s v%d: %w", kmsg.NameForKey(req.key), req.version, err)
	}
	req.kreq = kreq
	return req, nil
}

// unsafeReader is implemented by kmsg requests that can decode while
// aliasing the input buffer instead of copying strings and bytes.
type unsafeReader interface{ UnsafeReadFrom([]byte) error }

// decodeBody decodes with aliasing where possible: the frame buffer is owned
// by this request alone, and produce records are then written to the log
// straight from it.
func decodeBody(kreq kmsg.Request, src []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	if u, ok := kreq.(unsafeReader); ok {
		return u.UnsafeReadFrom(src)
	}
	return kreq.ReadFrom(src)
}

// runWrite writes replies in request order and releases each request's
// bytes once its reply is written. Its buffered writer is made on the first
// reply, so connections that never get one cost no buffer.
func (c *conn) runWrite() {
	var bw *bufio.Writer
	var buf []byte
	dead := false
	for inf := range c.queue {
		select {
		case <-inf.rep.done:
		case <-c.n.stopped:
			// Hard stop: in-flight work will not complete.
			dead = true
		}
		if dead {
			inf.rep.releaseSplice()
			c.finished(inf.req)
			c.close()
			continue
		}
		rep := inf.rep
		c.n.metrics.observe(inf.req)
		if rep.close {
			dead = true
			c.finished(inf.req)
			c.close()
			continue
		}
		if rep.raw != nil {
			if bw == nil {
				bw = bufio.NewWriterSize(c.nc, 64<<10)
			}
			err := writeRaw(bw, rep.raw)
			c.finished(inf.req)
			if err != nil {
				dead = true
				c.close()
			}
			continue
		}
		if rep.resp == nil {
			c.finished(inf.req)
			continue
		}
		if bw == nil {
			bw = bufio.NewWriterSize(c.nc, 64<<10)
		}
		applyThrottle(inf.req, rep.resp)
		var err error
		buf, err = c.writeResponse(bw, buf[:0], inf.req, rep)
		rep.releaseSplice()
		if err == nil && len(c.queue) == 0 {
			err = bw.Flush()
		}
		c.finished(inf.req)
		if err != nil || rep.closeAfter {
			if err == nil {
				_ = bw.Flush()
			}
			dead = true
			c.close()
		}
	}
	if !dead && bw != nil {
		_ = bw.Flush()
	}
}

func (r *reply) releaseSplice() {
	if r.splice != nil {
		r.splice.release()
		r.splice = nil
	}
}

// writeResponse frames and writes one response: size, correlation ID, the
// response header's tags where the version is flexible, then the body.
func (c *conn) writeResponse(bw *bufio.Writer, buf []byte, req *request, rep *reply) ([]byte, error) {
	resp := rep.resp
	resp.SetVersion(req.version)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0)
	// ApiVersions responses never carry header tags, so that a client can
	// parse them before it knows which versions the broker speaks.
	if resp.IsFlexible() && resp.Key() != 18 {
		buf = append(buf, 0)
	}
	buf = resp.AppendTo(buf)
	binary.BigEndian.PutUint32(buf[4:8], uint32(req.corr))
	if rep.splice == nil {
		binary.BigEndian.PutUint32(buf[:4], uint32(len(buf)-4))
		_, err := bw.Write(buf)
		c.n.metrics.bytesOut.Add(float64(len(buf)))
		return buf, err
	}
	n, err := rep.splice.write(bw, c.nc, buf, resp.IsFlexible())
	c.n.metrics.bytesOut.Add(float64(n))
	return buf, err
}
