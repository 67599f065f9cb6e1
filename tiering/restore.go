package tiering

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/record"
)

// What a restore from the bucket needs of a partition's remote data,
// without a manager (docs/restore.md).

// RemoteChain reads a partition's committed remote chain as a broker
// would rebuild its manifest from it (newest generation of each entry,
// overlapping leftovers skipped), with the published log start (-1 when
// none).
func RemoteChain(ctx context.Context, store objectstore.Store, prefix string, id ID) (chain []Segment, logStart int64, err error) {
	p := &Partition{m: &Manager{store: store, entries: newEntryCache(64)}, id: id, root: partitionRoot(prefix, id)}
	if chain, err = p.storeChain(ctx, nil); err != nil {
		return nil, -1, fmt.Errorf("listing the remote segments of %s: %w", id, err)
	}
	if logStart, err = p.fetchLogStart(ctx); err != nil {
		return nil, -1, fmt.Errorf("reading the log start of %s: %w", id, err)
	}
	return chain, logStart, nil
}

// DropRemoteFrom removes from the chain every committed segment at or past
// offset, so a broker restored with its log ending at offset uploads its
// own segments there: each entry is first copied under
// restore-dropped/<tag>/ beside the manifest (what was dropped stays
// listed), then its manifest keys (every generation) are deleted. The data
// objects are left to the collector (remote.orphan.grace.ms). It returns
// the entries dropped.
func DropRemoteFrom(ctx context.Context, store objectstore.Store, prefix string, id ID, offset int64, tag string) (int, error) {
	p := &Partition{m: &Manager{store: store}, id: id, root: partitionRoot(prefix, id)}
	bases, latest, gens, err := p.listEntries(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, b := range bases {
		if b < offset {
			continue
		}
		rc, err := store.GetRange(ctx, latest[b], 0, -1)
		if err != nil {
			return n, err
		}
		body, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return n, err
		}
		key := fmt.Sprintf("%srestore-dropped/%s/%020d", p.root, tag, b)
		if _, err := store.Put(ctx, key, bytes.NewReader(body), int64(len(body)), objectstore.PutOptions{}); err != nil {
			return n, err
		}
		for g := gens[b]; g >= 1; g-- {
			if err := store.Delete(ctx, repairKey(p.root, b, g)); err != nil {
				return n, err
			}
		}
		if err := store.Delete(ctx, manifestKey(p.root, b)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// OpenSegmentLog returns a reader of a remote segment's record batches
// (the .log part of its data object).
func OpenSegmentLog(ctx context.Context, store objectstore.Store, prefix string, id ID, s Segment) (io.ReadCloser, error) {
	return store.GetRange(ctx, SegmentObjectKey(prefix, id, s), 0, s.Size)
}

// keepsAllLocal reports whether the policy keeps every uploaded segment on
// local disk too (local retention unbounded in time and size).
func keepsAllLocal(p Policy) bool {
	ms, b := p.EffectiveLocal()
	return p.RemoteEnabled && ms < 0 && b < 0
}

// hydrate copies the whole remote chain into an empty local log, from
// remote start to remote end: a partition whose topic keeps everything on
// local disk (the internal topics, whose coordinators load them from it)
// comes back whole after a restore or on a new disk. Batches are checked
// (record.ValidateStored) and appended at their own offsets, then synced.
func (p *Partition) hydrate(ctx context.Context, l LocalLog, start int64) (int64, error) {
	if l.StartOffset() != start {
		if err := l.ResetEmpty(start); err != nil {
			return 0, err
		}
	}
	var segs []Segment
	if err := p.man.Scan(func(s Segment) bool { segs = append(segs, s); return true }); err != nil {
		return 0, err
	}
	var copied int64
	for _, s := range segs {
		n, err := p.hydrateSegment(ctx, l, s)
		copied += n
		if err != nil {
			return copied, err
		}
	}
	return copied, l.Sync()
}

// hydrateSegment appends one remote segment's batches to the local log,
// reading the object in chunks of whole batches.
func (p *Partition) hydrateSegment(ctx context.Context, l LocalLog, s Segment) (int64, error) {
	if s.NextOffset <= l.EndOffset() {
		return 0, nil
	}
	rc, err := OpenSegmentLog(ctx, p.m.store, p.m.cfg.Prefix, p.id, s)
	if err != nil {
		return 0, fmt.Errorf("reading remote segment %d of %s: %w", s.BaseOffset, p.id, err)
	}
	defer rc.Close()
	const chunk = 4 << 20
	var buf []byte
	var copied int64
	eof := false
	for !eof || len(buf) > 0 {
		if !eof && len(buf) < chunk {
			tmp := make([]byte, chunk)
			n, err := io.ReadFull(rc, tmp)
			buf = append(buf, tmp[:n]...)
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				eof = true
			} else if err != nil {
				return copied, fmt.Errorf("reading remote segment %d of %s: %w", s.BaseOffset, p.id, err)
			}
		}
		whole := wholeBatches(buf)
		if whole == 0 {
			if eof {
				return copied, fmt.Errorf("%w: remote segment %d of %s ends inside a batch", ErrCorruptManifest, s.BaseOffset, p.id)
			}
			continue
		}
		hdrs, err := record.ValidateStored(buf[:whole])
		if err != nil {
			return copied, fmt.Errorf("%w: remote segment %d of %s: %v", ErrCorruptManifest, s.BaseOffset, p.id, err)
		}
		// Skip what the local log already holds (a hydration cut short).
		i, skip := 0, 0
		for i < len(hdrs) && hdrs[i].NextOffset() <= l.EndOffset() {
			skip += hdrs[i].Size()
			i++
		}
		if i < len(hdrs) {
			if _, err := l.AppendReplica(buf[skip:whole], hdrs[i:]); err != nil {
				return copied, fmt.Errorf("hydrating %s: %w", p.id, err)
			}
			copied += int64(whole - skip)
		}
		buf = append(buf[:0], buf[whole:]...)
	}
	return copied, nil
}

// wholeBatches returns the length of the longest prefix of b made of whole
// v2 batches (each: base offset 8 bytes, batch length 4 bytes, then that
// many bytes).
func wholeBatches(b []byte) int {
	n := 0
	for len(b)-n >= 12 {
		size := 12 + int(int32(binary.BigEndian.Uint32(b[n+8:])))
		if size < 12 || n+size > len(b) {
			break
		}
		n += size
	}
	return n
}
