package tiering

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/stratalog/strata/objectstore"
)

// Under replication only a partition's leader writes its remote data, and
// leaders change. Every replica therefore keeps its local manifest in step
// with the store's: a follower re-reads it every SyncInterval (so it can
// drop local segments the leader has uploaded, and knows the cold range if
// it is elected), and a broker that becomes leader — a new leader epoch —
// reads it before it uploads, deletes or collects anything, so it resumes
// exactly where the previous leader stopped and never re-uploads, overlaps
// or garbage-collects the previous leader's segments.

// noSync is the synced epoch of a partition whose local manifest must be
// re-read from the store before the broker acts as its leader.
const noSync = -2

// maxConcurrentSyncs bounds the manifest listings in flight, so a broker
// that starts or takes over many partitions at once does not flood the
// store.
const maxConcurrentSyncs = 8

// listEntries lists the partition's manifest entries in the store: their
// base offsets in order, and for each the key and generation of its newest
// generation (the original, or its latest repair).
func (p *Partition) listEntries(ctx context.Context) (bases []int64, latest map[int64]string, gens map[int64]int, err error) {
	latest, gens = map[int64]string{}, map[int64]int{}
	cursor := ""
	for {
		page, err := p.m.store.List(ctx, objectstore.ListOptions{Prefix: p.root + "manifest/", Cursor: cursor})
		if err != nil {
			return nil, nil, nil, err
		}
		for _, o := range page.Objects {
			if b, g, ok := parseEntryKey(p.root, o.Key); ok {
				if _, seen := latest[b]; !seen {
					bases = append(bases, b)
				} else if g <= gens[b] {
					continue
				}
				latest[b], gens[b] = o.Key, g
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, latest, gens, nil
}

// storeChain lists the committed segments in the store: the newest
// generation of each manifest entry, in offset order, each starting at or
// after the end of the one before (an entry overlapping an earlier one, left
// by a deposed leader's race, is skipped, as rebuild does). known returns a
// local record for a base whose original entry it already holds; only
// entries it lacks (or repaired generations) are fetched, and cached.
func (p *Partition) storeChain(ctx context.Context, known func(base int64) (Segment, bool)) ([]Segment, error) {
	bases, latest, gens, err := p.listEntries(ctx)
	if err != nil {
		return nil, err
	}
	entries := make([]Segment, len(bases))
	errs := make([]error, len(bases))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, b := range bases {
		if gens[b] == 0 && known != nil {
			if s, ok := known(b); ok {
				entries[i] = s
				continue
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			entries[i], errs[i] = p.fetchEntryKey(ctx, latest[b])
			if errs[i] == nil {
				e := entries[i]
				p.m.entries.put(segmentKey(p.root, e.BaseOffset, e.UploadID), e)
			}
		}()
	}
	wg.Wait()
	out := make([]Segment, 0, len(entries))
	end := int64(-1)
	for i, e := range entries {
		if errs[i] != nil {
			if errors.Is(errs[i], objectstore.ErrNotFound) {
				continue // deleted by retention meanwhile
			}
			return nil, errs[i]
		}
		if e.BaseOffset < end {
			continue // overlapping leftovers: keep the first
		}
		out = append(out, e)
		end = e.NextOffset
	}
	return out, nil
}

// Sync brings the local manifest in step with the store's, and the log
// start with the one the leader published. It reports whether the local
// manifest changed.
func (p *Partition) Sync(ctx context.Context) (bool, error) {
	local := map[int64]Segment{}
	if err := p.man.Scan(func(s Segment) bool { local[s.BaseOffset] = s; return true }); err != nil {
		return false, err
	}
	chain, err := p.storeChain(ctx, func(base int64) (Segment, bool) {
		s, ok := local[base]
		return s, ok
	})
	if err != nil {
		return false, fmt.Errorf("listing the store's manifest of %s: %w", p.id, err)
	}
	if stored, err := p.fetchLogStart(ctx); err != nil {
		return false, fmt.Errorf("reading the log start of %s: %w", p.id, err)
	} else if err := p.DeleteRecordsBefore(stored); err != nil {
		return false, err
	}
	same := len(chain) == int(p.man.Len())
	if same {
		i := 0
		_ = p.man.Scan(func(s Segment) bool {
			c := chain[i]
			same = c.sameRange(s) && c.UploadID == s.UploadID
			i++
			return same
		})
	}
	if same {
		return false, nil
	}
	if err := p.man.Reset(chain); err != nil {
		return false, err
	}
	return true, nil
}

// syncDue reports whether step should start a sync: always for a leader
// whose epoch was not synced yet, every SyncInterval for a follower.
// Needs mu.
func (p *Partition) syncDueLocked(now time.Time, leader bool, epoch int32) bool {
	if p.mu.syncing {
		return false
	}
	if leader {
		return p.mu.syncedEpoch != epoch
	}
	return now.Sub(p.mu.lastSync) >= p.m.cfg.SyncInterval
}

// runSync re-reads the store's manifest for step; a leader epoch is marked
// synced only when the sync succeeded under it.
func (p *Partition) runSync(leader bool, epoch int32) {
	defer p.m.wg.Done()
	var changed bool
	var err error
	select {
	case p.m.syncSem <- struct{}{}:
		ctx, cancel := context.WithTimeout(p.m.ctx, p.m.cfg.RequestTimeout)
		changed, err = p.Sync(ctx)
		cancel()
		<-p.m.syncSem
	case <-p.m.ctx.Done():
		err = p.m.ctx.Err()
	}
	p.mu.Lock()
	p.mu.syncing = false
	p.mu.lastSync = time.Now()
	if err == nil && leader {
		p.mu.syncedEpoch = epoch
	}
	if err == nil {
		p.mu.syncedOnce = true
	}
	if p.m.ctx.Err() == nil {
		p.mu.syncErr = err
	}
	p.mu.Unlock()
	if err == nil && p.m.cfg.ReadOnly {
		if f, ok := p.src.(RemoteFollower); ok {
			if _, end, _, ok := p.man.Bounds(); ok {
				f.FollowRemote(end)
			}
		}
	}
	switch {
	case err != nil && p.m.ctx.Err() == nil:
		p.m.log.Warn("reading the store's manifest; will retry", "partition", p.id, "leader", leader, "err", err)
	case changed:
		start, end, _, _ := p.man.Bounds()
		p.m.log.Debug("local manifest synced from the store", "partition", p.id, "leader", leader, "epoch", epoch,
			"segments", p.man.Len(), "start", start, "end", end)
	}
	if err == nil && leader {
		select {
		case p.m.again <- struct{}{}:
		default:
		}
	}
}

// Stale reports whether this broker leads the partition under an epoch
// whose manifest it has not read from the store yet, after leadership has
// changed hands (epoch > 0) or the broker followed the partition: its view
// of the cold range (and so of the log start) may lag what the previous
// leader uploaded. The broker answers reads below its local log start with
// a retriable OFFSET_NOT_AVAILABLE meanwhile (KIP-207's "new leader not
// ready"), rather than a wrong log start or OFFSET_OUT_OF_RANGE.
func (p *Partition) Stale() bool {
	if p.m.cfg.ReadOnly {
		p.mu.Lock()
		defer p.mu.Unlock()
		return !p.mu.syncedOnce
	}
	if !p.src.IsLeader() {
		return false
	}
	epoch := p.src.LeaderEpoch()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.syncedEpoch != epoch && (epoch > 0 || p.mu.followed)
}

// RequestSync makes the next planning pass re-read the store's manifest
// (a follower whose log was restarted at its leader's log start), and runs
// that pass now.
func (p *Partition) RequestSync() {
	p.mu.Lock()
	p.mu.lastSync = time.Time{}
	p.mu.Unlock()
	p.m.Wake()
}

// BecameFollower records that this broker follows the partition now, and
// has it read the store's manifest at once.
func (p *Partition) BecameFollower() {
	p.mu.Lock()
	p.mu.followed = true
	p.mu.Unlock()
	p.RequestSync()
}

// Wake runs a planning pass of every partition soon (a leadership change:
// a new leader reads the store's manifest at once).
func (m *Manager) Wake() {
	select {
	case m.again <- struct{}{}:
	default:
	}
}
