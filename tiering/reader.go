package tiering

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
)

// ErrOffsetOutOfRange: the offset is not in the remote part of the log.
var ErrOffsetOutOfRange = errors.New("offset not in the remote log")

// ErrRemoteRead: the store could not serve a cold read (it is retried by
// the client; the data is never guessed).
var ErrRemoteRead = errors.New("remote read failed")

// segReader reads one remote segment through the chunk cache, keeping the
// chunk files it opened so a read result can hand them to sendfile.
type segReader struct {
	p     *Partition
	seg   Segment
	key   string
	sums  *Checksums // the entry's checksums; nil for entries without them
	files map[int64]*os.File
}

// newSegReader reads seg; its manifest entry (with the checksums every
// chunk fill verifies against) comes from the store the first time.
func (p *Partition) newSegReader(ctx context.Context, seg Segment) (*segReader, error) {
	e, err := p.remoteEntry(ctx, seg)
	if err != nil {
		return nil, err
	}
	return &segReader{p: p, seg: seg, key: segmentKey(p.root, seg.BaseOffset, seg.UploadID), sums: e.Checksums, files: map[int64]*os.File{}}, nil
}

// chunksVerified reports whether every chunk fill of the object checks a
// checksum (the entry has them at a size the cache's chunks are made of);
// otherwise a read checks the CRC of each batch it serves.
func (r *segReader) chunksVerified() bool {
	c := r.sums
	return c != nil && c.ChunkBytes > 0 && r.p.m.cfg.ChunkBytes%c.ChunkBytes == 0
}

func (r *segReader) close() {
	for _, f := range r.files {
		f.Close()
	}
	r.files = nil
}

func (r *segReader) chunks() int64 {
	c := r.p.m.cfg.ChunkBytes
	return (r.seg.ObjectSize() + c - 1) / c
}

// chunk returns the open cache file of chunk k, fetching it if needed.
func (r *segReader) chunk(ctx context.Context, k int64) (*os.File, error) {
	if f, ok := r.files[k]; ok {
		return f, nil
	}
	f, err := r.p.m.cache.open(ctx, chunkKey{r.key, k}, r.p.m.chunkFiller(r.key, r.seg.ObjectSize(), k, r.sums))
	if err != nil {
		return nil, err
	}
	r.files[k] = f
	return f, nil
}

// warm fetches chunks [from, to] concurrently (each fill is bounded by the
// manager's fetch pool).
func (r *segReader) warm(ctx context.Context, from, to int64) error {
	to = min(to, r.chunks()-1)
	if from >= to {
		return nil
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for k := from; k <= to; k++ {
		if _, ok := r.files[k]; ok {
			continue
		}
		wg.Add(1)
		go func(k int64) {
			defer wg.Done()
			f, err := r.p.m.cache.open(ctx, chunkKey{r.key, k}, r.p.m.chunkFiller(r.key, r.seg.ObjectSize(), k, r.sums))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
				}
				return
			}
			if old, ok := r.files[k]; ok {
				old.Close()
			}
			r.files[k] = f
		}(k)
	}
	wg.Wait()
	return first
}

// readAt reads len(b) bytes of the object at off through the cache.
func (r *segReader) readAt(ctx context.Context, b []byte, off int64) error {
	c := r.p.m.cfg.ChunkBytes
	for len(b) > 0 {
		k := off / c
		f, err := r.chunk(ctx, k)
		if err != nil {
			return err
		}
		n, err := f.ReadAt(b[:min(int64(len(b)), (k+1)*c-off)], off-k*c)
		if n == 0 && err != nil {
			return fmt.Errorf("%w: reading cached chunk of %s: %v", ErrRemoteRead, r.key, err)
		}
		b, off = b[n:], off+int64(n)
	}
	return nil
}

// ranges returns the cache-file ranges covering [from, to) of the object.
func (r *segReader) ranges(ctx context.Context, from, to int64) ([]storage.Chunk, []*os.File, error) {
	c := r.p.m.cfg.ChunkBytes
	var out []storage.Chunk
	var files []*os.File
	for off := from; off < to; {
		k := off / c
		f, err := r.chunk(ctx, k)
		if err != nil {
			return nil, nil, err
		}
		// Each range gets its own descriptor: the reader's are closed
		// when it is done, the result's at Release.
		dup, err := os.Open(f.Name())
		if err != nil {
			// Evicted meanwhile: the reader's descriptor still works.
			delete(r.files, k)
			dup = f
		}
		end := min(to, (k+1)*c)
		out = append(out, storage.Chunk{File: dup, Pos: off - k*c, Len: end - off})
		files = append(files, dup)
		off = end
	}
	return out, files, nil
}

