package tiering

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Segment is one committed remote segment: a manifest entry.
type Segment struct {
	BaseOffset    int64 `json:"base_offset"`
	NextOffset    int64 `json:"next_offset"`
	MaxTimestamp  int64 `json:"max_timestamp"`
	Size          int64 `json:"size"` // bytes of record batches
	IndexSize     int64 `json:"index_size"`
	TimeIndexSize int64 `json:"time_index_size"`
	// LeaderEpoch is the epoch of the leader that uploaded the segment.
	LeaderEpoch int32 `json:"leader_epoch"`
	// Epochs are the leader-epoch ranges of the segment's records.
	Epochs []EpochRange `json:"epochs,omitempty"`
	// UploadID makes the data object's key unique.
	UploadID   [16]byte `json:"-"`
	UploadIDS  string   `json:"upload_id"`
	UploadedBy int32    `json:"uploaded_by"`
	UploadedAt int64    `json:"uploaded_at_ms"`
	// SnapshotOffset and SnapshotSize locate the producer-state snapshot
	// stored at the end of the data object (after the time index): the
	// snapshot the broker took at SnapshotOffset <= NextOffset. Size 0
	// means the object carries none.
	SnapshotOffset int64 `json:"producer_snapshot_offset,omitempty"`
	SnapshotSize   int64 `json:"producer_snapshot_size,omitempty"`
	// Checksums are the CRC-32C values of the data object recorded at
	// upload; nil in entries written before uploads recorded them (their
	// batches' own CRCs are checked when they are served instead).
	Checksums *Checksums `json:"crc32c,omitempty"`
	// Repair is the generation of a repaired entry (0 for the original):
	// the entry of a re-upload after the first object was found corrupt.
	Repair int `json:"repair,omitempty"`
	// SealTick is the roll instant (unix ms) the segment was sealed at by
	// its uploader while it led the partition: the partition's log end at
	// that instant was NextOffset (0 when not known). See cut.go.
	SealTick int64 `json:"sealed_tick_ms,omitempty"`
}

// EpochRange is a leader epoch and the first offset written under it.
type EpochRange struct {
	Epoch       int32 `json:"epoch"`
	StartOffset int64 `json:"start_offset"`
}

// ObjectSize is the size of the segment's data object.
func (s Segment) ObjectSize() int64 {
	return s.Size + s.IndexSize + s.TimeIndexSize + s.SnapshotSize
}

// sameRange reports whether o commits the same batches as s.
func (s Segment) sameRange(o Segment) bool {
	return s.BaseOffset == o.BaseOffset && s.NextOffset == o.NextOffset && s.Size == o.Size
}

func encodeEntry(s Segment) ([]byte, error) {
	s.UploadIDS = hex.EncodeToString(s.UploadID[:])
	return json.Marshal(struct {
		Version int `json:"version"`
		Segment
	}{1, s})
}

func decodeEntry(b []byte) (Segment, error) {
	var e struct {
		Version int `json:"version"`
		Segment
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return Segment{}, fmt.Errorf("%w: manifest entry: %v", ErrCorruptManifest, err)
	}
	if e.Version != 1 {
		return Segment{}, fmt.Errorf("%w: manifest entry version %d", ErrCorruptManifest, e.Version)
	}
	s := e.Segment
	id, err := hex.DecodeString(s.UploadIDS)
	if err != nil || len(id) != 16 {
		return Segment{}, fmt.Errorf("%w: manifest entry upload id %q", ErrCorruptManifest, s.UploadIDS)
	}
	copy(s.UploadID[:], id)
	if c := s.Checksums; c != nil && (c.ChunkBytes <= 0 || int64(len(c.Chunks)) != (s.ObjectSize()+c.ChunkBytes-1)/c.ChunkBytes) {
		return Segment{}, fmt.Errorf("%w: manifest entry checksums: %d chunks of %d bytes for a %d-byte object", ErrCorruptManifest, len(c.Chunks), c.ChunkBytes, s.ObjectSize())
	}
	if s.BaseOffset < 0 || s.NextOffset <= s.BaseOffset || s.Size <= 0 || s.IndexSize < 0 || s.TimeIndexSize < 0 ||
		s.SnapshotSize < 0 || s.SnapshotSize > maxSnapshotBytes || s.SnapshotOffset > s.NextOffset || s.Repair < 0 {
		return Segment{}, fmt.Errorf("%w: manifest entry range [%d, %d) size %d", ErrCorruptManifest, s.BaseOffset, s.NextOffset, s.Size)
	}
	return s, nil
}

