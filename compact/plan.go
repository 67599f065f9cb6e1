package compact

import (
	"math"
	"time"
)

// Policy is a compacted topic's cleaning settings.
type Policy struct {
	// MinDirtyRatio (min.cleanable.dirty.ratio): clean when the dirty
	// part is at least this fraction of the cleanable log.
	MinDirtyRatio float64
	// MinLag (min.compaction.lag.ms): a record stays uncompacted at least
	// this long.
	MinLag time.Duration
	// MaxLag (max.compaction.lag.ms): a log with dirty records older than
	// this is cleaned whatever its dirty ratio.
	MaxLag time.Duration
	// DeleteRetention (delete.retention.ms): tombstones and transaction
	// markers stay readable this long after they are first cleaned.
	DeleteRetention time.Duration
}

// Segment is what the plan needs to know of one segment.
type Segment struct {
	Base, Next   int64
	Size         int64
	MaxTimestamp int64 // -1 when unknown
	Sealed       bool
}

// Range is the part of a log a cleaning pass may work on.
type Range struct {
	// Start is the log start; FirstDirty the first offset no pass has
	// deduplicated yet; End the first offset no pass may touch (the
	// active segment, the last stable offset, the min lag).
	Start, FirstDirty, End int64
	// CleanBytes and DirtyBytes size [Start, FirstDirty) and
	// [FirstDirty, End) by whole segments.
	CleanBytes, DirtyBytes int64
	// DirtySegments are the segments in [FirstDirty, End).
	DirtySegments int
	// NextHorizon, set by the caller from the last pass's Stats, is the
	// earliest delete horizon of a tombstone or marker still in the log
	// (0: none known): once it passes, a pass removes them even with no
	// dirty data.
	NextHorizon int64
}

// Ratio is the dirty fraction of the cleanable log.
func (r Range) Ratio() float64 {
	if r.CleanBytes+r.DirtyBytes == 0 {
		return 0
	}
	return float64(r.DirtyBytes) / float64(r.CleanBytes+r.DirtyBytes)
}

// Cleanable works out the range of segs (oldest first) a pass may clean.
// firstDirty is where the last pass stopped (the log start if none);
// stable is the offset below which every record is decided (the minimum
// of the high watermark and the last stable offset). A segment is
// cleanable when it is sealed, wholly below stable and, with MinLag, its
// newest record is older than MinLag.
func Cleanable(segs []Segment, firstDirty, stable int64, now time.Time, p Policy) Range {
	if len(segs) == 0 {
		return Range{}
	}
	r := Range{Start: segs[0].Base}
	r.End = r.Start
	lagLimit := int64(math.MaxInt64)
	if p.MinLag > 0 {
		lagLimit = now.Add(-p.MinLag).UnixMilli()
	}
	for _, s := range segs {
		if !s.Sealed || s.Next > stable || s.MaxTimestamp > lagLimit {
			break
		}
		r.End = s.Next
	}
	r.FirstDirty = min(max(firstDirty, r.Start), r.End)
	for _, s := range segs {
		if s.Base >= r.End {
			break
		}
		if s.Next <= r.FirstDirty {
			r.CleanBytes += s.Size
		} else {
			r.DirtyBytes += s.Size
			r.DirtySegments++
		}
	}
	return r
}

// Due reports whether the range should be cleaned now, and why: a kept
// tombstone's delete horizon passed, the dirty ratio reached
// MinDirtyRatio, or a dirty segment is older than MaxLag.
func Due(r Range, segs []Segment, now time.Time, p Policy) (bool, string) {
	if r.NextHorizon > 0 && now.UnixMilli() >= r.NextHorizon && r.End > r.Start {
		return true, "delete horizon"
	}
	if r.DirtyBytes == 0 || r.FirstDirty >= r.End {
		return false, ""
	}
	if r.Ratio() >= p.MinDirtyRatio {
		return true, "dirty ratio"
	}
	if p.MaxLag > 0 && p.MaxLag < time.Duration(math.MaxInt64) {
		old := now.Add(-p.MaxLag).UnixMilli()
		for _, s := range segs {
			if s.Base >= r.End {
				break
			}
			if s.Next > r.FirstDirty && s.MaxTimestamp >= 0 && s.MaxTimestamp <= old {
				return true, "max compaction lag"
			}
		}
	}
	return false, ""
}
