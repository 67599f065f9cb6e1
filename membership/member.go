package membership

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Status is a member's state as gossip sees it.
type Status string

// Member statuses.
const (
	StatusAlive   Status = "alive"
	StatusLeaving Status = "leaving"
	StatusLeft    Status = "left"
	StatusFailed  Status = "failed"
)

// MemberInfo is one member as seen through gossip.
type MemberInfo struct {
	Name   string
	Addr   string // gossip address, host:port
	Status Status
	Tags   Tags
}

// EventType says what happened to the members of an Event.
type EventType string

// Event types, one per serf member event.
const (
	EventJoin   EventType = "join"
	EventUpdate EventType = "update"
	EventLeave  EventType = "leave"
	EventFailed EventType = "failed"
	EventReap   EventType = "reap"
)

// Event reports members that joined, changed tags, left, failed or were
// reaped. Members whose tags do not decode are left out (and logged).
type Event struct {
	Type    EventType
	Members []MemberInfo
}

// Member is this node's serf member.
type Member struct {
	cfg  Config
	log  *slog.Logger
	serf *serf.Serf
	self string // serf node name
	addr string // advertised gossip address, set once serf runs
	// selfAddr is addr for the merge delegate, which runs before Create
	// returns; empty until then.
	selfAddr atomic.Pointer[string]
	serfCh   chan serf.Event
	events   chan Event

	tagsMu sync.Mutex
	tags   Tags

	// clusterID is our current cluster ID, read by the merge delegate.
	clusterID atomic.Pointer[string]

	mu struct {
		sync.Mutex
		known map[string]knownMember // by serf name
	}
	// refusal is the last join refusal by our merge delegate.
	refusal atomic.Pointer[error]

	stopCh    chan struct{}
	wg        sync.WaitGroup
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

type knownMember struct {
	addr  string
	alive bool
}

// Create starts a serf member on cfg.BindAddr. It is alone until Join.
func Create(cfg Config) (*Member, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Member{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "membership"),
		self:   NodeName(cfg.Tags.NodeID),
		serfCh: make(chan serf.Event, 256),
		events: make(chan Event, cfg.EventBuffer),
		tags:   cfg.Tags,
		stopCh: make(chan struct{}),
	}
	m.mu.known = make(map[string]knownMember)
	cid := cfg.Tags.ClusterID
	m.clusterID.Store(&cid)

	sc, err := m.serfConfig()
	if err != nil {
		return nil, err
	}
	m.serf, err = serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("membership: starting serf on %s: %w", cfg.BindAddr, err)
	}
	lm := m.serf.LocalMember()
	m.addr = net.JoinHostPort(lm.Addr.String(), strconv.Itoa(int(lm.Port)))
	m.selfAddr.Store(&m.addr)
	m.wg.Add(1)
	go m.runEvents()
	return m, nil
}

func (m *Member) serfConfig() (*serf.Config, error) {
	host, port, _ := splitHostPort(m.cfg.BindAddr)
	ml := memberlist.DefaultLANConfig()
	ml.BindAddr, ml.BindPort = host, port
	ml.AdvertisePort = port
	if m.cfg.AdvertiseAddr != "" {
		ah, ap, _ := splitHostPort(m.cfg.AdvertiseAddr)
		ml.AdvertiseAddr, ml.AdvertisePort = ah, ap
	}
	ml.ProbeInterval = m.cfg.ProbeInterval
	ml.ProbeTimeout = m.cfg.ProbeTimeout
	ml.SuspicionMult = m.cfg.SuspicionMult
	ml.GossipInterval = m.cfg.GossipInterval
	if m.cfg.GossipKey != nil {
		ml.SecretKey = m.cfg.GossipKey
		ml.GossipVerifyIncoming, ml.GossipVerifyOutgoing = true, true
	}
	std := log.New(&logWriter{log: m.log}, "", 0)
	ml.Logger = std

	sc := serf.DefaultConfig()
	sc.NodeName = m.self
	sc.Tags = m.cfg.Tags.encode()
	sc.MemberlistConfig = ml
	sc.EventCh = m.serfCh
	sc.Logger = std
	sc.Merge = &mergeDelegate{m: m}
	// Duplicate names are refused by the merge delegate before memberlist
	// sees a conflict; serf's own resolution would instead shut down
	// whichever side loses a vote, possibly the established node.
	sc.EnableNameConflictResolution = false
	sc.ReapInterval = m.cfg.ReapInterval
	sc.ReconnectTimeout = m.cfg.ReconnectTimeout
	sc.TombstoneTimeout = m.cfg.TombstoneTimeout
	sc.LeavePropagateDelay = 0
	return sc, nil
}

