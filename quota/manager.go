package quota

import (
	"sync"
	"time"
)

// Manager measures clients' use against a Set and says how long each must
// be throttled. Safe for concurrent use.
type Manager struct {
	mu      sync.Mutex
	window  Window
	sensors map[Sensor]*sensorState
	// lastPrune is when idle sensors were last dropped (unix nanos).
	lastPrune int64
}

type sensorState struct {
	r        *rate
	lastUsed int64
}

// SensorIdle is how long an unused sensor is kept (Kafka expires quota
// sensors after an hour; a shorter span bounds memory under clients that
// churn client ids).
const SensorIdle = 10 * time.Minute

// NewManager returns a Manager sampling with w (DefaultWindow when zero).
func NewManager(w Window) *Manager {
	if w.Samples < 2 || w.Size <= 0 {
		w = DefaultWindow
	}
	return &Manager{window: w, sensors: map[Sensor]*sensorState{}}
}

// SetWindow changes the sampling (quota.window.*); measured usage restarts.
func (m *Manager) SetWindow(w Window) {
	if w.Samples < 2 || w.Size <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if w != m.window {
		m.window, m.sensors = w, map[Sensor]*sensorState{}
	}
}

// Record adds v to the use of key by user and clientID under the quota
// set applies, and returns the throttle the use now calls for (zero when
// no quota applies or the client is within it).
func (m *Manager) Record(set *Set, key, user, clientID string, v float64, now time.Time) time.Duration {
	return m.record(set, key, user, clientID, v, now, false)
}

// RecordIfUnder records v like Record unless that calls for a throttle,
// in which case v is taken back out and the throttle returned: a fetch
// response that would exceed the consumer's quota is sent empty, so its
// bytes do not count (as Kafka unrecords them).
func (m *Manager) RecordIfUnder(set *Set, key, user, clientID string, v float64, now time.Time) time.Duration {
	return m.record(set, key, user, clientID, v, now, true)
}

func (m *Manager) record(set *Set, key, user, clientID string, v float64, now time.Time, undoIfThrottled bool) time.Duration {
	bound, sn, ok := set.Resolve(key, user, clientID)
	if !ok {
		return 0
	}
	ns := now.UnixNano()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.prune(ns)
	st := m.sensors[sn]
	if st == nil {
		st = &sensorState{r: newRate(m.window)}
		m.sensors[sn] = st
	}
	st.lastUsed = ns
	st.r.record(m.window, ns, v)
	d := st.r.throttle(m.window, ns, bound)
	if d > 0 && undoIfThrottled {
		st.r.values[st.r.cur] -= v
	}
	return d
}

// Sensors is how many sensors are held.
func (m *Manager) Sensors() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sensors)
}

func (m *Manager) prune(now int64) {
	if now-m.lastPrune < int64(time.Minute) {
		return
	}
	m.lastPrune = now
	for sn, st := range m.sensors {
		if now-st.lastUsed > int64(SensorIdle) {
			delete(m.sensors, sn)
		}
	}
}
