package storage

import (
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/record"
)

// fill appends batches of 1-5 records until the log spans several
// segments, returning the headers of what it wrote.
func fill(t testing.TB, l *Log, batches int) []AppendInfo {
	rng := rand.New(rand.NewSource(1))
	var out []AppendInfo
	for i := 0; i < batches; i++ {
		out = append(out, appendN(t, l, 1+rng.Intn(5), 20+rng.Intn(60), t0.UnixMilli()+int64(i)*1000))
	}
	return out
}

func checkEveryOffset(t *testing.T, l *Log, infos []AppendInfo) {
	t.Helper()
	for _, info := range infos {
		for off := info.FirstOffset; off <= info.LastOffset; off++ {
			hdrs := readHeaders(t, l, off, 1, l.EndOffset())
			if len(hdrs) != 1 || hdrs[0].BaseOffset != info.FirstOffset || hdrs[0].LastOffset() != info.LastOffset {
				t.Fatalf("offset %d: got %+v, want batch %d-%d", off, hdrs, info.FirstOffset, info.LastOffset)
			}
		}
	}
}

func TestEveryOffsetReadsItsBatch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	infos := fill(t, l, 300)
	segs := l.Segments()
	if len(segs) < 5 {
		t.Fatalf("only %d segments", len(segs))
	}
	checkEveryOffset(t, l, infos)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Clean reopen: from indexes.
	l = openLog(t, dir, testConfig())
	checkEveryOffset(t, l, infos)
	if got := l.Segments(); len(got) != len(segs) || got[len(got)-1].NextOffset != segs[len(segs)-1].NextOffset {
		t.Fatalf("segments after reopen %+v, before %+v", got, segs)
	}
	// Unclean reopen (no Close): recovery scan.
	l2 := openLog(t, dir, testConfig())
	checkEveryOffset(t, l2, infos)
	more := appendN(t, l2, 2, 10, t0.UnixMilli())
	if more.FirstOffset != infos[len(infos)-1].LastOffset+1 {
		t.Fatalf("append after recovery at %d", more.FirstOffset)
	}
	l.Close()
	l2.Close()
}

func TestRollBySize(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	fill(t, l, 200)
	segs := l.Segments()
	for i, s := range segs {
		if s.Size > l.Config().SegmentBytes {
			t.Errorf("segment %d is %d bytes", i, s.Size)
		}
		if i > 0 && s.BaseOffset != segs[i-1].NextOffset {
			t.Errorf("segment %d starts at %d, previous ends at %d", i, s.BaseOffset, segs[i-1].NextOffset)
		}
		if s.Sealed != (i < len(segs)-1) {
			t.Errorf("segment %d sealed=%v", i, s.Sealed)
		}
		if filepath.Base(s.Path) != segmentName(s.BaseOffset)+".log" {
			t.Errorf("path %s", s.Path)
		}
	}
	// A single batch larger than SegmentBytes goes into its own segment.
	info := appendN(t, l, 1, 6000, t0.UnixMilli())
	last := l.Segments()[len(l.Segments())-1]
	if last.BaseOffset != info.FirstOffset || last.Size <= l.Config().SegmentBytes {
		t.Fatalf("oversized batch segment %+v", last)
	}
}

func TestRollByTime(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.SegmentMs = time.Hour
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	now := time.Now()
	if err := l.MaybeRoll(now.Add(2 * time.Hour)); err != nil || len(l.Segments()) != 1 {
		t.Fatalf("empty segment rolled: %v %d", err, len(l.Segments()))
	}
	appendN(t, l, 1, 10, now.UnixMilli())
	cases := []struct {
		at   time.Time
		segs int
	}{
		{now, 1},
		{now.Add(30 * time.Minute), 1},
		{now.Add(61 * time.Minute), 2},
		{now.Add(3 * time.Hour), 2}, // new active segment is empty
	}
	for _, c := range cases {
		if err := l.MaybeRoll(c.at); err != nil {
			t.Fatal(err)
		}
		if got := len(l.Segments()); got != c.segs {
			t.Fatalf("at +%v: %d segments, want %d", c.at.Sub(now), got, c.segs)
		}
	}
	cfg.SegmentMs = 0
	l.SetConfig(cfg)
	appendN(t, l, 1, 10, now.UnixMilli())
	if err := l.MaybeRoll(now.Add(1000 * time.Hour)); err != nil || len(l.Segments()) != 2 {
		t.Fatalf("SegmentMs=0 rolled")
	}
}