// dropChunks forgets the cached chunks of [from, to) (their bytes failed a
// check), so the next read fetches them again.
func (r *segReader) dropChunks(from, to int64) {
	c := r.p.m.cfg.ChunkBytes
	for k := from / c; k <= (to-1)/c; k++ {
		r.p.m.cache.drop(chunkKey{r.key, k})
	}
}

type idxEntry struct{ rel, pos uint32 }

// offsetIndex returns the segment's offset index, read from its object.
func (r *segReader) offsetIndex(ctx context.Context) ([]idxEntry, error) {
	if v, ok := r.p.m.indexes.get(r.key); ok {
		return v, nil
	}
	b := make([]byte, r.seg.IndexSize)
	if err := r.readAt(ctx, b, r.seg.Size); err != nil {
		return nil, err
	}
	out := make([]idxEntry, 0, len(b)/8)
	for i := 0; i+8 <= len(b); i += 8 {
		out = append(out, idxEntry{binary.BigEndian.Uint32(b[i:]), binary.BigEndian.Uint32(b[i+4:])})
	}
	r.p.m.indexes.put(r.key, out)
	return out, nil
}

// timeIndexLookup returns the relative offset to scan from for the first
// record with a timestamp >= ts.
func (r *segReader) timeIndexLookup(ctx context.Context, ts int64) (uint32, error) {
	b := make([]byte, r.seg.TimeIndexSize)
	if err := r.readAt(ctx, b, r.seg.Size+r.seg.IndexSize); err != nil {
		return 0, err
	}
	n := len(b) / 12
	i := sort.Search(n, func(i int) bool { return int64(binary.BigEndian.Uint64(b[i*12:])) >= ts })
	if i == 0 {
		return 0, nil
	}
	return binary.BigEndian.Uint32(b[(i-1)*12+8:]), nil
}

func lookupPos(idx []idxEntry, rel uint32) int64 {
	i := sort.Search(len(idx), func(i int) bool { return idx[i].rel > rel })
	if i == 0 {
		return 0
	}
	return int64(idx[i-1].pos)
}

// header reads the batch header at pos.
func (r *segReader) header(ctx context.Context, pos int64) (record.Header, error) {
	var b [record.HeaderSize]byte
	if pos+record.HeaderSize > r.seg.Size {
		return record.Header{}, fmt.Errorf("%w: batch header at %d past segment end %d", ErrCorruptManifest, pos, r.seg.Size)
	}
	if err := r.readAt(ctx, b[:], pos); err != nil {
		return record.Header{}, err
	}
	h, err := record.ParseHeader(b[:])
	if err != nil {
		return h, fmt.Errorf("remote segment %s at %d: %w", r.key, pos, err)
	}
	if pos+int64(h.Size()) > r.seg.Size {
		return h, fmt.Errorf("%w: batch at %d runs past segment end", ErrCorruptManifest, pos)
	}
	return h, nil
}

// Read returns whole batches of the remote log starting with the one that
// holds offset, up to maxBytes (at least one batch), from one remote
// segment, as ranges of chunk-cache files for sendfile. An offset in a gap
// between remote segments starts at the next segment.
//
// Every byte served was verified: chunk fills check the entry's checksums
// (entries without them: the CRC of each batch served is checked here). A
// range whose object is corrupt or missing is never served: the read fails
// with ErrRemoteRead while it is re-uploaded from the local log, or with
// ErrRemoteLost when no intact copy exists anywhere.
func (p *Partition) Read(ctx context.Context, offset int64, maxBytes int) (*storage.ReadResult, error) {
	seg, ok, err := p.man.Find(offset)
	if err != nil {
		return nil, err
	}
	if !ok || offset < p.LogStartOffset() {
		return nil, fmt.Errorf("%w: %d", ErrOffsetOutOfRange, offset)
	}
	offset = max(offset, seg.BaseOffset)
	if l, lost := p.lostAt(offset, time.Now()); lost {
		return nil, l.cause
	}
	rr, err := p.read(ctx, seg, offset, maxBytes)
	if err != nil && (errors.Is(err, ErrRemoteCorrupt) || errors.Is(err, objectstore.ErrNotFound)) {
		return nil, p.remoteFailed(seg, err)
	}
	return rr, err
}

