package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"time"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
)

// ErrRemoteCorrupt: a remote object's bytes do not match the checksums its
// manifest entry recorded (or, for entries without checksums, a batch's own
// CRC), on two reads in a row. The range is not served; it is re-uploaded
// from the local log when that still holds it intact.
var ErrRemoteCorrupt = errors.New("remote segment corrupt")

// ErrRemoteLost: a committed remote range is corrupt or missing in the store
// and no intact local copy exists. It is never served; Kafka clients get
// CORRUPT_MESSAGE (see docs/tiering.md).
var ErrRemoteLost = errors.New("remote segment lost: corrupt or missing in the store and not on local disk")

// damageReporter is what uploads need of a local log to report a segment
// that failed verification (*storage.Log implements it).
type damageReporter interface {
	MarkDamaged(base int64, cause error)
}

// lostRecheck is how long a range found lost (or missing) is answered from
// memory before the store is asked again: an operator may restore an
// object, and a client retrying in a loop costs no GETs meanwhile.
const lostRecheck = 30 * time.Second

// lostRange is a remote range that must not be served.
type lostRange struct {
	base, next int64
	cause      error
	until      time.Time
}

// entryCache keeps the store's manifest entries of recently read remote
// objects (their checksums and repair generation), by object key.
type entryCache struct {
	mu    sync.Mutex
	max   int
	order []string
	m     map[string]Segment
}

func newEntryCache(max int) *entryCache { return &entryCache{max: max, m: map[string]Segment{}} }

func (c *entryCache) get(key string) (Segment, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *entryCache) put(key string, v Segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok {
		if len(c.order) >= c.max {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, key)
	}
	c.m[key] = v
}

// remoteEntry returns the store's manifest entry of seg's object (the local
// manifest keeps no checksums): the original entry, or the repair that
// points at this upload id.
func (p *Partition) remoteEntry(ctx context.Context, seg Segment) (Segment, error) {
	key := segmentKey(p.root, seg.BaseOffset, seg.UploadID)
	if e, ok := p.m.entries.get(key); ok {
		return e, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.m.cfg.RequestTimeout)
	defer cancel()
	e, err := p.fetchEntry(ctx, seg.BaseOffset)
	if err == nil && e.UploadID != seg.UploadID {
		e, err = p.fetchLatestEntry(ctx, seg.BaseOffset)
	}
	if err != nil {
		return Segment{}, fmt.Errorf("%w: manifest entry of %s: %w", ErrRemoteRead, key, err)
	}
	if e.UploadID != seg.UploadID || !e.sameRange(seg) {
		return Segment{}, fmt.Errorf("%w: manifest entry at %d names upload %x, local manifest %x", ErrRemoteRead, seg.BaseOffset, e.UploadID, seg.UploadID)
	}
	p.m.entries.put(key, e)
	return e, nil
}

// verifiedFill copies length bytes of the object at off into w, checking
// the chunk checksums when sums cover the range; a mismatch is read once
// more (a flipped bit in transit; reset empties w first) before it is
// reported as ErrRemoteCorrupt. Nothing is handed to a reader before the
// check passes: w is a cache fill's temporary file.
func (m *Manager) verifiedFill(ctx context.Context, f io.Writer, reset func() error, key string, off, length, objSize int64, sums *Checksums) (int64, error) {
	want, step, check := sums.chunkSums(off, length, objSize)
	for attempt := 0; ; attempt++ {
		m.metrics.fetchRequests.Inc()
		rc, err := m.store.GetRange(ctx, key, off, length)
		if err != nil {
			m.metrics.fetchErrors.Inc()
			return 0, fmt.Errorf("%w: %w", ErrRemoteRead, err)
		}
		var w io.Writer = f
		var cw *crcWriter
		if check {
			cw = &crcWriter{w: f, step: step}
			w = cw
		}
		n, err := copyChunk(w, &limitedReader{ctx: ctx, r: rc, l: m.downLimit})
		rc.Close()
		if err == nil && n != length {
			err = fmt.Errorf("short range read of %s: %d of %d bytes", key, n, length)
		}
		storeSaw := errors.Is(err, objectstore.ErrCorrupt) // the store's own checksum failed
		if err != nil && !storeSaw {
			m.metrics.fetchErrors.Inc()
			return 0, fmt.Errorf("%w: %w", ErrRemoteRead, err)
		}
		if !check && !storeSaw {
			return n, nil
		}
		bad := -1
		if storeSaw {
			bad = 0
		} else if bad = cw.mismatch(want); bad < 0 {
			m.metrics.verifiedBytes.Add(float64(n))
			return n, nil
		}
		m.metrics.checksumMismatches.Inc()
		if attempt > 0 {
			if storeSaw {
				return 0, fmt.Errorf("%w: %s bytes [%d, %d) (read twice): %w", ErrRemoteCorrupt, key, off, off+length, err)
			}
			return 0, fmt.Errorf("%w: %s bytes [%d, %d) do not match their checksum (read twice)", ErrRemoteCorrupt, key, off+int64(bad)*step, min(off+int64(bad+1)*step, objSize))
		}
		if err := reset(); err != nil {
			return 0, err
		}
	}
}

