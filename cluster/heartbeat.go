package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/meta"
)

// heartbeatState is what this broker learned from its last heartbeat.
type heartbeatState struct {
	mu           sync.Mutex
	epoch        int64
	acked        bool // a heartbeat has been answered
	fenced       bool
	minApplied   uint64
	shouldStop   bool
	wantShutdown bool
	waiters      int
	lastErr      error
	lastOK       time.Time     // last answered heartbeat
	changed      chan struct{} // closed and replaced after every answer
	// lastOKNanos is lastOK in unix nanoseconds (0: none yet), read
	// without mu on every produce by LeaseLapsed.
	lastOKNanos atomic.Int64
}

func (h *heartbeatState) init() { h.changed = make(chan struct{}) }

// Kick tells the runtime the applied metadata version advanced: the next
// heartbeat goes out at once, so the controller's view of what every
// broker has applied (WaitApplied) stays current.
func (r *Runtime) Kick() { kick(r.kickHB) }

// Ready reports whether the controller has answered this broker's
// heartbeat and it is not fenced: the node is part of the live cluster.
func (r *Runtime) Ready() bool {
	r.hb.mu.Lock()
	defer r.hb.mu.Unlock()
	return r.hb.acked && !r.hb.fenced
}

// Fenced reports whether the last heartbeat answer said this broker is
// fenced (or none has been answered yet).
func (r *Runtime) Fenced() bool { return !r.Ready() }

// LeaseLapsed reports whether this broker's last answered heartbeat is
// older than the session timeout at now: the controller, if a majority can
// still reach it, has fenced this broker and moved its leaderships. False
// before the first answer (the broker is not serving yet).
func (r *Runtime) LeaseLapsed(now time.Time) bool {
	ok := r.hb.lastOKNanos.Load()
	return ok != 0 && now.UnixNano()-ok > int64(r.cfg.SessionTimeout)
}

// WaitApplied waits until every live broker has applied metadata version
// v, as the controller reports in heartbeat answers, or ctx ends.
func (r *Runtime) WaitApplied(ctx context.Context, v uint64) error {
	r.hb.mu.Lock()
	r.hb.waiters++
	r.hb.mu.Unlock()
	defer func() {
		r.hb.mu.Lock()
		r.hb.waiters--
		r.hb.mu.Unlock()
	}()
	kick(r.kickHB)
	for {
		r.hb.mu.Lock()
		got, ch := r.hb.minApplied, r.hb.changed
		r.hb.mu.Unlock()
		if got >= v {
			return nil
		}
		select {
		case <-ch:
		case <-r.stop:
			return errors.New("cluster: stopped")
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for every broker to apply metadata version %d (lowest applied %d): %w", v, got, ctx.Err())
		}
	}
}

// controlledShutdown asks the controller to move this broker's
// leaderships away and waits until it says the broker leads nothing.
func (r *Runtime) controlledShutdown(ctx context.Context) error {
	r.hb.mu.Lock()
	r.hb.wantShutdown = true
	r.hb.mu.Unlock()
	kick(r.kickHB)
	began := time.Now()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		r.hb.mu.Lock()
		done, ch, last, lastOK := r.hb.shouldStop, r.hb.changed, r.hb.lastErr, r.hb.lastOK
		r.hb.mu.Unlock()
		if done {
			r.log.Info("controlled shutdown: leaderships moved")
			return nil
		}
		// No controller for two sessions (the quorum is gone, as when
		// the last nodes of a cluster stop): nobody can move anything.
		if silent := 2 * r.cfg.SessionTimeout; time.Since(began) > silent && time.Since(lastOK) > silent {
			return fmt.Errorf("cluster: controlled shutdown: no controller answered for %v (last heartbeat error: %v)", silent, last)
		}
		select {
		case <-ch:
		case <-poll.C:
		case <-ctx.Done():
			return fmt.Errorf("cluster: controlled shutdown: %w (last heartbeat error: %v)", ctx.Err(), last)
		}
	}
}

// runHeartbeat renews this broker's lease with the controller every
// HeartbeatInterval, sooner when kicked, every 20 ms while someone waits
// in WaitApplied or a controlled shutdown runs.
func (r *Runtime) runHeartbeat() {
	defer r.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastWarn time.Time
	for {
		select {
		case <-r.stop:
			return
		case <-timer.C:
		case <-r.kickHB:
		}
		err := r.heartbeatOnce()
		r.hb.mu.Lock()
		fast := r.hb.waiters > 0 || (r.hb.wantShutdown && !r.hb.shouldStop)
		r.hb.mu.Unlock()
		next := r.cfg.HeartbeatInterval
		switch {
		case fast:
			next = 20 * time.Millisecond
		case err != nil:
			next = min(next, 100*time.Millisecond)
			if time.Since(lastWarn) >= 5*time.Second && !meta.Retriable(err) {
				lastWarn = time.Now()
				r.log.Warn("heartbeat to the controller failed", "err", err)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

func (r *Runtime) heartbeatOnce() error {
	r.hb.mu.Lock()
	req := meta.HeartbeatRequest{BrokerID: r.cfg.NodeID, BrokerEpoch: r.hb.epoch, WantShutdown: r.hb.wantShutdown}
	r.hb.mu.Unlock()
	req.AppliedVersion = r.applied()
	if b, ok := r.store.Broker(r.cfg.NodeID); ok {
		req.Broker = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.SessionTimeout)
	resp, err := r.store.Heartbeat(ctx, req)
	cancel()
	r.hb.mu.Lock()
	defer r.hb.mu.Unlock()
	r.hb.lastErr = err
	if err != nil {
		return err
	}
	wasFenced, wasAcked := r.hb.fenced, r.hb.acked
	r.hb.epoch = resp.BrokerEpoch
	r.hb.acked = true
	r.hb.lastOK = time.Now()
	r.hb.lastOKNanos.Store(r.hb.lastOK.UnixNano())
	r.hb.fenced = resp.Fenced
	r.hb.minApplied = resp.MinAppliedVersion
	r.hb.shouldStop = resp.ShouldShutdown
	close(r.hb.changed)
	r.hb.changed = make(chan struct{})
	if !wasAcked || wasFenced != resp.Fenced {
		r.log.Info("controller heartbeat", "fenced", resp.Fenced, "broker_epoch", resp.BrokerEpoch)
	}
	return nil
}
