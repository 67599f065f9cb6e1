package meta

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Every connection to the raft TCP address opens with one type byte that
// says who reads the rest of it.
const (
	connRaft    byte = 'R' // raft's NetworkTransport streams
	connForward byte = 'F' // forwarded writes and heartbeats (forward.go)
	connProbe   byte = 'P' // ProbePeer: closed once the type byte is read
)

// connTypeTimeout bounds how long an accepted connection may take to
// complete its TLS handshake and send its type byte.
const connTypeTimeout = 10 * time.Second

// muxLayer is the raft.StreamLayer over the shared listener: dialed raft
// streams announce themselves with connRaft, and runAccept hands accepted
// connections that did the same to raft through Accept.
type muxLayer struct {
	ln        net.Listener
	advertise net.Addr
	raftCh    chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
	// serverTLS and clientTLS make every connection mutual TLS (nil:
	// plaintext); handshakeFailures counts accepted and dialled
	// connections whose handshake failed.
	serverTLS, clientTLS *tls.Config
	handshakeFailures    atomic.Uint64
}

var _ raft.StreamLayer = (*muxLayer)(nil)

func newMuxLayer(bind string, advertise net.Addr, serverTLS, clientTLS *tls.Config) (*muxLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("meta: listening on %s: %w", bind, err)
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if a, ok := advertise.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("meta: raft address %v is not advertisable: set AdvertiseAddr", advertise)
	}
	return &muxLayer{ln: ln, advertise: advertise, raftCh: make(chan net.Conn), closed: make(chan struct{}),
		serverTLS: serverTLS, clientTLS: clientTLS}, nil
}

// Accept returns the next raft stream.
func (m *muxLayer) Accept() (net.Conn, error) {
	select {
	case c := <-m.raftCh:
		return c, nil
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

// Close closes the listener; runAccept then ends.
func (m *muxLayer) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		err = m.ln.Close()
	})
	return err
}

// Addr is the advertised raft address.
func (m *muxLayer) Addr() net.Addr { return m.advertise }

// Dial opens a raft stream to another node.
func (m *muxLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return m.dial(string(address), timeout, connRaft)
}

// dial connects to another node's raft address (over mutual TLS when
// configured) and announces the connection's type.
func (m *muxLayer) dial(address string, timeout time.Duration, typ byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", address, timeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if m.clientTLS != nil {
		tc := tls.Client(c, m.clientTLS)
		if err := tc.Handshake(); err != nil {
			m.handshakeFailures.Add(1)
			_ = c.Close()
			return nil, fmt.Errorf("%w: %s: %w", ErrPeerTLS, address, err)
		}
		c = tc
	}
	if _, err := c.Write([]byte{typ}); err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// runAccept accepts connections on the raft address until the listener
// closes (Store.Close closes it through the transport), and starts
// routeConn for each. Owned by the Store, counted in s.wg.
func (s *Store) runAccept(m *muxLayer) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.closed.Load() {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("meta: accepting on the raft address", "err", err, "retry_in", delay)
			select {
			case <-s.shutdownCh:
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		s.wg.Add(1)
		go s.routeConn(m, c)
	}
}

// routeConn reads an accepted connection's type byte and hands it to raft
// or serves it as a forward connection; anything else is closed.
func (s *Store) routeConn(m *muxLayer, c net.Conn) {
	defer s.wg.Done()
	// Tracked until routed, so Close does not wait out a silent peer.
	if !s.fwd.track(c) {
		_ = c.Close()
		return
	}
	var typ [1]byte
	_ = c.SetDeadline(time.Now().Add(connTypeTimeout))
	if m.serverTLS != nil {
		tc := tls.Server(c, m.serverTLS)
		if err := tc.Handshake(); err != nil {
			s.fwd.untrack(c)
			_ = c.Close()
			m.handshakeFailures.Add(1)
			s.logPeerTLS(c.RemoteAddr(), err)
			return
		}
		s.fwd.untrack(c)
		c = tc
		if !s.fwd.track(c) {
			_ = c.Close()
			return
		}
	}
	if _, err := io.ReadFull(c, typ[:]); err != nil {
		s.fwd.untrack(c)
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	if typ[0] != connForward {
		s.fwd.untrack(c)
	}
	switch typ[0] {
	case connRaft:
		select {
		case m.raftCh <- c:
		case <-m.closed:
			_ = c.Close()
		}
	case connForward:
		s.serveForward(c)
	case connProbe:
		_ = c.Close()
	default:
		s.log.Debug("meta: closing connection of unknown type", "remote", c.RemoteAddr(), "type", typ[0])
		_ = c.Close()
	}
}

// ErrPeerTLS is returned when a connection to another node's raft address
// fails its TLS handshake: the peer's certificate is not from the
// cluster's CA, or it refused ours.
var ErrPeerTLS = errors.New("meta: mutual TLS with peer failed")

// ProbePeer checks that addr is a raft address this node can reach and,
// with mutual TLS, that the peer there holds a certificate from the
// cluster's CA. The controller probes a node before adding it to the
// quorum, so a node without credentials never becomes a voter whose
// silence would count against the majority.
func (s *Store) ProbePeer(ctx context.Context, addr string) error {
	if s.mux == nil {
		return nil
	}
	timeout := forwardDialTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	c, err := s.mux.dial(addr, timeout, connProbe)
	if err != nil {
		return err
	}
	return c.Close()
}

// PeerTLSFailures counts connections to or from the raft address whose
// TLS handshake failed.
func (s *Store) PeerTLSFailures() uint64 {
	if s.mux == nil {
		return 0
	}
	return s.mux.handshakeFailures.Load()
}

// peerTLSLogEvery spaces the warnings about refused handshakes: a node
// without credentials retries often.
const peerTLSLogEvery = 10 * time.Second

func (s *Store) logPeerTLS(remote net.Addr, err error) {
	now := time.Now().UnixNano()
	last := s.lastTLSLog.Load()
	if now-last < int64(peerTLSLogEvery) || !s.lastTLSLog.CompareAndSwap(last, now) {
		return
	}
	s.log.Warn("meta: refused a connection to the raft address: TLS handshake failed", "remote", remote, "err", err,
		"refused_total", s.PeerTLSFailures())
}
