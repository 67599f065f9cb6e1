package meta

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Every connection to the raft TCP address opens with one type byte that
// says who reads the rest of it.
const (
	connRaft    byte = 'R' // raft's NetworkTransport streams
	connForward byte = 'F' // forwarded writes and heartbeats (forward.go)
)

// connTypeTimeout bounds how long an accepted connection may take to send
// its type byte.
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
}

var _ raft.StreamLayer = (*muxLayer)(nil)

func newMuxLayer(bind string, advertise net.Addr) (*muxLayer, error) {
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
	return &muxLayer{ln: ln, advertise: advertise, raftCh: make(chan net.Conn), closed: make(chan struct{})}, nil
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
	return dialTyped(string(address), timeout, connRaft)
}

func dialTyped(address string, timeout time.Duration, typ byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", address, timeout)
	if err != nil {
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{typ}); err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetWriteDeadline(time.Time{})
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
	_ = c.SetReadDeadline(time.Now().Add(connTypeTimeout))
	if _, err := io.ReadFull(c, typ[:]); err != nil {
		s.fwd.untrack(c)
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
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
	default:
		s.log.Debug("meta: closing connection of unknown type", "remote", c.RemoteAddr(), "type", typ[0])
		_ = c.Close()
	}
}
