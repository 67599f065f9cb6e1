package node

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
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
}

// reply is the completion of one request. Handlers call exactly one of the
// finish methods, possibly from another goroutine; the connection's writer
// waits for replies in request order.
type reply struct {
	done   chan struct{}
	resp   kmsg.Response // nil: write nothing (acks=0 produce)
	splice *spliceSet    // file ranges to splice into a fetch response
	close  bool          // close the connection after this point
	once   sync.Once
}

func newReply() *reply { return &reply{done: make(chan struct{})} }

// finish completes the request with a response.
func (r *reply) finish(resp kmsg.Response) {
	r.once.Do(func() { r.resp = resp; close(r.done) })
}

// finishSplice completes a fetch with a response whose record fields are
// placeholders for file ranges.
func (r *reply) finishSplice(resp kmsg.Response, s *spliceSet) {
	r.once.Do(func() { r.resp = resp; r.splice = s; close(r.done) })
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
}

func (n *Node) serveConn(nc net.Conn) {
	c := &conn{
		n:      n,
		nc:     nc,
		log:    n.log.With("remote", nc.RemoteAddr().String()),
		queue:  make(chan inflight, maxInflightPerConn),
		closed: make(chan struct{}),
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
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
		_ = c.nc.Close()
	})
}

// runRead reads frames until the connection closes, the server stops
// accepting new requests, or a frame cannot be parsed.
func (c *conn) runRead() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var sizeBuf [4]byte
	for {
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		maxSize := int32(c.n.brokerCfg().Int64("socket.request.max.bytes"))
		if size < 8 || size > maxSize {
			c.log.Warn("closing connection: bad request size", "size", size, "max", maxSize)
			return
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		c.n.metrics.bytesIn.Add(float64(size) + 4)
		if c.n.draining() {
			return
		}
		req, err := c.decode(body)
		rep := newReply()
		if err != nil {
			c.log.Warn("closing connection: undecodable request", "err", err)
			return
		}
		if req.kreq == nil {
			// Unsupported version of a known API: ApiVersions gets its
			// dedicated error reply, anything else closes the connection.
			if req.key == 18 {
				c.n.handleApiVersionsUnsupported(req, rep)
			} else {
				c.log.Warn("closing connection: unsupported request", "api", kmsg.NameForKey(req.key), "version", req.version)
				return
			}
		} else {
			c.n.dispatch(req, rep)
		}
		select {
		case c.queue <- inflight{req, rep}:
		case <-c.closed:
			return
		}
	}
}

// decode parses the request header and body. A known API at an unsupported
// version yields a request with a nil kreq.
func (c *conn) decode(body []byte) (*request, error) {
	rd := kbin.Reader{Src: body}
	req := &request{
		key:      rd.Int16(),
		version:  rd.Int16(),
		corr:     rd.Int32(),
		conn:     c,
		received: time.Now(),
		size:     len(body),
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

// runWrite writes replies in request order.
func (c *conn) runWrite() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
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
			c.close()
			continue
		}
		rep := inf.rep
		c.n.metrics.observe(inf.req)
		if rep.close {
			dead = true
			c.close()
			continue
		}
		if rep.resp == nil {
			continue
		}
		var err error
		buf, err = c.writeResponse(bw, buf[:0], inf.req, rep)
		rep.releaseSplice()
		if err == nil && len(c.queue) == 0 {
			err = bw.Flush()
		}
		if err != nil {
			dead = true
			c.close()
		}
	}
	if !dead {
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