// ErrCorruptManifest: a manifest entry or the local manifest file does not parse.
var ErrCorruptManifest = errors.New("corrupt manifest")

// manifest is the broker's local copy of a partition's remote manifest: a
// file of fixed-size records in offset order, searched on disk, so a
// partition with millions of remote segments costs no memory. The store's
// manifest/ entries are the truth; this file is rebuilt from them when it is
// missing (an empty data directory) and repaired when a commit outran it.
//
// File layout: a 16-byte header ("STRM", version uint32, head uint64: the
// index of the first live record), then 64-byte records: base, next, max
// timestamp, size (int64 each), index size, time-index size (uint32 each),
// leader epoch (int32), producer-snapshot size (uint32; 0 in files written
// before snapshots were uploaded), upload id (16 bytes). Records
// below head were deleted by remote retention.
type manifest struct {
	path string

	mu    sync.RWMutex
	f     *os.File
	head  int64 // first live record
	n     int64 // records in the file
	first Segment
	last  Segment
	bytes int64 // live bytes of record batches
}

const (
	manifestMagic   = "STRM"
	manifestHeader  = 16
	manifestRecSize = 64
	manifestName    = "remote-manifest"
)

func manifestPath(dir string) string { return filepath.Join(dir, manifestName) }

// openManifest opens (creating if missing) the local manifest.
func openManifest(path string) (*manifest, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	m := &manifest{path: path, f: f}
	if err := m.load(); err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

func (m *manifest) load() error {
	st, err := m.f.Stat()
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return m.writeHeader(0)
	}
	var h [manifestHeader]byte
	if _, err := m.f.ReadAt(h[:], 0); err != nil {
		return fmt.Errorf("%w: %s header: %v", ErrCorruptManifest, m.path, err)
	}
	if string(h[:4]) != manifestMagic || binary.BigEndian.Uint32(h[4:]) != 1 {
		return fmt.Errorf("%w: %s: bad magic or version", ErrCorruptManifest, m.path)
	}
	m.head = int64(binary.BigEndian.Uint64(h[8:]))
	// A torn last record (crash during append) is dropped: its commit is
	// repaired from the store on the next upload of that offset.
	m.n = (st.Size() - manifestHeader) / manifestRecSize
	if err := m.f.Truncate(manifestHeader + m.n*manifestRecSize); err != nil {
		return err
	}
	if m.head > m.n {
		return fmt.Errorf("%w: %s: head %d past %d records", ErrCorruptManifest, m.path, m.head, m.n)
	}
	r := bufio.NewReaderSize(io.NewSectionReader(m.f, manifestHeader+m.head*manifestRecSize, (m.n-m.head)*manifestRecSize), 1<<20)
	var rec [manifestRecSize]byte
	prev := int64(-1)
	for i := m.head; i < m.n; i++ {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			return fmt.Errorf("%w: %s record %d: %v", ErrCorruptManifest, m.path, i, err)
		}
		s := decodeRecord(rec[:])
		if s.BaseOffset < prev || s.NextOffset <= s.BaseOffset {
			return fmt.Errorf("%w: %s record %d out of order", ErrCorruptManifest, m.path, i)
		}
		prev = s.NextOffset
		if i == m.head {
			m.first = s
		}
		m.last = s
		m.bytes += s.Size
	}
	return nil
}

func (m *manifest) writeHeader(head int64) error {
	var h [manifestHeader]byte
	copy(h[:], manifestMagic)
	binary.BigEndian.PutUint32(h[4:], 1)
	binary.BigEndian.PutUint64(h[8:], uint64(head))
	if _, err := m.f.WriteAt(h[:], 0); err != nil {
		return err
	}
	return m.f.Sync()
}

func encodeRecord(s Segment) []byte {
	b := make([]byte, manifestRecSize)
	binary.BigEndian.PutUint64(b[0:], uint64(s.BaseOffset))
	binary.BigEndian.PutUint64(b[8:], uint64(s.NextOffset))
	binary.BigEndian.PutUint64(b[16:], uint64(s.MaxTimestamp))
	binary.BigEndian.PutUint64(b[24:], uint64(s.Size))
	binary.BigEndian.PutUint32(b[32:], uint32(s.IndexSize))
	binary.BigEndian.PutUint32(b[36:], uint32(s.TimeIndexSize))
	binary.BigEndian.PutUint32(b[40:], uint32(s.LeaderEpoch))
	binary.BigEndian.PutUint32(b[44:], uint32(s.SnapshotSize))
	copy(b[48:], s.UploadID[:])
	return b
}

