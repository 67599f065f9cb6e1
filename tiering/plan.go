package tiering

import (
	"time"

	"github.com/stratalog/strata/storage"
)

// The decisions of the tiering layer are pure functions of a partition's
// state, so they are tested without disks or networks; Manager executes
// them.

// Policy is a partition's tiering configuration, resolved from its topic
// configs. Negative retentions are infinite; a local retention of
// FollowTotal uses the total one.
type Policy struct {
	RemoteEnabled       bool
	RetentionMs         int64
	RetentionBytes      int64
	LocalRetentionMs    int64
	LocalRetentionBytes int64
}

// FollowTotal is the local.retention.* value that means "the same as
// retention.*" (Kafka's -2).
const FollowTotal = -2

// EffectiveLocal returns the local retentions with FollowTotal resolved.
func (p Policy) EffectiveLocal() (ms, bytes int64) {
	ms, bytes = p.LocalRetentionMs, p.LocalRetentionBytes
	if ms == FollowTotal {
		ms = p.RetentionMs
	}
	if bytes == FollowTotal {
		bytes = p.RetentionBytes
	}
	// The hot tail never outlives the log.
	if p.RetentionMs >= 0 && (ms < 0 || ms > p.RetentionMs) {
		ms = p.RetentionMs
	}
	if p.RetentionBytes >= 0 && (bytes < 0 || bytes > p.RetentionBytes) {
		bytes = p.RetentionBytes
	}
	return ms, bytes
}

// State is what the planner knows about one partition.
type State struct {
	Now           time.Time
	Policy        Policy
	Local         []storage.SegmentInfo // oldest first; the last is active
	HighWatermark int64
	// Remote describes the manifest: whether it has segments, their
	// offsets and bytes, and the oldest few (enough for one retention pass).
	RemoteEmpty bool
	RemoteStart int64
	RemoteEnd   int64
	RemoteBytes int64
	RemoteHead  []Segment
	// LogStart is the log start set by DeleteRecords (-1 when none):
	// remote segments wholly below it are deleted.
	LogStart             int64
	UploadInFlight       bool
	UploadBlockedUntil   time.Time
	RemoteDeleteInFlight bool
}

// Plan is what to do next for one partition.
type Plan struct {
	// Upload is the sealed local segment to upload next, if any, from
	// offset UploadFrom on: its base, or the remote end when the segment
	// straddles it (a replica that rolled its segments at other offsets
	// than the leader that uploaded before it).
	Upload     *storage.SegmentInfo
	UploadFrom int64
	// DeleteLocalBefore, when positive, is a segment boundary below which
	// every local segment is uploaded and past local retention.
	DeleteLocalBefore int64
	// DeleteRemote is how many of the oldest remote segments are past
	// total retention.
	DeleteRemote int
	// PendingSegments and PendingBytes are the sealed segments below the
	// high watermark not yet uploaded (the upload lag).
	PendingSegments int
	PendingBytes    int64
}

// PlanPartition decides the next actions for one partition.
func PlanPartition(s State) Plan {
	var p Plan
	if !s.Policy.RemoteEnabled {
		return p
	}
	remoteEnd := s.RemoteEnd
	if s.RemoteEmpty {
		remoteEnd = -1
	}
	// Uploads: sealed segments wholly below the high watermark, in order,
	// from the remote end on.
	for i := range s.Local {
		seg := &s.Local[i]
		if !seg.Sealed || seg.Size == 0 || seg.NextOffset > s.HighWatermark || seg.NextOffset <= remoteEnd {
			continue
		}
		from := seg.BaseOffset
		if from < remoteEnd {
			from = remoteEnd // straddles the remote end: upload the rest
		}
		p.PendingSegments++
		p.PendingBytes += seg.Size
		if p.Upload == nil && !s.UploadInFlight && !s.Now.Before(s.UploadBlockedUntil) {
			p.Upload, p.UploadFrom = seg, from
		}
	}
	p.DeleteLocalBefore = planLocalDeletion(s, remoteEnd)
	if !s.RemoteDeleteInFlight {
		p.DeleteRemote = planRemoteRetention(s)
	}
	return p
}

