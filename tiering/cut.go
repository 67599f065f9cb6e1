package tiering

import (
	"sort"
)

// A consistent cut of the cold tier: one wall-clock instant C at which
// every partition's offset is known, so that a cluster restored to those
// offsets holds exactly what every partition held at C — a committed
// consumer offset never points past the records it counted, an output
// written after C is never kept while the input it came from is dropped.
//
// Leaders roll their tiered partitions at every multiple of
// remote.log.segment.upload.max.interval.ms of wall-clock time
// (storage.Config.RollInterval), so the instants are the same on every
// broker, and each instant's offset is a segment boundary. A leader learns
// a partition's offset at each instant (storage.Log.TickBoundary) and, once
// the store holds everything below it, records it: in the manifest entry
// of the segment the instant sealed (sealed_tick_ms) and in its progress
// object (`_progress/<node id>`), which also covers partitions that
// received nothing (their offset did not move).

// Span says a partition's log end offset was Offset at every roll instant
// from From to To (unix ms, inclusive), as told by a leader of Epoch.
type Span struct {
	From   int64 `json:"from_ms"`
	To     int64 `json:"to_ms"`
	Offset int64 `json:"offset"`
	Epoch  int32 `json:"leader_epoch"`
}

// CutInput is what the store tells about one partition.
type CutInput struct {
	ID ID
	// RemoteEmpty, RemoteStart and RemoteEnd are the bounds of the
	// partition's committed remote chain.
	RemoteEmpty            bool
	RemoteStart, RemoteEnd int64
	// Spans come from manifest entries (one instant each) and progress
	// objects, in any order.
	Spans []Span
	// Offline: no broker could have written to the partition after its
	// last span (it has no live replica in the metadata), so its offset
	// then holds for any later instant.
	Offline bool
}

// PartitionCut is one partition's place in a cut.
type PartitionCut struct {
	ID ID
	// Offset is where the restored log ends: every remote record below it
	// is kept, every one at or past it is dropped.
	Offset    int64
	RemoteEnd int64
	// Dropped is the number of offsets in the store past the cut.
	Dropped int64
	// Exact is false when the partition's offset at the instant is not
	// known and the cut keeps its whole remote chain instead.
	Exact bool
}

// Cut is a chosen instant and every partition's offset at it.
type Cut struct {
	// Tick is the instant (unix ms); 0 when no partition told one.
	Tick int64
	// Consistent is true when every partition's offset at Tick is known.
	Consistent bool
	Partitions []PartitionCut
}

// ChooseCut picks the latest instant at which every partition's offset is
// known. When there is none (a partition whose leader stopped telling
// without being marked offline, or only data uploaded before instants were
// recorded), it picks the latest instant most partitions know, keeps the
// whole remote chain of the others and reports the cut as not consistent.
func ChooseCut(in []CutInput) Cut {
	parts := make([]cutPart, len(in))
	upper := int64(-1) // the latest instant every constrained partition reaches
	var candidates []int64
	for i, c := range in {
		p := cutPart{CutInput: c}
		p.spans = append([]Span(nil), c.Spans...)
		// Highest epoch first, then latest: a deposed leader's word gives
		// way to its successor's for the same instant.
		sort.Slice(p.spans, func(a, b int) bool {
			if p.spans[a].Epoch != p.spans[b].Epoch {
				return p.spans[a].Epoch > p.spans[b].Epoch
			}
			return p.spans[a].To > p.spans[b].To
		})
		last := int64(-1)
		for _, s := range p.spans {
			if s.Offset > c.RemoteEnd && !(c.RemoteEmpty && s.Offset <= c.RemoteStart) {
				continue // the store no longer holds it: not usable
			}
			candidates = append(candidates, s.To, s.From)
			last = max(last, s.To)
		}
		p.last = last
		parts[i] = p
		if last >= 0 && !c.Offline && (upper < 0 || last < upper) {
			upper = last
		}
	}
	if upper < 0 {
		for _, p := range parts {
			upper = max(upper, p.last)
		}
	}
	sort.Slice(candidates, func(a, b int) bool { return candidates[a] > candidates[b] })
	out := Cut{}
	best, bestKnown := int64(0), -1
	tried := 0
	for i, t := range candidates {
		if t > upper || (i > 0 && t == candidates[i-1]) {
			continue
		}
		// The latest instants are the ones worth a cut; an older one
		// would drop more than it saves.
		if tried++; tried > maxCutCandidates {
			break
		}
		known := 0
		for _, p := range parts {
			if _, ok := p.at(t); ok {
				known++
			}
		}
		if known > bestKnown {
			best, bestKnown = t, known
		}
		if known == len(parts) {
			break
		}
	}
	out.Tick = best
	out.Consistent = bestKnown == len(parts) || len(parts) == 0
	for _, p := range parts {
		pc := PartitionCut{ID: p.ID, RemoteEnd: p.RemoteEnd, Offset: p.RemoteEnd}
		if p.RemoteEmpty {
			pc.RemoteEnd, pc.Offset = p.RemoteStart, p.RemoteStart
		}
		if off, ok := p.at(best); ok && best > 0 {
			pc.Offset, pc.Exact = off, true
		} else if len(p.spans) == 0 && p.RemoteEmpty {
			pc.Exact = true // never written, as far as the store knows
		}
		pc.Dropped = max(0, pc.RemoteEnd-pc.Offset)
		out.Partitions = append(out.Partitions, pc)
	}
	return out
}

// maxCutCandidates bounds the instants ChooseCut tries, newest first.
const maxCutCandidates = 4096

type cutPart struct {
	CutInput
	spans []Span // highest epoch first
	last  int64  // latest usable instant, -1 when none
}

// at returns the partition's offset at instant t, if known.
func (p cutPart) at(t int64) (int64, bool) {
	if len(p.spans) == 0 {
		// Nothing told: only a partition the store never held anything of
		// is known (to be empty).
		return p.RemoteStart, p.RemoteEmpty
	}
	usable := func(s Span) bool {
		return s.Offset <= p.RemoteEnd || p.RemoteEmpty && s.Offset <= p.RemoteStart
	}
	var lastSpan *Span
	for i := range p.spans {
		s := &p.spans[i]
		if !usable(*s) {
			continue
		}
		if s.From <= t && t <= s.To {
			return s.Offset, true
		}
		if lastSpan == nil || s.To > lastSpan.To {
			lastSpan = s
		}
	}
	if p.Offline && lastSpan != nil && t >= lastSpan.To {
		// Nothing was written after the partition lost its last replica:
		// what the store holds is all there was.
		if p.RemoteEmpty {
			return p.RemoteStart, true
		}
		return p.RemoteEnd, true
	}
	return 0, false
}