func TestReadLimits(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	var infos []AppendInfo
	for i := 0; i < 40; i++ {
		infos = append(infos, appendN(t, l, 3, 100, t0.UnixMilli()))
	}
	bsize := int(readHeaders(t, l, 0, 1, 1<<62)[0].Size())
	end := l.EndOffset()
	cases := []struct {
		name      string
		offset    int64
		maxBytes  int
		maxOffset int64
		batches   int
		first     int64
	}{
		{"KIP-74 first batch over maxBytes", 0, 10, end, 1, 0},
		{"maxBytes 0", 4, 0, end, 1, 3},
		{"two and a half batches", 0, bsize * 5 / 2, end, 2, 0},
		{"exact", 3, bsize * 3, end, 3, 3},
		{"mid batch offset", 7, bsize, end, 1, 6},
		{"high watermark cuts", 0, 1 << 20, 9, 3, 0},
		{"high watermark inside batch", 0, 1 << 20, 10, 3, 0},
		{"high watermark before first", 4, 1 << 20, 5, 0, 0},
		{"offset at high watermark", 9, 1 << 20, 9, 0, 0},
		{"at end", end, 1 << 20, end, 0, 0},
		{"spanning all segments", 0, 1 << 30, end, 40, 0},
		{"spanning from middle", 61, 1 << 30, end, 20, 60},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdrs := readHeaders(t, l, c.offset, c.maxBytes, c.maxOffset)
			if len(hdrs) != c.batches {
				t.Fatalf("%d batches, want %d", len(hdrs), c.batches)
			}
			if c.batches > 0 && hdrs[0].BaseOffset != c.first {
				t.Fatalf("first batch %d, want %d", hdrs[0].BaseOffset, c.first)
			}
			for i := 1; i < len(hdrs); i++ {
				if hdrs[i].BaseOffset != hdrs[i-1].NextOffset() {
					t.Fatalf("gap between batches %d and %d", i-1, i)
				}
			}
		})
	}
	res, err := l.Read(0, 1<<30, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Chunks) != len(l.Segments())-1 && len(res.Chunks) != len(l.Segments()) {
		t.Fatalf("%d chunks for %d segments", len(res.Chunks), len(l.Segments()))
	}
	res.Release()
	for _, off := range []int64{-1, end + 1} {
		if _, err := l.Read(off, 100, end); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read(%d): %v", off, err)
		}
	}
}

func TestRetentionByTime(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionMs = time.Hour
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	now := t0
	for i := 0; i < 30; i++ { // old records
		appendN(t, l, 2, 200, now.Add(-3*time.Hour).UnixMilli())
	}
	l.Roll()
	boundary := l.EndOffset()
	for i := 0; i < 30; i++ {
		appendN(t, l, 2, 200, now.UnixMilli())
	}
	n, err := l.ApplyRetention(now)
	if err != nil || n == 0 {
		t.Fatalf("deleted %d: %v", n, err)
	}
	if l.StartOffset() != boundary || l.Segments()[0].BaseOffset != boundary {
		t.Fatalf("start %d, want %d", l.StartOffset(), boundary)
	}
	if _, err := l.Read(boundary-1, 100, l.EndOffset()); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	if n, _ := l.ApplyRetention(now); n != 0 {
		t.Fatalf("second pass deleted %d", n)
	}
	// Everything expires, including the active segment.
	n, err = l.ApplyRetention(now.Add(2 * time.Hour))
	if err != nil || n == 0 || l.StartOffset() != l.EndOffset() || l.Size() != 0 {
		t.Fatalf("all expired: n=%d err=%v start=%d end=%d size=%d", n, err, l.StartOffset(), l.EndOffset(), l.Size())
	}
	info := appendN(t, l, 1, 1, now.UnixMilli())
	if info.FirstOffset != l.StartOffset() {
		t.Fatal("append after full expiry")
	}
}

func TestRetentionBySize(t *testing.T) {
	cfg := testConfig()
	cfg.RetentionBytes = 10000
	l := openLog(t, t.TempDir(), cfg)
	defer l.Close()
	fill(t, l, 300)
	before := l.Size()
	n, err := l.ApplyRetention(t0)
	if err != nil || n == 0 {
		t.Fatalf("deleted %d: %v", n, err)
	}
	if l.Size() < cfg.RetentionBytes || l.Size() >= before {
		t.Fatalf("size %d (was %d)", l.Size(), before)
	}
	// Deleting one more segment would go under the limit.
	if segs := l.Segments(); l.Size()-segs[0].Size >= cfg.RetentionBytes {
		t.Fatalf("kept more than needed: %d", l.Size())
	}
	cfg.RetentionBytes = -1
	l.SetConfig(cfg)
	if n, _ := l.ApplyRetention(t0); n != 0 {
		t.Fatal("infinite retention deleted")
	}
}

