package node

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Accept backoff, as net/http.Server.Serve: 5 ms doubling to 1 s.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// listenerState is the Kafka listener's bookkeeping: open connections in
// total and per IP (max.connections, max.connections.per.ip), and whether
// accept is failing (for /readyz).
type listenerState struct {
	// failingUntil is when the listener counts as healthy again after an
	// accept error (unix nanos); 0 once a connection is accepted.
	failingUntil atomic.Int64
	acceptLog    logLimiter
	fdLog        logLimiter // file descriptors near the limit (fdlimit.go)
	mu           struct {
		sync.Mutex
		open  int
		perIP map[string]int
		freed chan struct{} // closed (and replaced) when a connection closes
	}
}

// acceptLogEvery and fdLogEvery space repeating accept-error and
// file-descriptor warnings.
const (
	acceptLogEvery = 10 * time.Second
	fdLogEvery     = time.Minute
)

func (l *listenerState) init() {
	l.mu.perIP = map[string]int{}
	l.mu.freed = make(chan struct{})
}

// healthy reports whether accept is working: no error since the last
// accepted connection, or the backoff after the last error has cleared.
func (l *listenerState) healthy(now time.Time) bool {
	return now.UnixNano() >= l.failingUntil.Load()
}

// waitSlot blocks while max connections are open; false when the node drains.
func (l *listenerState) waitSlot(limit int, drain <-chan struct{}, onWait func()) bool {
	waited := false
	for {
		l.mu.Lock()
		if l.mu.open < limit {
			l.mu.Unlock()
			return true
		}
		ch := l.mu.freed
		l.mu.Unlock()
		if !waited {
			waited = true
			onWait()
		}
		select {
		case <-ch:
		case <-drain:
			return false
		}
	}
}

// admit counts a new connection from ip, unless ip already has limit open.
func (l *listenerState) admit(ip string, limit int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.perIP[ip] >= limit {
		return false
	}
	l.mu.perIP[ip]++
	l.mu.open++
	return true
}

func (l *listenerState) done(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.open--
	if l.mu.perIP[ip]--; l.mu.perIP[ip] <= 0 {
		delete(l.mu.perIP, ip)
	}
	close(l.mu.freed)
	l.mu.freed = make(chan struct{})
}

func remoteIP(nc net.Conn) string {
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(nc.RemoteAddr().String())
	if err != nil {
		return nc.RemoteAddr().String()
	}
	return host
}

// acceptErrKind names an accept error for the accept-errors metric.
func acceptErrKind(err error) string {
	for _, k := range []struct {
		errno syscall.Errno
		name  string
	}{
		{syscall.EMFILE, "emfile"}, {syscall.ENFILE, "enfile"}, {syscall.ENOBUFS, "enobufs"},
		{syscall.ENOMEM, "enomem"}, {syscall.ECONNABORTED, "econnaborted"},
	} {
		if errors.Is(err, k.errno) {
			return k.name
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "other"
}

// runAccept accepts connections until the node closes the listener. Accept
// errors (out of file descriptors, out of buffers, aborted handshakes, ...)
// never stop it: it backs off 5 ms doubling to 1 s, counts them by kind,
// logs them at most once per 10 s, and reports not ready meanwhile. At
// max.connections it stops accepting until a connection closes; a
// connection over max.connections.per.ip is closed at once.
func (n *Node) runAccept(kl *kafkaListener) {
	defer n.loops.Done()
	l := &n.listener
	var backoff time.Duration
	for {
		cfg := n.brokerCfg()
		if !l.waitSlot(int(cfg.Int64("max.connections")), n.drain, n.metrics.acceptWaits.Inc) {
			return
		}
		nc, err := kl.ln.Accept()
		if err != nil {
			if n.draining() || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			kind := acceptErrKind(err)
			n.metrics.acceptErrors.WithLabelValues(kind).Inc()
			l.failingUntil.Store(time.Now().Add(2*backoff + 250*time.Millisecond).UnixNano())
			if ok, suppressed := l.acceptLog.allow(acceptLogEvery); ok {
				n.log.Error("accept failed; retrying", "err", err, "kind", kind, "backoff", backoff, "suppressed", suppressed)
			}
			select {
			case <-time.After(backoff):
			case <-n.drain:
				return
			}
			continue
		}
		backoff = 0
		l.failingUntil.Store(0)
		ip := remoteIP(nc)
		if !l.admit(ip, int(cfg.Int64("max.connections.per.ip"))) {
			n.metrics.connClosed.WithLabelValues("per_ip_limit").Inc()
			_ = nc.Close()
			continue
		}
		n.mu.Lock()
		n.mu.conns[nc] = struct{}{}
		n.mu.Unlock()
		n.conns.Add(1)
		go func() {
			defer n.conns.Done()
			n.serveConn(nc, kl)
			n.mu.Lock()
			delete(n.mu.conns, nc)
			n.mu.Unlock()
			l.done(ip)
		}()
	}
}