func (p *Partition) read(ctx context.Context, seg Segment, offset int64, maxBytes int) (*storage.ReadResult, error) {
	r, err := p.newSegReader(ctx, seg)
	if err != nil {
		return nil, err
	}
	defer r.close()
	idx, err := r.offsetIndex(ctx)
	if err != nil {
		return nil, err
	}
	pos := lookupPos(idx, uint32(offset-seg.BaseOffset))
	c := p.m.cfg.ChunkBytes
	// Fetch the chunks this read will cover in parallel.
	_ = r.warm(ctx, pos/c, (pos+int64(maxBytes))/c)
	start, end := int64(-1), pos
	for end < seg.Size {
		h, err := r.header(ctx, end)
		if err != nil {
			return nil, err
		}
		size := int64(h.Size())
		if h.LastOffset() < offset {
			end += size
			continue
		}
		if start < 0 {
			start = end
		} else if end-start+size > int64(maxBytes) {
			break
		}
		end += size
	}
	if start < 0 {
		return storage.NewReadResult(nil, nil), nil
	}
	if !r.chunksVerified() {
		b := make([]byte, end-start)
		if err := r.readAt(ctx, b, start); err != nil {
			return nil, err
		}
		if err := checkBatchCRCs(b); err != nil {
			r.dropChunks(start, end)
			return nil, fmt.Errorf("%w: %s at %d: %w", ErrRemoteCorrupt, r.key, start, err)
		}
	}
	chunks, files, err := r.ranges(ctx, start, end)
	if err != nil {
		return nil, err
	}
	p.prefetch(r, end/c)
	p.m.metrics.fetchBytes.Add(float64(end - start))
	return storage.NewReadResult(chunks, func() {
		for _, f := range files {
			f.Close()
		}
	}), nil
}

// OffsetForTimestamp finds the first remote record at or after the log
// start whose timestamp is >= ts. found is false when no remote record is
// that recent (the caller then asks the local log).
func (p *Partition) OffsetForTimestamp(ctx context.Context, ts int64) (offset, timestamp int64, found bool, err error) {
	start := p.LogStartOffset()
	var seg Segment
	var have bool
	if err := p.man.Scan(func(s Segment) bool {
		if s.NextOffset > start && s.MaxTimestamp >= ts {
			seg, have = s, true
			return false
		}
		return true
	}); err != nil || !have {
		return -1, -1, false, err
	}
	if l, lost := p.lostAt(seg.BaseOffset, time.Now()); lost {
		return -1, -1, false, l.cause
	}
	r, err := p.newSegReader(ctx, seg)
	if err != nil {
		return -1, -1, false, err
	}
	defer r.close()
	rel, err := r.timeIndexLookup(ctx, ts)
	if err != nil {
		return -1, -1, false, err
	}
	idx, err := r.offsetIndex(ctx)
	if err != nil {
		return -1, -1, false, err
	}
	pos := lookupPos(idx, rel)
	for pos < seg.Size {
		h, err := r.header(ctx, pos)
		if err != nil {
			return -1, -1, false, err
		}
		if h.MaxTimestamp >= ts && h.LastOffset() >= start {
			b := make([]byte, h.Size())
			if err := r.readAt(ctx, b, pos); err != nil {
				return -1, -1, false, err
			}
			if err := record.CheckCRC(b, h); err != nil {
				return -1, -1, false, p.remoteFailed(seg, fmt.Errorf("%w: %s at %d: %w", ErrRemoteCorrupt, r.key, pos, err))
			}
			err = record.ForEachRecord(b, func(rec record.Record) bool {
				o, t := h.BaseOffset+int64(rec.OffsetDelta), h.RecordTimestamp(rec)
				if o >= start && t >= ts {
					offset, timestamp, found = o, t, true
					return false
				}
				return true
			})
			if err != nil || found {
				return offset, timestamp, found, err
			}
		}
		pos += int64(h.Size())
	}
	return -1, -1, false, nil
}