func TestDeleteRecordsBefore(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	infos := fill(t, l, 200)
	segs := l.Segments()
	target := segs[3].BaseOffset + 1
	if err := l.DeleteRecordsBefore(target); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != target || l.Segments()[0].BaseOffset != segs[3].BaseOffset {
		t.Fatalf("start %d first segment %d", l.StartOffset(), l.Segments()[0].BaseOffset)
	}
	for _, s := range segs[:3] {
		if _, err := os.Stat(s.Path); !os.IsNotExist(err) {
			t.Fatalf("%s still there", s.Path)
		}
	}
	if err := l.DeleteRecordsBefore(l.EndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("beyond end: %v", err)
	}
	if err := l.DeleteRecordsBefore(2); err != nil || l.StartOffset() != target {
		t.Fatal("moving backwards changed the start")
	}
	l.Close()
	l = openLog(t, dir, testConfig())
	if l.StartOffset() != target {
		t.Fatalf("start after reopen %d", l.StartOffset())
	}
	checkEveryOffset(t, l, infosFrom(infos, target))
	// Delete everything.
	end := l.EndOffset()
	if err := l.DeleteRecordsBefore(end); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != end || l.Size() != 0 || len(l.Segments()) != 1 {
		t.Fatalf("after deleting all: start %d size %d segs %d", l.StartOffset(), l.Size(), len(l.Segments()))
	}
	l.Close()
}

func infosFrom(infos []AppendInfo, start int64) []AppendInfo {
	var out []AppendInfo
	for _, i := range infos {
		if i.FirstOffset >= start {
			out = append(out, i)
		}
	}
	return out
}

