package tiering

import (
	"context"
	"encoding/hex"
	"time"
)

// RemoteFollower is a Source of a read replica: after every sync of the
// partition's manifest it is told the remote end, up to which it serves.
type RemoteFollower interface {
	FollowRemote(end int64)
}

// runFollowProgress is a read replica's view of its primary: every
// FollowInterval it reads the primary's progress objects, asks for a sync
// of every partition whose primary says it holds more than the replica
// does, and records up to which instant each partition is covered (for
// strata_tier_read_replica_lag_seconds). A partition the progress objects
// do not name is synced every SyncInterval all the same.
func (m *Manager) runFollowProgress() {
	defer m.wg.Done()
	tick := time.NewTicker(m.cfg.FollowInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.RequestTimeout)
		prs, err := ReadProgress(ctx, m.store, m.cfg.Prefix)
		cancel()
		if err != nil {
			if m.ctx.Err() == nil {
				m.log.Warn("reading the primary's progress objects", "err", err)
			}
			continue
		}
		spans := map[string][]Span{}
		for _, pr := range prs {
			for _, pp := range pr.Partitions {
				k := pp.TopicID + "/" + itoa(pp.Partition)
				spans[k] = append(spans[k], pp.Spans...)
			}
		}
		woke := false
		for _, p := range m.partitions() {
			ss := spans[hex.EncodeToString(p.id.TopicID[:])+"/"+itoa(p.id.Partition)]
			if len(ss) == 0 {
				continue
			}
			end := p.LogStartOffset()
			if _, e, _, ok := p.man.Bounds(); ok {
				end = e
			}
			covered, behind := int64(0), false
			for _, s := range ss {
				if s.Offset <= end {
					covered = max(covered, s.To)
				} else {
					behind = true
				}
			}
			p.mu.Lock()
			p.mu.covered = max(p.mu.covered, covered)
			if behind && !p.mu.syncing {
				p.mu.lastSync = time.Time{}
				woke = true
			}
			p.mu.Unlock()
		}
		if woke {
			m.Wake()
		}
	}
}

// ReplicaLag is how far a read replica's copy of the partition trails its
// primary: the time since the latest roll instant up to which it holds
// everything the primary had (ok is false until one is known, and outside
// a read replica).
func (p *Partition) ReplicaLag(now time.Time) (time.Duration, bool) {
	if !p.m.cfg.ReadOnly {
		return 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.covered == 0 {
		return 0, false
	}
	return max(0, now.Sub(time.UnixMilli(p.mu.covered))), true
}