// Addr is the advertised gossip address, with the port chosen when
// BindAddr asked for port 0.
func (m *Member) Addr() string { return m.addr }

// Name is this member's serf node name.
func (m *Member) Name() string { return m.self }

// Events delivers member events in order. It is closed by Close. The
// reader must keep up: a full channel holds back event processing.
func (m *Member) Events() <-chan Event { return m.events }

// Self is this member as others see it.
func (m *Member) Self() MemberInfo {
	m.tagsMu.Lock()
	defer m.tagsMu.Unlock()
	return MemberInfo{Name: m.self, Addr: m.addr, Status: StatusAlive, Tags: m.tags}
}

// Members lists every member serf knows, this one included, by name.
// Members whose tags do not decode are left out.
func (m *Member) Members() []MemberInfo {
	var out []MemberInfo
	for _, sm := range m.serf.Members() {
		if mi, ok := m.info(sm); ok {
			out = append(out, mi)
		}
	}
	slices.SortFunc(out, func(a, b MemberInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SetTags replaces this member's tags and gossips them (an update event
// on every member). The node ID cannot change.
func (m *Member) SetTags(t Tags) error {
	if m.closed.Load() {
		return ErrClosed
	}
	if err := t.validate(); err != nil {
		return err
	}
	m.tagsMu.Lock()
	defer m.tagsMu.Unlock()
	if t.NodeID != m.tags.NodeID {
		return fmt.Errorf("%w: node id cannot change from %d to %d", ErrBadTags, m.tags.NodeID, t.NodeID)
	}
	if err := m.serf.SetTags(t.encode()); err != nil {
		return fmt.Errorf("membership: setting tags: %w", err)
	}
	m.tags = t
	cid := t.ClusterID
	m.clusterID.Store(&cid)
	return nil
}

// SetClusterID advertises the cluster ID once this node belongs to a raft
// cluster; from then on members of other clusters are refused.
func (m *Member) SetClusterID(id string) error {
	m.tagsMu.Lock()
	t := m.tags
	m.tagsMu.Unlock()
	t.ClusterID = id
	return m.SetTags(t)
}

// Join contacts the seeds (host:port; our own address among them is
// skipped) until at least one answers, retrying with backoff until ctx
// ends. A seed that refuses us for a duplicate node ID or a different
// cluster ID ends the attempt at once with that reason. With no seed but
// ourselves Join returns nil at once: we are the first member.
func (m *Member) Join(ctx context.Context, seeds []string) error {
	others := m.otherSeeds(seeds)
	if len(others) == 0 {
		return nil
	}
	backoff := m.cfg.JoinRetryMin
	var lastErr error
	for attempt := 1; ; attempt++ {
		if m.closed.Load() {
			return ErrClosed
		}
		m.refusal.Store(nil)
		n, err := m.serf.Join(others, true)
		if r := m.refusal.Load(); r != nil {
			return *r
		}
		if n > 0 {
			m.log.Info("joined gossip", "contacted", n, "seeds", others, "attempts", attempt)
			return nil
		}
		if err != nil && isKeyMismatch(err) {
			return fmt.Errorf("%w: seeds %v are not readable with our gossip key (or we lack theirs): %v", ErrGossipKeyMismatch, others, err)
		}
		lastErr = err
		m.log.Debug("join attempt failed; retrying", "seeds", others, "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w %v after %d attempts: %w; last error: %v",
				ErrJoin, others, attempt, ctx.Err(), lastErr)
		case <-m.stopCh:
			return ErrClosed
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, m.cfg.JoinRetryMax)
	}
}

// otherSeeds drops our own address from seeds; a seed that does not
// resolve is kept, so the join reports it.
func (m *Member) otherSeeds(seeds []string) []string {
	var out []string
	for _, s := range seeds {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if a, err := net.ResolveTCPAddr("tcp", s); err == nil && a.String() == m.addr {
			continue
		}
		out = append(out, s)
	}
	return out
}

// Close leaves the cluster gracefully (others see a leave, not a failure),
// then shuts serf down and closes Events. Safe to call more than once.
func (m *Member) Close() error { return m.shutdown(true) }

func (m *Member) shutdown(leave bool) error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		var errs []error
		if leave {
			done := make(chan error, 1)
			go func() { done <- m.serf.Leave() }()
			select {
			case err := <-done:
				if err != nil {
					errs = append(errs, fmt.Errorf("membership: leave: %w", err))
				}
			case <-time.After(m.cfg.LeaveTimeout):
				errs = append(errs, errors.New("membership: leave timed out"))
			}
		}
		if err := m.serf.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("membership: shutdown: %w", err))
		}
		close(m.stopCh)
		m.wg.Wait()
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// runEvents turns serf member events into Events and keeps the table the
// merge delegate checks names against. It stops when Close runs, closing
// Events.
func (m *Member) runEvents() {
	defer m.wg.Done()
	defer close(m.events)
	for {
		select {
		case <-m.stopCh:
			return
		case ev := <-m.serfCh:
			me, ok := ev.(serf.MemberEvent)
			if !ok {
				continue
			}
			out := Event{Type: eventType(me.Type)}
			m.mu.Lock()
			for _, sm := range me.Members {
				m.mu.known[sm.Name] = knownMember{
					addr:  hostPort(sm.Addr, sm.Port),
					alive: me.Type == serf.EventMemberJoin || me.Type == serf.EventMemberUpdate,
				}
				if me.Type == serf.EventMemberReap {
					delete(m.mu.known, sm.Name)
				}
			}
			m.mu.Unlock()
			for _, sm := range me.Members {
				if mi, ok := m.info(sm); ok {
					if me.Type == serf.EventMemberReap {
						mi.Status = StatusLeft
					}
					out.Members = append(out.Members, mi)
				}
			}
			if out.Type == "" || len(out.Members) == 0 {
				continue
			}
			select {
			case m.events <- out:
			case <-m.stopCh:
				return
			}
		}
	}
}