func TestReleaseAfterDelete(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	fill(t, l, 100)
	res, err := l.Read(0, 1<<30, l.EndOffset())
	if err != nil {
		t.Fatal(err)
	}
	want, err := res.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.DeleteRecordsBefore(l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(); err != nil {
		t.Fatal(err)
	}
	got, err := res.Bytes()
	if err != nil || string(got) != string(want) {
		t.Fatalf("data after delete: %v", err)
	}
	f := res.Chunks[0].File
	res.Release()
	res.Release()
	if _, err := f.Stat(); err == nil {
		t.Fatal("file still open after Release")
	}
}

func TestReadAfterClose(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	fill(t, l, 20)
	res, err := l.Read(0, 1<<20, l.EndOffset())
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := res.Bytes(); err != nil {
		t.Fatalf("read after close: %v", err)
	}
	res.Release()
	if _, err := l.Read(0, 1, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read on closed log: %v", err)
	}
	if _, err := l.Append(nil, nil, 0, -1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append on closed log: %v", err)
	}
}

func TestAppendRewritesBatches(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	appendN(t, l, 3, 10, t0.UnixMilli())
	var blob []byte
	var hdrs []record.Header
	for _, codec := range []record.Codec{record.CodecNone, record.CodecGzip, record.CodecZstd} {
		b, h := mkBatch(t, codec, 4, 50, t0.UnixMilli())
		blob = append(blob, b...)
		hdrs = append(hdrs, h...)
	}
	info, err := l.Append(blob, hdrs, 7, t0.UnixMilli()+5)
	if err != nil {
		t.Fatal(err)
	}
	if info.FirstOffset != 3 || info.LastOffset != 14 || info.LogAppendTime != t0.UnixMilli()+5 {
		t.Fatalf("%+v", info)
	}
	got := readHeaders(t, l, 3, 1<<20, l.EndOffset())
	for i, h := range got {
		if h.BaseOffset != int64(3+4*i) || h.PartitionLeaderEpoch != 7 || !h.LogAppendTime() || h.MaxTimestamp != t0.UnixMilli()+5 {
			t.Fatalf("batch %d: %+v", i, h)
		}
	}
	if _, err := l.Append(blob[:len(blob)-1], hdrs, 7, -1); !errors.Is(err, ErrBadAppend) {
		t.Fatalf("mismatched headers: %v", err)
	}
}

func TestGarbageFilesAndBrokenIndexes(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	infos := fill(t, l, 200)
	segs := l.Segments()
	l.Close()
	os.WriteFile(filepath.Join(dir, "junk.txt"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "00000000000000099999.index"), []byte("xyz"), 0o644)
	os.WriteFile(filepath.Join(dir, "leader-epoch-checkpoint.tmp"), []byte("x"), 0o644)
	os.Mkdir(filepath.Join(dir, "subdir.log"), 0o755)
	// Truncate a sealed segment's index mid-entry, drop another's time
	// index, and scramble the active segment's index.
	os.Truncate(strings.TrimSuffix(segs[1].Path, ".log")+".index", 5)
	os.Remove(strings.TrimSuffix(segs[2].Path, ".log") + ".timeindex")
	os.WriteFile(strings.TrimSuffix(segs[len(segs)-1].Path, ".log")+".index", []byte{0, 0, 0, 9, 0xff, 0xff, 0, 0}, 0o644)
	l = openLog(t, dir, testConfig())
	defer l.Close()
	checkEveryOffset(t, l, infos)
	if got := l.Segments(); len(got) != len(segs) {
		t.Fatalf("%d segments, want %d", len(got), len(segs))
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000099999.index")); !os.IsNotExist(err) {
		t.Fatal("orphan index kept")
	}
	if ts, _ := l.MaxTimestamp(); ts < t0.UnixMilli()+199*1000 || ts > t0.UnixMilli()+199*1000+4 {
		t.Fatalf("max timestamp %d", ts)
	}
}

func TestLeaderEpochs(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	app := func(epoch int32) {
		b, h := mkBatch(t, record.CodecNone, 5, 10, t0.UnixMilli())
		if _, err := l.Append(b, h, epoch, -1); err != nil {
			t.Fatal(err)
		}
	}
	if e, o := l.EndOffsetForEpoch(0); e != -1 || o != -1 {
		t.Fatalf("empty cache: %d %d", e, o)
	}
	app(1)
	app(1)
	app(3)
	app(5) // epochs: 1@0, 3@10, 5@15; end 20
	check := func() {
		cases := []struct {
			epoch   int32
			wantE   int32
			wantOff int64
		}{
			{0, 0, 0}, {1, 1, 10}, {2, 1, 10}, {3, 3, 15}, {4, 3, 15}, {5, 5, 20}, {6, -1, -1}, {-1, -1, -1},
		}
		for _, c := range cases {
			if e, o := l.EndOffsetForEpoch(c.epoch); e != c.wantE || o != c.wantOff {
				t.Errorf("epoch %d: got (%d, %d), want (%d, %d)", c.epoch, e, o, c.wantE, c.wantOff)
			}
		}
	}
	check()
	l.Close()
	l = openLog(t, dir, testConfig())
	check()
	l.Close()
}

func TestTimestamps(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig())
	defer l.Close()
	if ts, off := l.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("empty: %d %d", ts, off)
	}
	base := t0.UnixMilli()
	// Batch i has 4 records at base+i*100 .. base+i*100+3.
	for i := 0; i < 200; i++ {
		b, h := mkBatch(t, record.Codec(i%5), 4, 40, base+int64(i)*100)
		if _, err := l.Append(b, h, 0, -1); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.Segments()) < 3 {
		t.Fatal("want several segments")
	}
	for _, c := range []struct {
		ts      int64
		off     int64
		foundTs int64
		found   bool
	}{
		{0, 0, base, true},
		{base, 0, base, true},
		{base + 2, 2, base + 2, true},
		{base + 4, 4, base + 100, true},
		{base + 12345, 4 * 124, base + 12400, true},
		{base + 199*100 + 3, 199*4 + 3, base + 199*100 + 3, true},
		{base + 199*100 + 4, -1, -1, false},
	} {
		off, ts, found, err := l.OffsetForTimestamp(c.ts)
		if err != nil || off != c.off || ts != c.foundTs || found != c.found {
			t.Errorf("OffsetForTimestamp(%d) = %d %d %v %v, want %d %d %v", c.ts-base, off, ts-base, found, err, c.off, c.foundTs-base, c.found)
		}
	}
	if ts, off := l.MaxTimestamp(); ts != base+199*100+3 || off != 199*4+3 {
		t.Fatalf("MaxTimestamp = %d %d", ts-base, off)
	}
	// Timestamps below the log start offset are not returned.
	if err := l.DeleteRecordsBefore(6); err != nil {
		t.Fatal(err)
	}
	if off, _, _, _ := l.OffsetForTimestamp(base); off != 6 {
		t.Fatalf("after delete-records: %d", off)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.SegmentBytes = 10 },
		func(c *Config) { c.SegmentBytes = 1 << 32 },
		func(c *Config) { c.SegmentMs = -1 },
		func(c *Config) { c.IndexIntervalBytes = -1 },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
