package meta

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"
)

// fsm is the raft state machine: a state behind an RWMutex plus the
// subscribers told about changes. raft calls Apply, Snapshot and Restore
// from its FSM goroutine; readers take the read lock.
type fsm struct {
	log *slog.Logger

	mu struct {
		sync.RWMutex
		st *state
	}
	subs *subscribers
}

var _ raft.FSM = (*fsm)(nil)

func newFSM(log *slog.Logger, subs *subscribers) *fsm {
	f := &fsm{log: log, subs: subs}
	f.mu.st = newState()
	return f
}

// Apply applies one committed entry. The result is nil or an error; a
// rejected command leaves the state untouched.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	t, body, err := decodeCommand(l.Data)
	if err != nil {
		f.log.Warn("meta: rejecting undecodable raft entry", "index", l.Index, "err", err)
		return err
	}
	f.mu.Lock()
	changed, err := f.mu.st.apply(t, body)
	if changed {
		f.mu.st.version = l.Index
	}
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%v: %w", t, err)
	}
	if changed {
		f.subs.notify()
	}
	if r, ok := body.(resulter); ok {
		return r.result()
	}
	return nil
}

// resulter is a command that hands its caller a value decided at apply
// time (through raft's ApplyFuture.Response).
type resulter interface{ result() any }

// Snapshot serialises the state now, under the read lock; the state is
// small enough that copying it out is cheaper than a persistent structure.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	data, err := json.Marshal(f.mu.st.toSnapshot())
	f.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("meta: encoding snapshot: %w", err)
	}
	return &fsmSnapshot{data: data}, nil
}

// Restore replaces the whole state with a snapshot's.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var snap snapshotJSON
	if err := json.NewDecoder(rc).Decode(&snap); err != nil {
		return fmt.Errorf("meta: decoding snapshot: %w", err)
	}
	st, err := stateFromSnapshot(&snap)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.mu.st = st
	f.mu.Unlock()
	f.subs.notify()
	return nil
}

// read runs fn under the read lock.
func (f *fsm) read(fn func(*state)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.mu.st)
}

type fsmSnapshot struct{ data []byte }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("meta: writing snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// subscribers hands out coalescing change signals.
type subscribers struct {
	mu   sync.Mutex
	next uint64
	chs  map[uint64]chan struct{}
}

func newSubscribers() *subscribers {
	return &subscribers{chs: make(map[uint64]chan struct{})}
}

func (s *subscribers) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	id := s.next
	s.next++
	s.chs[id] = ch
	s.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.chs, id)
			s.mu.Unlock()
		})
	}
}

// notify signals every subscriber without blocking: a subscriber that has
// not drained its previous signal keeps just that one.
func (s *subscribers) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.chs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