func decodeRecord(b []byte) Segment {
	s := Segment{
		BaseOffset:    int64(binary.BigEndian.Uint64(b[0:])),
		NextOffset:    int64(binary.BigEndian.Uint64(b[8:])),
		MaxTimestamp:  int64(binary.BigEndian.Uint64(b[16:])),
		Size:          int64(binary.BigEndian.Uint64(b[24:])),
		IndexSize:     int64(binary.BigEndian.Uint32(b[32:])),
		TimeIndexSize: int64(binary.BigEndian.Uint32(b[36:])),
		LeaderEpoch:   int32(binary.BigEndian.Uint32(b[40:])),
		SnapshotSize:  int64(binary.BigEndian.Uint32(b[44:])),
	}
	copy(s.UploadID[:], b[48:64])
	return s
}

// Len is the number of live remote segments.
func (m *manifest) Len() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.n - m.head
}

// Bounds returns the first live segment's base offset, the offset after
// the last one, and the live bytes; ok is false when there is none.
func (m *manifest) Bounds() (start, end, bytes int64, ok bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.n == m.head {
		return 0, 0, 0, false
	}
	return m.first.BaseOffset, m.last.NextOffset, m.bytes, true
}

// Append adds a committed segment; it must start at or after the end.
func (m *manifest) Append(s Segment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n > m.head && s.BaseOffset < m.last.NextOffset {
		return fmt.Errorf("%w: append [%d, %d) below manifest end %d", ErrCorruptManifest, s.BaseOffset, s.NextOffset, m.last.NextOffset)
	}
	if _, err := m.f.WriteAt(encodeRecord(s), manifestHeader+m.n*manifestRecSize); err != nil {
		return err
	}
	if err := m.f.Sync(); err != nil {
		return err
	}
	if m.n == m.head {
		m.first = s
	}
	m.n++
	m.last = s
	m.bytes += s.Size
	return nil
}

// Replace rewrites the record of the live segment with s's base offset in
// place (a repaired upload repointing it at a new object), durably.
func (m *manifest) Replace(s Segment) error {
	return m.rewriteRecord(s, func(old Segment) bool { return old.sameRange(s) })
}

// ReplaceCleaned rewrites the record of the live segment [s.BaseOffset,
// s.NextOffset) with s, a compacted copy of it (fewer bytes, the same
// offsets), durably.
func (m *manifest) ReplaceCleaned(s Segment) error {
	return m.rewriteRecord(s, func(old Segment) bool {
		return old.BaseOffset == s.BaseOffset && old.NextOffset == s.NextOffset
	})
}

// rewriteRecord overwrites the live record at s's base offset with s when
// same accepts the old one.
func (m *manifest) rewriteRecord(s Segment, same func(old Segment) bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := m.n - m.head
	var ferr error
	i := sort.Search(int(live), func(i int) bool {
		r, err := m.atLocked(int64(i))
		if err != nil {
			ferr = err
			return true
		}
		return r.BaseOffset >= s.BaseOffset
	})
	if ferr != nil {
		return ferr
	}
	if int64(i) == live {
		return fmt.Errorf("%w: no record at %d to replace", ErrCorruptManifest, s.BaseOffset)
	}
	old, err := m.atLocked(int64(i))
	if err != nil {
		return err
	}
	if !same(old) {
		return fmt.Errorf("%w: replacing [%d, %d) with [%d, %d)", ErrCorruptManifest, old.BaseOffset, old.NextOffset, s.BaseOffset, s.NextOffset)
	}
	if _, err := m.f.WriteAt(encodeRecord(s), manifestHeader+(m.head+int64(i))*manifestRecSize); err != nil {
		return err
	}
	if err := m.f.Sync(); err != nil {
		return err
	}
	m.bytes += s.Size - old.Size
	if i == 0 {
		m.first = s
	}
	if int64(i) == live-1 {
		m.last = s
	}
	return nil
}

// at reads live record i (0 is the first live one). Needs mu.
func (m *manifest) atLocked(i int64) (Segment, error) {
	var rec [manifestRecSize]byte
	if _, err := m.f.ReadAt(rec[:], manifestHeader+(m.head+i)*manifestRecSize); err != nil {
		return Segment{}, fmt.Errorf("%w: %s record %d: %v", ErrCorruptManifest, m.path, m.head+i, err)
	}
	return decodeRecord(rec[:]), nil
}