func eventType(t serf.EventType) EventType {
	switch t {
	case serf.EventMemberJoin:
		return EventJoin
	case serf.EventMemberUpdate:
		return EventUpdate
	case serf.EventMemberLeave:
		return EventLeave
	case serf.EventMemberFailed:
		return EventFailed
	case serf.EventMemberReap:
		return EventReap
	}
	return ""
}

func (m *Member) info(sm serf.Member) (MemberInfo, bool) {
	t, err := decodeTags(sm.Tags)
	if err != nil {
		m.log.Warn("ignoring member with bad tags", "member", sm.Name, "err", err)
		return MemberInfo{}, false
	}
	return MemberInfo{Name: sm.Name, Addr: hostPort(sm.Addr, sm.Port), Status: status(sm.Status), Tags: t}, true
}

func status(s serf.MemberStatus) Status {
	switch s {
	case serf.StatusLeaving:
		return StatusLeaving
	case serf.StatusLeft:
		return StatusLeft
	case serf.StatusFailed:
		return StatusFailed
	}
	return StatusAlive
}

func hostPort(ip net.IP, port uint16) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(int(port)))
}

// isKeyMismatch recognises memberlist's errors for gossip that our keyring
// cannot read, or that is encrypted when we have no key, or plain when we
// require encryption. memberlist returns them only as text.
func isKeyMismatch(err error) bool {
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"could decrypt", "encryption is not configured", "is encrypted", "not encrypted"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
