package storage

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// Syncer is the group commit. Callers that need their appends durable
// before acknowledging them queue a request for a log; each log has at most
// one fsync in flight, and every request that arrives while it runs is
// served by the next one, so under load one fsync per log covers many
// produce requests. Logs are independent: a slow fsync of one partition
// never holds back another's, and when a log's fsync completes the next one
// starts at once if requests are waiting (per-log pipelining, no global
// pass barrier). At most `parallel` fsyncs run at a time.
type Syncer struct {
	logger *slog.Logger
	sem    chan struct{}

	mu     sync.Mutex
	logs   map[*Log]*logSync
	closed bool
	wg     sync.WaitGroup // running fsync goroutines

	passes atomic.Int64
	syncs  atomic.Int64
}

// logSync is one log's group-commit state, guarded by Syncer.mu.
type logSync struct {
	running bool
	waiting []syncWaiter
}

type syncWaiter struct {
	upTo int64
	done func(error)
}

// SyncerStats counts the work done so far.
type SyncerStats struct {
	Passes int64 // fsync rounds started (one per log per round)
	Syncs  int64 // Log.Sync calls made
}

// NewSyncer returns a Syncer. Close stops it.
func NewSyncer(logger *slog.Logger) *Syncer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Syncer{
		logger: logger,
		sem:    make(chan struct{}, 16),
		logs:   map[*Log]*logSync{},
	}
}

// Sync calls done once l.SyncedOffset() >= upTo: at once if it already is,
// otherwise after the next fsync of l, with that fsync's error if it failed.
// done runs on the Syncer's goroutines and must not block.
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
	ls := s.logs[l]
	if ls == nil {
		ls = &logSync{}
		s.logs[l] = ls
	}
	ls.waiting = append(ls.waiting, syncWaiter{upTo: upTo, done: done})
	start := !ls.running
	if start {
		ls.running = true
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if start {
		go s.runLogSync(l, ls)
	}
}

// runLogSync fsyncs l round after round until no request is waiting. It is
// started by Sync when l has no fsync in flight and exits when l's queue is
// empty; Close waits for it.
func (s *Syncer) runLogSync(l *Log, ls *logSync) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		ws := ls.waiting
		ls.waiting = nil
		if len(ws) == 0 {
			ls.running = false
			delete(s.logs, l)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		s.sem <- struct{}{}
		s.passes.Add(1)
		s.syncs.Add(1)
		err := l.Sync()
		<-s.sem
		if err != nil {
			s.logger.Warn("group commit fsync failed", "log", l.dir, "err", err)
		}
		synced := l.SyncedOffset()
		var again []syncWaiter
		for _, w := range ws {
			switch {
			case err != nil:
				w.done(err)
			case synced >= w.upTo:
				w.done(nil)
			case w.upTo > l.EndOffset():
				w.done(fmt.Errorf("%w: sync up to %d requested, log ends at %d", ErrOffsetOutOfRange, w.upTo, l.EndOffset()))
			default:
				// Appended after this fsync took its snapshot of the log
				// end: the next round covers it.
				again = append(again, w)
			}
		}
		if len(again) > 0 {
			s.mu.Lock()
			ls.waiting = append(again, ls.waiting...)
			s.mu.Unlock()
		}
	}
}

// Stats reports how many rounds and fsyncs the Syncer has made.
func (s *Syncer) Stats() SyncerStats {
	return SyncerStats{Passes: s.passes.Load(), Syncs: s.syncs.Load()}
}

// Close stops accepting requests and waits for fsyncs in flight; requests
// already queued are served before it returns.
func (s *Syncer) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
}
