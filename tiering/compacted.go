package tiering

import (
	"context"
	"errors"
	"fmt"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/storage"
)

// Compacted topics in the cold tier. The log cleaner compacts the local
// log; ReplaceCleaned carries a cleaned segment to the store: it uploads
// the local copy as a new object and commits it as the next generation of
// the segment's manifest entry (written only if absent, the fence Repair
// uses), so the store's copy of a compacted topic is compacted too. The
// old object is an orphan from then on and the collector deletes it once
// OrphanGrace has passed since the replacement (not since the old upload),
// so cold reads already holding it finish.

// ErrNotReplaced: the cleaned segment was not uploaded (not the leader, no
// remote segment with exactly its range, not smaller by enough, or another
// broker replaced it first).
var ErrNotReplaced = errors.New("cleaned segment not uploaded")

// ReplaceCleaned replaces the remote copy of seg, a sealed local segment
// the cleaner rewrote, with seg itself, when this broker leads the
// partition and seg's bytes are at most (1-minSaving) of the remote
// copy's. It returns the bytes uploaded and saved, or an error wrapping
// ErrNotReplaced when it did nothing.
func (p *Partition) ReplaceCleaned(ctx context.Context, seg storage.SegmentInfo, minSaving float64) (uploaded, saved int64, err error) {
	if !p.src.IsLeader() {
		return 0, 0, fmt.Errorf("%w: not the leader", ErrNotReplaced)
	}
	cur, found, err := p.man.Find(seg.BaseOffset)
	if err != nil {
		return 0, 0, err
	}
	if ok, why := worthReplacing(cur, found, seg, minSaving); !ok {
		return 0, 0, fmt.Errorf("%w: %s", ErrNotReplaced, why)
	}
	p.mu.Lock()
	if p.mu.repairing || p.mu.detached {
		p.mu.Unlock()
		return 0, 0, fmt.Errorf("%w: a repair is running", ErrNotReplaced)
	}
	p.mu.repairing = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.mu.repairing = false
		p.mu.Unlock()
	}()
	old, err := p.remoteEntry(ctx, cur)
	if err != nil {
		return 0, 0, err
	}
	entry, err := p.putSegment(ctx, seg, seg.BaseOffset)
	if errors.Is(err, ErrCorruptLocal) {
		p.reportLocalCorrupt(seg, err)
		return 0, 0, err
	}
	if err != nil {
		return 0, 0, err
	}
	entry.Repair = old.Repair + 1
	newKey := segmentKey(p.root, seg.BaseOffset, entry.UploadID)
	cctx, cancel := context.WithTimeout(ctx, p.m.cfg.RequestTimeout)
	defer cancel()
	err = p.commitGeneration(cctx, entry)
	if errors.Is(err, objectstore.ErrPreconditionFailed) {
		// Another broker (a repair, or a newer leader's cleaner)
		// committed this generation first.
		_ = p.m.store.Delete(cctx, newKey)
		return 0, 0, fmt.Errorf("%w: generation %d at %d committed by another broker", ErrNotReplaced, entry.Repair, seg.BaseOffset)
	}
	if err != nil {
		_ = p.m.store.Delete(cctx, newKey)
		return 0, 0, fmt.Errorf("committing the cleaned entry at %d: %w", seg.BaseOffset, err)
	}
	if err := p.man.ReplaceCleaned(entry); err != nil {
		return 0, 0, err
	}
	p.m.entries.put(newKey, entry)
	p.m.metrics.compactRewrites.Inc()
	p.m.metrics.compactBytes.Add(float64(entry.ObjectSize()))
	p.m.metrics.compactSaved.Add(float64(cur.Size - entry.Size))
	p.m.log.Debug("remote segment replaced by its cleaned copy", "partition", p.id, "base", seg.BaseOffset,
		"next", seg.NextOffset, "was", cur.Size, "now", entry.Size, "generation", entry.Repair)
	return entry.ObjectSize(), cur.Size - entry.Size, nil
}

// worthReplacing decides whether the cleaned local segment seg should
// replace the remote segment cur (found by seg's base): only a remote
// segment with exactly seg's range, and only when seg is smaller by at
// least minSaving of it.
func worthReplacing(cur Segment, found bool, seg storage.SegmentInfo, minSaving float64) (bool, string) {
	switch {
	case !seg.Sealed:
		return false, "the local segment is active"
	case !found || cur.BaseOffset != seg.BaseOffset || cur.NextOffset != seg.NextOffset:
		return false, fmt.Sprintf("no remote segment holds exactly [%d, %d)", seg.BaseOffset, seg.NextOffset)
	case seg.Size <= 0:
		return false, "the local segment is empty"
	case float64(cur.Size-seg.Size) < minSaving*float64(cur.Size) || seg.Size >= cur.Size:
		return false, fmt.Sprintf("%d bytes against %d remote: saves less than %.0f%%", seg.Size, cur.Size, 100*minSaving)
	}
	return true, ""
}
