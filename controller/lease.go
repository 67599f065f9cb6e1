package controller

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Defaults for the heartbeat lease, tuned so a dead broker (or dead
// partition leader) is fenced in under a second. Kafka's equivalents are
// broker.session.timeout.ms (9000) and broker.heartbeat.interval.ms (2000).
const (
	DefaultSessionTimeout    = 800 * time.Millisecond
	DefaultHeartbeatInterval = 200 * time.Millisecond
)

// Errors.
var (
	ErrUnknownBroker     = errors.New("controller: broker not registered")
	ErrStaleBrokerEpoch  = errors.New("controller: stale broker epoch")
	ErrInvalidLease      = errors.New("controller: invalid lease request")
	ErrNotEnoughBrokers  = errors.New("controller: not enough live brokers")
	ErrInvalidPlacement  = errors.New("controller: invalid placement request")
	ErrInvalidPlanConfig = errors.New("controller: invalid plan options")
)

// LeaseTable tracks broker registrations and heartbeat leases. It is a
// plain value owned by the controller loop (not safe for concurrent use);
// every method takes the time, so tests drive it with a fake clock.
type LeaseTable struct {
	timeout   time.Duration
	nextEpoch int64
	leases    map[int32]*lease
}

type lease struct {
	epoch    int64
	lastBeat time.Time
	fenced   bool // set by Fence, cleared by a heartbeat
	// unreachable: the metadata quorum's transport cannot reach the
	// broker (SetUnreachable); its lease then lasts half a session.
	unreachable bool
}

// NewLeaseTable returns an empty table with the given session timeout.
func NewLeaseTable(sessionTimeout time.Duration) (*LeaseTable, error) {
	if sessionTimeout <= 0 {
		return nil, fmt.Errorf("%w: session timeout %v", ErrInvalidLease, sessionTimeout)
	}
	return &LeaseTable{timeout: sessionTimeout, leases: map[int32]*lease{}}, nil
}

// SessionTimeout is the lease length.
func (t *LeaseTable) SessionTimeout() time.Duration { return t.timeout }

// Backdate moves a broker's last heartbeat back to at (never forward), as
// when a new controller knows the broker stopped answering earlier than
// the controller took over.
func (t *LeaseTable) Backdate(id int32, at time.Time) {
	if l, ok := t.leases[id]; ok && at.Before(l.lastBeat) {
		l.lastBeat = at
	}
}

// Register starts (or restarts) a broker's lease at now and returns its
// new broker epoch; heartbeats must carry it. A re-registration (a broker
// process restarted) supersedes the old epoch.
func (t *LeaseTable) Register(id int32, now time.Time) (int64, error) {
	if id < 0 {
		return 0, fmt.Errorf("%w: broker id %d", ErrInvalidLease, id)
	}
	t.nextEpoch++
	t.leases[id] = &lease{epoch: t.nextEpoch, lastBeat: now}
	return t.nextEpoch, nil
}

// Seed gives every broker in ids a fresh lease at now, keeping epochs
// already known. A newly elected controller seeds the brokers registered
// in the metadata, so nobody is fenced before a full session timeout has
// passed under the new controller.
func (t *LeaseTable) Seed(ids []int32, now time.Time) {
	for _, id := range ids {
		if l, ok := t.leases[id]; ok {
			l.lastBeat = now
			continue
		}
		t.nextEpoch++
		t.leases[id] = &lease{epoch: t.nextEpoch, lastBeat: now}
	}
}

// Heartbeat renews a broker's lease at now. A fenced broker that
// heartbeats with its current epoch is unfenced; the result says so.
func (t *LeaseTable) Heartbeat(id int32, epoch int64, now time.Time) (unfenced bool, err error) {
	l, ok := t.leases[id]
	if !ok {
		return false, fmt.Errorf("%w: %d", ErrUnknownBroker, id)
	}
	if epoch != l.epoch {
		return false, fmt.Errorf("%w: broker %d sent epoch %d, current %d", ErrStaleBrokerEpoch, id, epoch, l.epoch)
	}
	if now.After(l.lastBeat) {
		l.lastBeat = now
	}
	wasFenced := l.fenced || t.expired(l, now)
	l.fenced = false
	return wasFenced, nil
}

// Fence fences a broker at once, as when serf reports it failed or left.
// It stays fenced until it heartbeats again.
func (t *LeaseTable) Fence(id int32) {
	if l, ok := t.leases[id]; ok {
		l.fenced = true
	}
}

// Unregister forgets a broker.
func (t *LeaseTable) Unregister(id int32) { delete(t.leases, id) }

func (t *LeaseTable) expired(l *lease, now time.Time) bool {
	d := now.Sub(l.lastBeat)
	return d > t.timeout || (l.unreachable && d > t.timeout/2)
}

// SetUnreachable records which brokers the raft leader's transport
// currently fails to reach (a crashed process refuses connections at
// once). Such a broker's lease lasts half a session from its last
// heartbeat instead of a whole one: a second failure detector that never
// fences a broker still heartbeating (a live broker heartbeats several
// times per half session), but fences a dead one sooner — most of all
// after a controller change, when every lease starts afresh.
func (t *LeaseTable) SetUnreachable(ids map[int32]bool) {
	for id, l := range t.leases {
		l.unreachable = ids[id]
	}
}

// Fenced reports whether broker id is fenced at now: unknown, fenced
// explicitly, or its last heartbeat older than the session timeout.
func (t *LeaseTable) Fenced(id int32, now time.Time) bool {
	l, ok := t.leases[id]
	return !ok || l.fenced || t.expired(l, now)
}

// Live is the set of registered, unfenced brokers at now.
func (t *LeaseTable) Live(now time.Time) map[int32]bool {
	out := map[int32]bool{}
	for id, l := range t.leases {
		if !l.fenced && !t.expired(l, now) {
			out[id] = true
		}
	}
	return out
}

// Expiring lists, by ID, brokers whose lease has run out at now but that
// are not yet marked fenced: the ones a reconcile step fences now.
func (t *LeaseTable) Expiring(now time.Time) []int32 {
	var out []int32
	for _, id := range slices.Sorted(maps.Keys(t.leases)) {
		l := t.leases[id]
		if !l.fenced && t.expired(l, now) {
			out = append(out, id)
		}
	}
	return out
}

// Epoch is a broker's current epoch, 0 when unknown.
func (t *LeaseTable) Epoch(id int32) int64 {
	if l, ok := t.leases[id]; ok {
		return l.epoch
	}
	return 0
}