// planLocalDeletion returns the boundary below which local segments go:
// only segments committed remotely (next <= remote end) and below the high
// watermark (a follower's data above it may still be truncated), oldest
// first, while local retention (by time or size) says so.
func planLocalDeletion(s State, remoteEnd int64) int64 {
	ms, bytes := s.Policy.EffectiveLocal()
	if ms < 0 && bytes < 0 || len(s.Local) < 2 {
		return 0
	}
	var total int64
	for _, seg := range s.Local {
		total += seg.Size
	}
	cutoff := s.Now.UnixMilli() - ms
	boundary := int64(0)
	for _, seg := range s.Local[:len(s.Local)-1] {
		if !seg.Sealed || seg.NextOffset > remoteEnd || seg.NextOffset > s.HighWatermark {
			break
		}
		expired := ms >= 0 && seg.MaxTimestamp < cutoff
		oversize := bytes >= 0 && total-seg.Size >= bytes
		if !expired && !oversize {
			break
		}
		total -= seg.Size
		boundary = seg.NextOffset
	}
	return boundary
}

// planRemoteRetention returns how many of the oldest remote segments are
// past retention.ms or beyond retention.bytes of the whole log (remote and
// local). Only RemoteHead is considered; the loop comes back for more.
func planRemoteRetention(s State) int {
	if s.RemoteEmpty || len(s.RemoteHead) == 0 {
		return 0
	}
	var localOnly int64
	for _, seg := range s.Local {
		if seg.BaseOffset >= s.RemoteEnd {
			localOnly += seg.Size
		}
	}
	total := s.RemoteBytes + localOnly
	cutoff := s.Now.UnixMilli() - s.Policy.RetentionMs
	n := 0
	for _, seg := range s.RemoteHead {
		expired := s.Policy.RetentionMs >= 0 && seg.MaxTimestamp < cutoff
		oversize := s.Policy.RetentionBytes >= 0 && total-seg.Size >= s.Policy.RetentionBytes
		deleted := seg.NextOffset <= s.LogStart
		if !expired && !oversize && !deleted {
			break
		}
		total -= seg.Size
		n++
	}
	return n
}

// LogStartOffset is the partition's log start offset across tiers: the
// remote start when the remote part reaches the local one, else the local
// start.
func LogStartOffset(remoteEmpty bool, remoteStart, remoteEnd, localStart int64) int64 {
	if remoteEmpty || remoteEnd < localStart || remoteStart >= localStart {
		return localStart
	}
	return remoteStart
}

// PrefetchChunk names one chunk to fetch ahead: chunk Chunk of the
// Object-th object of the read-ahead window (0 is the object being read, 1
// the next remote segment, and so on).
type PrefetchChunk struct {
	Object int
	Chunk  int64
}

// PlanPrefetch returns the chunks to fetch ahead after a read that ended
// in chunk k of objects[0]. objects holds the chunk counts of the object
// being read and of the remote segments after it, in offset order. The
// window is the readAhead chunks after k; when the current object ends
// first, it continues with the next objects' chunks from their first, so
// a sequential reader crossing a segment boundary finds the next
// segment's chunks already cached instead of waiting for a GET. Chunks
// already cached take their place in the window but are not fetched.
func PlanPrefetch(k int64, objects []int64, readAhead int, cached func(object int, chunk int64) bool) []PrefetchChunk {
	var out []PrefetchChunk
	left := readAhead
	for o, i := 0, k+1; left > 0 && o < len(objects); {
		if i >= objects[o] {
			o, i = o+1, 0
			continue
		}
		if !cached(o, i) {
			out = append(out, PrefetchChunk{Object: o, Chunk: i})
		}
		i++
		left--
	}
	return out
}
