package storage

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Syncer is the group commit: callers that need their appends durable
// before acknowledging them queue a request; one goroutine (runSync) takes
// every pending request, fsyncs each distinct log once (several in
// parallel), then completes every waiter that pass covered. Requests that
// arrive during a pass wait for the next one, so under load one fsync per
// log serves many produce requests.
type Syncer struct {
	logger   *slog.Logger
	parallel int

	mu      sync.Mutex
	pending map[*Log][]syncWaiter
	closed  bool

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	passes atomic.Int64
	syncs  atomic.Int64
}

type syncWaiter struct {
	upTo int64
	done func(error)
}

// SyncerStats counts the work done so far.
type SyncerStats struct {
	Passes int64 // group-commit passes
	Syncs  int64 // Log.Sync calls made by those passes
}

// NewSyncer starts a Syncer. Close stops it.
func NewSyncer(logger *slog.Logger) *Syncer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Syncer{
		logger:   logger,
		parallel: 8,
		pending:  map[*Log][]syncWaiter{},
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.runSync()
	return s
}

// Sync calls done once l.SyncedOffset() >= upTo: at once if it already is,
// otherwise after the next pass that fsyncs l, with that fsync's error if it
// failed. done runs on the Syncer's goroutines and must not block.
func (s *Syncer) Sync(l *Log, upTo int64, done func(error)) {
	if l.SyncedOffset() >= upTo {
		done(nil)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		done(fmt.Errorf("syncer: %w", ErrClosed))
		return
	}
	s.pending[l] = append(s.pending[l], syncWaiter{upTo: upTo, done: done})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats reports how many passes and fsyncs the Syncer has made.
func (s *Syncer) Stats() SyncerStats {
	return SyncerStats{Passes: s.passes.Load(), Syncs: s.syncs.Load()}
}

// Close stops the Syncer after its current pass and fails requests still
// queued with ErrClosed.
func (s *Syncer) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	s.mu.Lock()
	left := s.pending
	s.pending = map[*Log][]syncWaiter{}
	s.mu.Unlock()
	for _, ws := range left {
		for _, w := range ws {
			w.done(fmt.Errorf("syncer: %w", ErrClosed))
		}
	}
}

func (s *Syncer) runSync() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		batch := s.pending
		s.pending = map[*Log][]syncWaiter{}
		s.mu.Unlock()
		if len(batch) > 0 {
			s.pass(batch)
		}
	}
}

// pass fsyncs each log of batch once, at most s.parallel at a time, and
// completes its waiters.
func (s *Syncer) pass(batch map[*Log][]syncWaiter) {
	s.passes.Add(1)
	sem := make(chan struct{}, s.parallel)
	var wg sync.WaitGroup
	for l, ws := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.syncs.Add(1)
			err := l.Sync()
			if err != nil {
				s.logger.Warn("group commit fsync failed", "log", l.dir, "err", err)
			}
			synced := l.SyncedOffset()
			for _, w := range ws {
				switch {
				case err != nil:
					w.done(err)
				case synced >= w.upTo:
					w.done(nil)
				default:
					w.done(fmt.Errorf("%w: sync up to %d requested, log ends at %d", ErrOffsetOutOfRange, w.upTo, synced))
				}
			}
		}()
	}
	wg.Wait()
}
