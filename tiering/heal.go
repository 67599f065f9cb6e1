package tiering

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/stratalog/strata/storage"
)

// ErrNotCovered: the remote log does not hold a damaged local range
// exactly (it was never uploaded, or the remote segment has other bounds),
// so it cannot be healed from the store.
var ErrNotCovered = errors.New("damaged range not held by the remote log")

// healer is what healing needs of a local log (*storage.Log implements it).
type healer interface {
	Damaged() []storage.Damage
	ReplaceSegment(base int64, path string) error
}

var _ healer = (*storage.Log)(nil)

// Covers reports whether the remote log holds offset (so a fetch the local
// log refuses as damaged can be served from the cold tier).
func (p *Partition) Covers(offset int64) bool {
	if offset < p.LogStartOffset() {
		return false
	}
	seg, ok, err := p.man.Find(offset)
	return err == nil && ok && seg.BaseOffset <= offset
}

// HealDamaged heals every damaged local segment the remote log holds
// exactly, and returns how many it healed. Ranges it cannot heal are
// reported in the error (ErrNotCovered for those the store lacks).
func (p *Partition) HealDamaged(ctx context.Context) (int, error) {
	h, ok := p.src.Log().(healer)
	if !ok {
		return 0, nil
	}
	healed := 0
	var errs []error
	for _, d := range h.Damaged() {
		if err := p.Heal(ctx, d); err != nil {
			if ctx.Err() != nil {
				return healed, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		healed++
	}
	return healed, errors.Join(errs...)
}

// Heal replaces a damaged local segment with the remote copy of the same
// range: the data part of the object is downloaded (through the fetch rate
// limit), every batch verified as it streams, and its CRC checked against
// the entry's, into a temporary file in the partition's directory, which
// storage.Log.ReplaceSegment verifies again and renames over the segment.
func (p *Partition) Heal(ctx context.Context, d storage.Damage) error {
	h, ok := p.src.Log().(healer)
	if !ok {
		return fmt.Errorf("%w: the local log cannot replace segments", ErrNotCovered)
	}
	seg, found, err := p.man.Find(d.Base)
	if err != nil {
		return err
	}
	if !found || seg.BaseOffset != d.Base || seg.NextOffset != d.Next {
		return fmt.Errorf("%w: local [%d, %d)", ErrNotCovered, d.Base, d.Next)
	}
	if l, lost := p.lostAt(seg.BaseOffset, time.Now()); lost {
		return fmt.Errorf("healing [%d, %d): %w", d.Base, d.Next, l.cause)
	}
	e, err := p.remoteEntry(ctx, seg)
	if err != nil {
		return err
	}
	key := segmentKey(p.root, seg.BaseOffset, seg.UploadID)
	tmp, err := os.CreateTemp(p.dir, fmt.Sprintf("%020d.heal-*.tmp", seg.BaseOffset))
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		_ = os.Remove(tmp.Name())
	}()
	rctx, cancel := context.WithTimeout(ctx, p.m.cfg.RequestTimeout+time.Duration(seg.Size/(1<<20))*time.Second)
	defer cancel()
	var crc uint32
	for attempt := 0; ; attempt++ {
		crc, err = p.download(rctx, tmp, key, seg)
		if err == nil && e.Checksums != nil && crc != e.Checksums.Log {
			err = fmt.Errorf("%w: %s: log part crc %08x, entry says %08x", ErrRemoteCorrupt, key, crc, e.Checksums.Log)
		}
		if err == nil || attempt > 0 || !errors.Is(err, ErrRemoteCorrupt) {
			break
		}
		if err := resetFile(tmp)(); err != nil {
			return err
		}
	}
	if err != nil {
		if errors.Is(err, ErrRemoteCorrupt) {
			return p.markLost(seg, err)
		}
		return fmt.Errorf("healing [%d, %d) from %s: %w", d.Base, d.Next, key, err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := h.ReplaceSegment(seg.BaseOffset, tmp.Name()); err != nil {
		return fmt.Errorf("healing [%d, %d): %w", d.Base, d.Next, err)
	}
	p.m.metrics.heals.Inc()
	p.m.log.Warn("damaged local segment healed from the store", "partition", p.id, "base", seg.BaseOffset, "next", seg.NextOffset, "object", key)
	return nil
}

// download streams the log part of seg's object into f through the batch
// verifier and returns its CRC-32C.
func (p *Partition) download(ctx context.Context, f *os.File, key string, seg Segment) (uint32, error) {
	rc, err := p.m.store.GetRange(ctx, key, 0, seg.Size)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrRemoteRead, err)
	}
	defer rc.Close()
	v := newBatchVerifier(&limitedReader{ctx: ctx, r: rc, l: p.m.downLimit}, seg.BaseOffset, seg.NextOffset, seg.Size, p.src.Log().Gaps())
	cw := &crcWriter{w: f, step: seg.Size}
	if _, err := copyChunk(cw, v); err != nil {
		if errors.Is(err, ErrCorruptLocal) {
			return 0, fmt.Errorf("%w: %s: %w", ErrRemoteCorrupt, key, err)
		}
		return 0, fmt.Errorf("%w: %w", ErrRemoteRead, err)
	}
	sum := cw.cur
	if len(cw.sums) > 0 {
		sum = cw.sums[0]
	}
	p.m.metrics.verifiedBytes.Add(float64(seg.Size))
	return sum, nil
}

// ScanRemote calls fn for each live remote segment in offset order until
// it returns false, reading the manifest in small batches so no lock is
// held while fn does I/O.
func (p *Partition) ScanRemote(fn func(Segment) bool) error {
	start, _, _, ok := p.man.Bounds()
	if !ok {
		return nil
	}
	off := start
	for {
		segs, err := p.man.From(off, 64)
		if err != nil || len(segs) == 0 {
			return err
		}
		for _, s := range segs {
			if !fn(s) {
				return nil
			}
			off = s.NextOffset
		}
	}
}