// chunkFiller returns the cache fill of chunk k of an object: one ranged
// GET on the fetch pool, paced by the fetch rate limit, checked against
// the entry's checksums (sums) before the chunk is cached.
func (m *Manager) chunkFiller(key string, objSize, k int64, sums *Checksums) func(context.Context, *os.File) (int64, error) {
	return func(ctx context.Context, f *os.File) (int64, error) {
		select {
		case m.fetchSem <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		defer func() { <-m.fetchSem }()
		off := k * m.cfg.ChunkBytes
		length := min(m.cfg.ChunkBytes, objSize-off)
		ctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
		defer cancel()
		return m.verifiedFill(ctx, f, resetFile(f), key, off, length, objSize, sums)
	}
}

// copyBufs holds the buffers chunk fills copy through: one per fill in
// flight (bounded by the fetch pool), as large as one limitedReader read,
// so a chunk takes 8 times fewer read and write calls than io.Copy's 32 KiB.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyChunk copies a ranged GET's body into a cache file.
func copyChunk(w io.Writer, r io.Reader) (int64, error) {
	b := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(b)
	// Hide a file's ReadFrom: it would fall back to io.Copy's own buffer.
	return io.CopyBuffer(struct{ io.Writer }{w}, r, *b)
}

// prefetch fetches the chunks after k in the background (read-ahead for a
// sequential consumer), continuing into the remote segments after r's
// while they are below the local log start, on the fetch pool, skipping
// work when it is busy.
func (p *Partition) prefetch(r *segReader, k int64) {
	m := p.m
	ahead := m.cfg.ReadAheadChunks
	if ahead <= 0 {
		return
	}
	type object struct {
		key  string
		size int64
		seg  Segment
		sums *Checksums
		have bool // sums known (the entry was read)
	}
	objects := []object{{r.key, r.seg.ObjectSize(), r.seg, r.sums, true}}
	chunks := []int64{r.chunks()}
	if k+int64(ahead) >= chunks[0] {
		// The window passes the end of this segment: add the next
		// remote ones (each is at least one chunk), but none the
		// local log still serves.
		next, err := p.man.From(r.seg.NextOffset, ahead)
		if err != nil {
			m.log.Debug("prefetch: reading manifest", "err", err)
		}
		localStart := p.src.Log().StartOffset()
		for _, seg := range next {
			if seg.BaseOffset >= localStart || seg.BaseOffset < r.seg.NextOffset {
				break
			}
			size := seg.ObjectSize()
			o := object{key: segmentKey(p.root, seg.BaseOffset, seg.UploadID), size: size, seg: seg}
			if e, ok := m.entries.get(o.key); ok {
				o.sums, o.have = e.Checksums, true
			}
			objects = append(objects, o)
			chunks = append(chunks, (size+m.cfg.ChunkBytes-1)/m.cfg.ChunkBytes)
		}
	}
	todo := PlanPrefetch(k, chunks, ahead, func(o int, i int64) bool {
		return m.cache.contains(chunkKey{objects[o].key, i})
	})
	for _, t := range todo {
		select {
		case m.prefetchSlots <- struct{}{}:
		default:
			return
		}
		o, i := objects[t.Object], t.Chunk
		key := o.key
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			defer func() { <-m.prefetchSlots }()
			if !o.have {
				e, err := p.remoteEntry(m.ctx, o.seg)
				if err != nil {
					m.log.Debug("prefetch: reading manifest entry", "object", key, "err", err)
					return
				}
				o.sums = e.Checksums
			}
			f, err := m.cache.open(m.ctx, chunkKey{key, i}, m.chunkFiller(key, o.size, i, o.sums))
			if err == nil {
				f.Close()
			} else if !errors.Is(err, context.Canceled) {
				m.log.Debug("prefetch failed", "object", key, "chunk", i, "err", err)
			}
		}()
	}
}

// indexCache keeps a few parsed offset indexes of remote segments.
type indexCache struct {
	mu    sync.Mutex
	max   int
	order []string
	m     map[string][]idxEntry
}

func (c *indexCache) get(key string) ([]idxEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *indexCache) put(key string, v []idxEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; ok {
		return
	}
	if len(c.order) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.order = append(c.order, key)
	c.m[key] = v
}
