package replica

import (
	"slices"
	"time"
)

// Unknown is the log end offset of a follower that has not fetched since
// the leader took over.
const Unknown int64 = -1

// Follower is the leader's view of one follower.
type Follower struct {
	ID int32
	// LEO is the follower's log end offset as its last fetch reported it
	// (the offset it fetched from), or Unknown.
	LEO int64
	// LastCaughtUp is the last time the follower was known to have every
	// record the leader had.
	LastCaughtUp time.Time
	// The leader's log end offset and the time of the follower's previous
	// fetch, for Kafka's caught-up rule.
	lastFetchLeaderLEO int64
	lastFetchTime      time.Time
	added              time.Time // when the tracker started following it
}

// Tracker is a leader's state of its followers. It is not safe for
// concurrent use.
type Tracker struct {
	self      int32
	followers map[int32]*Follower
}

// NewTracker starts tracking the followers among replicas for a leader that
// took over at now. ISR members count as caught up at now (they were in
// sync when the leader was elected), so a new leader does not shrink its
// ISR before followers had replica.lag.time.max.ms to fetch.
func NewTracker(self int32, replicas []int32, now time.Time) *Tracker {
	t := &Tracker{self: self, followers: map[int32]*Follower{}}
	t.SetReplicas(replicas, now)
	return t
}

// SetReplicas follows a change of the replica set: new followers start
// unknown, removed ones are forgotten.
func (t *Tracker) SetReplicas(replicas []int32, now time.Time) {
	for id := range t.followers {
		if !slices.Contains(replicas, id) {
			delete(t.followers, id)
		}
	}
	for _, id := range replicas {
		if id == t.self {
			continue
		}
		if _, ok := t.followers[id]; !ok {
			t.followers[id] = &Follower{ID: id, LEO: Unknown, LastCaughtUp: now, lastFetchLeaderLEO: Unknown, added: now}
		}
	}
}

// Follower returns the state of follower id, or nil if it is not a
// follower of this partition.
func (t *Tracker) Follower(id int32) *Follower { return t.followers[id] }

// OnFetch records a fetch by follower id at fetchOffset, answered while the
// leader's log end offset was leaderLEO. It reports false for a broker that
// is not a follower of this partition.
func (t *Tracker) OnFetch(id int32, fetchOffset, leaderLEO int64, now time.Time) bool {
	f := t.followers[id]
	if f == nil {
		return false
	}
	f.LEO = fetchOffset
	switch {
	case fetchOffset >= leaderLEO:
		if now.After(f.LastCaughtUp) {
			f.LastCaughtUp = now
		}
	case f.lastFetchLeaderLEO != Unknown && fetchOffset >= f.lastFetchLeaderLEO:
		if f.lastFetchTime.After(f.LastCaughtUp) {
			f.LastCaughtUp = f.lastFetchTime
		}
	}
	f.lastFetchLeaderLEO, f.lastFetchTime = leaderLEO, now
	return true
}

// Stranded reports whether isr names followers and none of them has sent
// a fetch within timeout at now (one never heard from counts from when the
// tracker started following it). A leader whose in-sync followers have all
// gone quiet cannot commit anything; if it has also lost its lease with the
// controller, it is most likely cut off from a majority that has elected
// another leader, and should stop taking writes (the caller decides).
func (t *Tracker) Stranded(isr []int32, now time.Time, timeout time.Duration) bool {
	others := false
	for _, id := range isr {
		f := t.followers[id]
		if id == t.self || f == nil {
			continue
		}
		others = true
		last := f.lastFetchTime
		if last.IsZero() {
			last = f.added
		}
		if now.Sub(last) <= timeout {
			return false
		}
	}
	return others
}

// HighWatermark returns the high watermark the ISR supports: the lowest log
// end offset over the ISR, with the leader's own taken as leaderDurable
// (the offset it has made durable, or its log end offset when acknowledged
// writes need not be fsynced). ok is false when the high watermark must
// not advance: the ISR has fewer than minISR members, or an ISR follower's
// offset is unknown. The caller never moves the high watermark backwards.
func (t *Tracker) HighWatermark(isr []int32, leaderDurable int64, minISR int) (hw int64, ok bool) {
	if len(isr) < minISR {
		return 0, false
	}
	hw = leaderDurable
	for _, id := range isr {
		if id == t.self {
			continue
		}
		f := t.followers[id]
		if f == nil || f.LEO == Unknown {
			return 0, false
		}
		hw = min(hw, f.LEO)
	}
	return hw, true
}

// ISRChange returns the ISR the leader should ask for at now, and whether
// it differs from isr. A follower in the ISR leaves it when it has not been
// caught up for lagMax; one outside joins it when its log end offset is at
// least hw and epochStart (the first offset of the current leader epoch,
// so it has the new leader's history), unless ineligible reports it (a
// broker the controller has fenced or that is shutting down may not join:
// Kafka's KIP-841; an acks=all write would wait on a replica about to
// stop). The leader always stays; the order of replicas is kept.
func (t *Tracker) ISRChange(replicas, isr []int32, hw, epochStart int64, now time.Time, lagMax time.Duration, ineligible func(id int32) bool) ([]int32, bool) {
	out := make([]int32, 0, len(replicas))
	changed := false
	for _, id := range replicas {
		in := slices.Contains(isr, id)
		if id == t.self {
			out = append(out, id)
			changed = changed || !in
			continue
		}
		f := t.followers[id]
		switch {
		case f == nil:
			if in {
				out = append(out, id) // not tracked: leave as it is
			}
		case in && now.Sub(f.LastCaughtUp) > lagMax:
			changed = true
		case in:
			out = append(out, id)
		case f.LEO != Unknown && f.LEO >= hw && f.LEO >= epochStart && (ineligible == nil || !ineligible(id)):
			out = append(out, id)
			changed = true
		}
	}
	return out, changed
}

// Truncation is the follower's step of KIP-101/279. The follower asked its
// leader for the end of its own latest epoch, asked; the leader answered
// with the largest epoch it has at or below asked, leaderEpoch, and where
// that epoch ends in its log, leaderEnd. ownEnd gives, for an epoch, the
// largest epoch at or below it in the follower's cache and the offset
// where that one ends in the follower's log (the next epoch's start, or
// the log end); leo is the follower's log end offset.
//
// It returns the offset to truncate to (leo when nothing needs cutting) and
// whether to ask again with the follower's new latest epoch: when the
// leader does not know asked, the follower's log is cut back to the end
// of the epoch they share, and the epoch before that must be checked too.
func Truncation(leo int64, ownEnd func(epoch int32) (int32, int64), asked, leaderEpoch int32, leaderEnd int64) (offset int64, again bool) {
	if leaderEpoch < 0 || leaderEnd < 0 {
		// The leader has no epoch at or below asked: nothing the
		// follower holds from those epochs is in the leader's log.
		return 0, false
	}
	if leaderEpoch == asked {
		return min(leo, leaderEnd), false
	}
	// The leader's log went on under other epochs after leaderEpoch:
	// keep what the two logs share of it.
	e, end := ownEnd(leaderEpoch)
	if e != leaderEpoch {
		// The follower never had leaderEpoch: cut to the end of its own
		// largest epoch below, then ask again.
		return min(leo, end, leaderEnd), true
	}
	return min(leo, end, leaderEnd), false
}