// resetFile empties a fill's temporary file for a second attempt.
func resetFile(f *os.File) func() error {
	return func() error {
		if err := f.Truncate(0); err != nil {
			return err
		}
		_, err := f.Seek(0, io.SeekStart)
		return err
	}
}

// crcWriter computes a CRC-32C per step bytes of what passes through.
type crcWriter struct {
	w    io.Writer
	step int64
	pos  int64
	cur  uint32
	sums []uint32
}

func (c *crcWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	b = b[:n]
	for len(b) > 0 {
		k := min(int64(len(b)), c.step-c.pos%c.step)
		c.cur = crc32.Update(c.cur, castagnoli, b[:k])
		c.pos += k
		b = b[k:]
		if c.pos%c.step == 0 {
			c.sums, c.cur = append(c.sums, c.cur), 0
		}
	}
	return n, err
}

// mismatch returns the index of the first block that differs from want, or
// -1 when all match.
func (c *crcWriter) mismatch(want []uint32) int {
	got := c.sums
	if c.pos%c.step != 0 {
		got = append(got, c.cur)
	}
	if len(got) != len(want) {
		return min(len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return i
		}
	}
	return -1
}

// checkBatchCRCs verifies each whole batch of b (the bytes a cold read is
// about to serve from an object whose entry has no usable checksums).
func checkBatchCRCs(b []byte) error {
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err == nil {
			err = record.CheckCRC(b, h)
		}
		if err != nil {
			return err
		}
		b = b[h.Size():]
	}
	return nil
}

// lostAt returns the lost range holding offset, if one is known.
func (p *Partition) lostAt(offset int64, now time.Time) (lostRange, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for base, l := range p.mu.lost {
		if offset >= l.base && offset < l.next {
			if now.After(l.until) {
				delete(p.mu.lost, base)
				return lostRange{}, false
			}
			return l, true
		}
	}
	return lostRange{}, false
}

// remoteFailed handles a cold read of seg that found its object corrupt
// (ErrRemoteCorrupt) or missing (objectstore.ErrNotFound) and returns the
// error the read reports: a repair is started when the local log still
// holds the segment; otherwise the range is lost.
func (p *Partition) remoteFailed(seg Segment, cause error) error {
	if errors.Is(cause, objectstore.ErrNotFound) {
		// Deleted by retention between the manifest lookup and the GET?
		if cur, ok, err := p.man.Find(seg.BaseOffset); err == nil && (!ok || cur.BaseOffset != seg.BaseOffset || cur.UploadID != seg.UploadID) {
			return fmt.Errorf("%w: %d (segment deleted meanwhile)", ErrOffsetOutOfRange, seg.BaseOffset)
		}
	}
	if p.localCopy(seg) != nil {
		p.startRepair(seg, cause)
		return fmt.Errorf("%w: repairing from the local log: %w", ErrRemoteRead, cause)
	}
	return p.markLost(seg, cause)
}

// markLost records seg's range as lost everywhere, reports it once, and
// returns the error reads of it get.
func (p *Partition) markLost(seg Segment, cause error) error {
	err := fmt.Errorf("%w: [%d, %d): %w", ErrRemoteLost, seg.BaseOffset, seg.NextOffset, cause)
	p.mu.Lock()
	if p.mu.lost == nil {
		p.mu.lost = map[int64]lostRange{}
	}
	_, known := p.mu.lost[seg.BaseOffset]
	p.mu.lost[seg.BaseOffset] = lostRange{base: seg.BaseOffset, next: seg.NextOffset, cause: err, until: time.Now().Add(lostRecheck)}
	first := !p.mu.reportedLost[seg.BaseOffset]
	if first {
		if p.mu.reportedLost == nil {
			p.mu.reportedLost = map[int64]bool{}
		}
		p.mu.reportedLost[seg.BaseOffset] = true
	}
	p.mu.Unlock()
	if first {
		p.m.log.Error("remote segment is corrupt or missing and no intact copy is on local disk: its records are not served",
			"partition", p.id, "base", seg.BaseOffset, "next", seg.NextOffset, "object", segmentKey(p.root, seg.BaseOffset, seg.UploadID), "err", cause)
	} else if !known {
		p.m.log.Debug("remote segment still lost", "partition", p.id, "base", seg.BaseOffset)
	}
	return err
}