// Head returns up to k of the oldest live segments.
func (m *manifest) Head(k int) ([]Segment, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	n := min(int64(k), m.n-m.head)
	out := make([]Segment, 0, n)
	for i := int64(0); i < n; i++ {
		s, err := m.atLocked(i)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Find returns the live segment holding offset, or the first one after it
// (offset in a gap); ok is false past the end.
func (m *manifest) Find(offset int64) (Segment, bool, error) {
	segs, err := m.From(offset, 1)
	if err != nil || len(segs) == 0 {
		return Segment{}, false, err
	}
	return segs[0], true, nil
}

// From returns up to k live segments in order, starting with the one
// holding offset or the first one after it; none past the end.
func (m *manifest) From(offset int64, k int) ([]Segment, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	live := m.n - m.head
	var ferr error
	i := sort.Search(int(live), func(i int) bool {
		s, err := m.atLocked(int64(i))
		if err != nil {
			ferr = err
			return true
		}
		return s.NextOffset > offset
	})
	if ferr != nil {
		return nil, ferr
	}
	n := min(int64(k), live-int64(i))
	out := make([]Segment, 0, max(n, 0))
	for j := int64(i); j < int64(i)+n; j++ {
		s, err := m.atLocked(j)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Scan calls fn for each live segment in order until it returns false.
func (m *manifest) Scan(fn func(Segment) bool) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	r := bufio.NewReaderSize(io.NewSectionReader(m.f, manifestHeader+m.head*manifestRecSize, (m.n-m.head)*manifestRecSize), 256<<10)
	var rec [manifestRecSize]byte
	for i := m.head; i < m.n; i++ {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			return fmt.Errorf("%w: %s record %d: %v", ErrCorruptManifest, m.path, i, err)
		}
		if !fn(decodeRecord(rec[:])) {
			return nil
		}
	}
	return nil
}

// DropHead forgets the k oldest live segments (remote retention), durably,
// and compacts the file once most of it is dead.
func (m *manifest) DropHead(k int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k = min(k, m.n-m.head)
	if k <= 0 {
		return nil
	}
	dropped := int64(0)
	for i := int64(0); i < k; i++ {
		s, err := m.atLocked(i)
		if err != nil {
			return err
		}
		dropped += s.Size
	}
	if err := m.writeHeader(m.head + k); err != nil {
		return err
	}
	m.head += k
	m.bytes -= dropped
	if m.n > m.head {
		s, err := m.atLocked(0)
		if err != nil {
			return err
		}
		m.first = s
	}
	if m.head >= 4096 && m.head*2 >= m.n {
		return m.compactLocked()
	}
	return nil
}

// Reset replaces every record with segs (in offset order, none overlapping
// the one before), atomically: a crash leaves the old file or the new one.
func (m *manifest) Reset(segs []Segment) error {
	prev := int64(-1)
	for _, s := range segs {
		if s.BaseOffset < prev || s.NextOffset <= s.BaseOffset {
			return fmt.Errorf("%w: reset with [%d, %d) after %d", ErrCorruptManifest, s.BaseOffset, s.NextOffset, prev)
		}
		prev = s.NextOffset
	}
	buf := make([]byte, 0, len(segs)*manifestRecSize)
	var total int64
	for _, s := range segs {
		buf = append(buf, encodeRecord(s)...)
		total += s.Size
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.rewriteLocked(func(f *os.File) error {
		_, err := f.WriteAt(buf, manifestHeader)
		return err
	}); err != nil {
		return err
	}
	m.head, m.n, m.bytes = 0, int64(len(segs)), total
	m.first, m.last = Segment{}, Segment{}
	if len(segs) > 0 {
		m.first, m.last = segs[0], segs[len(segs)-1]
	}
	return nil
}

// rewriteLocked replaces the file, atomically, with a header and what body
// writes after it, and switches to it (head 0). Needs mu.
func (m *manifest) rewriteLocked(body func(f *os.File) error) error {
	tmp := m.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	nm := &manifest{path: m.path, f: f}
	if err := nm.writeHeader(0); err != nil {
		f.Close()
		return err
	}
	if err := body(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, m.path); err != nil {
		f.Close()
		return err
	}
	m.f.Close()
	m.f, m.head = f, 0
	return syncDir(filepath.Dir(m.path))
}

// compactLocked rewrites the file without the dead records.
func (m *manifest) compactLocked() error {
	live := m.n - m.head
	old := m.f
	if err := m.rewriteLocked(func(f *os.File) error {
		_, err := io.Copy(io.NewOffsetWriter(f, manifestHeader), io.NewSectionReader(old, manifestHeader+m.head*manifestRecSize, live*manifestRecSize))
		return err
	}); err != nil {
		return err
	}
	m.n = live
	return nil
}

// Close releases the file.
func (m *manifest) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
