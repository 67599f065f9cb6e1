package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/tiering"
)

// A node whose object store does not answer does not stop: it serves its
// local data degraded (docs/restore.md, "Degraded mode"), keeps retrying
// the store, and catches up when it answers.

// errStoreDown marks a partition that could not open because the store
// did not answer (its local state needs the store's: a new or emptied
// log); it is opened again when the store is back.
var errStoreDown = errors.New("object store unreachable")

// storeHealth is whether the object store answers, for /readyz, metrics
// and the partitions that wait for it.
type storeHealth struct {
	mu      sync.Mutex
	down    bool
	since   time.Time
	lastErr error
	claimed bool // the bucket's claim was checked
}

func (h *storeHealth) setDown(err error) (changed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastErr = err
	if h.down {
		return false
	}
	h.down, h.since = true, time.Now()
	return true
}

func (h *storeHealth) setUp() (changed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	changed = h.down
	h.down, h.lastErr = false, nil
	return changed
}

func (h *storeHealth) state() (down bool, since time.Time, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down, h.since, h.lastErr
}

// storeUnreachable reports whether a failed start-up probe means the
// store is down (start degraded) rather than misconfigured (refuse).
func storeUnreachable(err error) bool {
	for _, c := range []error{objectstore.ErrInvalid, objectstore.ErrPermission, objectstore.ErrNotFound} {
		if errors.Is(err, c) {
			return false
		}
	}
	return true
}

// probeStore asks the store one cheap question: the claim object's
// metadata (absent is an answer too).
func probeStore(ctx context.Context, store objectstore.Store) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := store.Stat(ctx, tiering.Default().Prefix+"/_cluster/cluster.json")
	if err == nil || errors.Is(err, objectstore.ErrNotFound) {
		return nil
	}
	return err
}

// onlyStoreDown reports whether err consists only of partitions that wait
// for the store.
func onlyStoreDown(err error) bool {
	if err == nil {
		return true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !onlyStoreDown(e) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, errStoreDown)
}

// runStoreProbe watches the store: every second (up to ten) while it does
// not answer, every 15 s while it does. When it comes back it checks the
// bucket's claim if that was not done, opens the partitions that waited
// and lets tiering catch up. It stops when the node drains.
func (n *Node) runStoreProbe() {
	defer n.loops.Done()
	wait := time.Second
	for {
		down, _, _ := n.storeHealth.state()
		if !down {
			wait = 15 * time.Second
		}
		select {
		case <-n.drain:
			return
		case <-time.After(wait):
		}
		err := probeStore(n.drainCtx, n.tierStore)
		if n.draining() {
			return
		}
		if err != nil {
			if n.storeHealth.setDown(err) {
				n.log.Warn("object store unreachable: serving local data degraded, uploads wait", "err", err)
			}
			wait = min(2*wait, 10*time.Second)
			if down {
				continue
			}
			wait = time.Second
			continue
		}
		if !n.storeHealth.setUp() {
			continue
		}
		_, since, _ := n.storeHealth.state()
		n.log.Info("object store reachable again: leaving degraded mode", "down_for", time.Since(since).Round(time.Millisecond))
		if err := n.claimOnce(n.drainCtx); err != nil {
			n.fail(err)
			return
		}
		if err := n.applyMetadata(); err != nil {
			n.log.Error("opening partitions that waited for the object store", "err", err)
		}
		if n.tier != nil {
			n.tier.Kick()
		}
		wait = 15 * time.Second
	}
}

// claimOnce checks the bucket's claim once per process.
func (n *Node) claimOnce(ctx context.Context) error {
	n.storeHealth.mu.Lock()
	done := n.storeHealth.claimed
	n.storeHealth.mu.Unlock()
	if done {
		return nil
	}
	if err := n.claimBucket(ctx, n.tierStore); err != nil {
		return err
	}
	n.storeHealth.mu.Lock()
	n.storeHealth.claimed = true
	n.storeHealth.mu.Unlock()
	return nil
}

// readyDetail is what /readyz adds to "ready": the degraded state.
func (n *Node) readyDetail() string {
	down, since, err := n.storeHealth.state()
	if !down {
		return ""
	}
	return fmt.Sprintf(" (degraded: the object store has not answered since %s: %v; local data is served, uploads and cold reads wait)",
		since.UTC().Format(time.RFC3339), err)
}

// fail stops the node with err (Fatal delivers it).
func (n *Node) fail(err error) {
	select {
	case n.fatal <- err:
	default:
	}
}