// localCopy returns the sealed, undamaged local segment holding exactly
// seg's range, or ending where seg ends and starting before it (seg was
// uploaded as the tail of such a segment).
func (p *Partition) localCopy(seg Segment) *storage.SegmentInfo {
	for _, s := range p.src.Log().Segments() {
		exact := s.BaseOffset == seg.BaseOffset && s.Size == seg.Size
		if !s.Sealed || s.NextOffset != seg.NextOffset || !(exact || s.BaseOffset < seg.BaseOffset && s.Size > seg.Size) {
			continue
		}
		if h, ok := p.src.Log().(healer); ok {
			for _, d := range h.Damaged() {
				if d.Base == s.BaseOffset {
					return nil
				}
			}
		}
		return &s
	}
	return nil
}

// startRepair re-uploads seg from the local log in the background (one
// repair per partition at a time).
func (p *Partition) startRepair(seg Segment, cause error) {
	p.mu.Lock()
	if p.mu.repairing || p.mu.detached {
		p.mu.Unlock()
		return
	}
	p.mu.repairing = true
	p.mu.Unlock()
	p.m.log.Warn("remote segment corrupt; re-uploading it from the local log", "partition", p.id, "base", seg.BaseOffset, "err", cause)
	p.m.wg.Add(1)
	go p.runRepair(seg)
}

// runRepair re-uploads one corrupt remote segment.
func (p *Partition) runRepair(seg Segment) {
	defer p.m.wg.Done()
	defer func() {
		p.mu.Lock()
		p.mu.repairing = false
		p.mu.Unlock()
	}()
	if err := p.Repair(p.m.ctx, seg); err != nil && !errors.Is(err, context.Canceled) {
		p.m.log.Error("repairing remote segment", "partition", p.id, "base", seg.BaseOffset, "err", err)
	}
}

// Repair replaces the corrupt remote object of seg with a fresh upload of
// the local segment holding the same range (verified as it streams), and
// repoints the manifest at it: the repaired entry is written, only if
// absent, under the next repair generation's key (readers take the newest
// generation), then the local manifest's record is rewritten in place. The
// old object becomes an orphan for the collector. Without an intact local
// copy the range is marked lost (ErrRemoteLost).
func (p *Partition) Repair(ctx context.Context, seg Segment) error {
	local := p.localCopy(seg)
	if local == nil {
		return p.markLost(seg, fmt.Errorf("%w: no local copy", ErrRemoteCorrupt))
	}
	old, err := p.remoteEntry(ctx, seg)
	if err != nil {
		return err
	}
	entry, err := p.putSegment(ctx, *local, seg.BaseOffset)
	if errors.Is(err, ErrCorruptLocal) {
		p.reportLocalCorrupt(*local, err)
		return p.markLost(seg, err)
	}
	if err != nil {
		return err
	}
	entry.Repair = old.Repair + 1
	if !entry.sameRange(seg) {
		_ = p.m.store.Delete(ctx, segmentKey(p.root, seg.BaseOffset, entry.UploadID))
		return fmt.Errorf("%w: local segment [%d, %d) %d bytes no longer matches remote %d bytes", ErrDiverged, entry.BaseOffset, entry.NextOffset, entry.Size, seg.Size)
	}
	cctx, cancel := context.WithTimeout(ctx, p.m.cfg.RequestTimeout)
	defer cancel()
	newKey := segmentKey(p.root, seg.BaseOffset, entry.UploadID)
	err = p.commitGeneration(cctx, entry)
	if errors.Is(err, objectstore.ErrPreconditionFailed) {
		// Another broker repaired this generation first: adopt its entry.
		_ = p.m.store.Delete(cctx, newKey)
		if entry, err = p.fetchEntryKey(cctx, repairKey(p.root, seg.BaseOffset, entry.Repair)); err != nil {
			return err
		}
		if !entry.sameRange(seg) {
			return fmt.Errorf("%w: repaired entry at %d has another range", ErrDiverged, seg.BaseOffset)
		}
	} else if err != nil {
		return fmt.Errorf("committing the repaired entry at %d: %w", seg.BaseOffset, err)
	}
	if err := p.man.Replace(entry); err != nil {
		return err
	}
	oldKey := segmentKey(p.root, seg.BaseOffset, seg.UploadID)
	p.m.cache.dropObject(oldKey)
	p.m.entries.put(segmentKey(p.root, entry.BaseOffset, entry.UploadID), entry)
	p.mu.Lock()
	delete(p.mu.lost, seg.BaseOffset)
	delete(p.mu.reportedLost, seg.BaseOffset)
	p.mu.Unlock()
	p.m.metrics.repairs.Inc()
	p.m.log.Warn("remote segment repaired from the local log", "partition", p.id, "base", seg.BaseOffset, "next", seg.NextOffset,
		"generation", entry.Repair, "old_object", oldKey, "new_object", segmentKey(p.root, entry.BaseOffset, entry.UploadID))
	return nil
}

// commitGeneration writes entry (entry.Repair >= 1) under its
// generation's key, only if absent: the commit of a repaired or cleaned
// copy. Another broker's commit of the same generation first is
// objectstore.ErrPreconditionFailed.
func (p *Partition) commitGeneration(ctx context.Context, entry Segment) error {
	b, err := encodeEntry(entry)
	if err != nil {
		return err
	}
	_, err = p.m.store.Put(ctx, repairKey(p.root, entry.BaseOffset, entry.Repair), bytes.NewReader(b), int64(len(b)),
		objectstore.PutOptions{IfAbsent: true, ContentType: "application/json"})
	return err
}

// reportLocalCorrupt marks a local segment that failed verification as
// damaged in the local log (which then stops serving it) and reports it
// once: an ERROR line and strata_tier_local_corrupt_segments_total.
func (p *Partition) reportLocalCorrupt(seg storage.SegmentInfo, cause error) {
	if d, ok := p.src.Log().(damageReporter); ok {
		d.MarkDamaged(seg.BaseOffset, fmt.Errorf("%w: %w", storage.ErrCorruptSegment, cause))
	}
	p.mu.Lock()
	first := !p.mu.localCorrupt[seg.BaseOffset]
	if p.mu.localCorrupt == nil {
		p.mu.localCorrupt = map[int64]bool{}
	}
	p.mu.localCorrupt[seg.BaseOffset] = true
	p.mu.Unlock()
	if first {
		p.m.metrics.localCorrupt.Inc()
		p.m.log.Error("local segment failed verification and is not uploaded; it is marked damaged",
			"partition", p.id, "base", seg.BaseOffset, "next", seg.NextOffset, "path", seg.Path, "err", cause)
	}
}

// corruptCounts returns how many remote ranges of the partition are
// known lost and how many local segments failed verification.
func (p *Partition) corruptCounts() (lost, local int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.mu.reportedLost), len(p.mu.localCorrupt)
}

// VerifyRemote re-reads seg's data object and checks it against its
// checksums (for entries without them: every batch of the log part),
// through the fetch rate limit; it reports (and starts repairing) what it
// finds, like a cold read would. It returns the bytes checked.
func (p *Partition) VerifyRemote(ctx context.Context, seg Segment) (int64, error) {
	e, err := p.remoteEntry(ctx, seg)
	if err != nil {
		return 0, err
	}
	key := segmentKey(p.root, seg.BaseOffset, seg.UploadID)
	fail := func(checked int64, err error) (int64, error) {
		if errors.Is(err, ErrRemoteCorrupt) || errors.Is(err, objectstore.ErrNotFound) {
			return checked, p.remoteFailed(seg, err)
		}
		return checked, err
	}
	if e.Checksums == nil {
		rctx, cancel := context.WithTimeout(ctx, p.m.cfg.RequestTimeout+time.Duration(seg.Size/(1<<20))*time.Second)
		defer cancel()
		rc, err := p.m.store.GetRange(rctx, key, 0, seg.Size)
		if err != nil {
			return fail(0, err)
		}
		defer rc.Close()
		n, err := io.Copy(io.Discard, newBatchVerifier(&limitedReader{ctx: rctx, r: rc, l: p.m.downLimit}, seg.BaseOffset, seg.NextOffset, seg.Size, p.src.Log().Gaps()))
		if errors.Is(err, ErrCorruptLocal) {
			err = fmt.Errorf("%w: %s: %w", ErrRemoteCorrupt, key, err)
		}
		return fail(n, err)
	}
	c := e.Checksums.ChunkBytes
	var checked int64
	for off := int64(0); off < seg.ObjectSize(); off += c {
		n := min(c, seg.ObjectSize()-off)
		fctx, cancel := context.WithTimeout(ctx, p.m.cfg.RequestTimeout)
		_, err := p.m.verifiedFill(fctx, io.Discard, func() error { return nil }, key, off, n, seg.ObjectSize(), e.Checksums)
		cancel()
		if err != nil {
			return fail(checked, err)
		}
		checked += n
	}
	return checked, nil
}
