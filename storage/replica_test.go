package storage

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stratalog/strata/record"
)

// leaderCopy reads [from, end) of leader as the batches a follower fetches.
func leaderCopy(t *testing.T, leader *Log, from int64) ([]byte, []record.Header) {
	t.Helper()
	res, err := leader.Read(from, 1<<30, leader.EndOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	b, err := res.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Clone(b)
	hdrs, err := record.Validate(b, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	return b, hdrs
}

func TestAppendReplicaKeepsLeaderBytes(t *testing.T) {
	leader := openLog(t, t.TempDir(), testConfig())
	defer leader.Close()
	for e := int32(0); e < 3; e++ {
		for range 4 {
			b, hdrs := mkBatch(t, record.CodecNone, 3, 100, 1000)
			if _, err := leader.Append(b, hdrs, e*2, -1); err != nil {
				t.Fatal(err)
			}
		}
	}
	follower := openLog(t, t.TempDir(), testConfig())
	defer follower.Close()
	want, hdrs := leaderCopy(t, leader, 0)
	// Two fetches: the first half, then the rest.
	half := len(hdrs) / 2
	n := 0
	for _, h := range hdrs[:half] {
		n += h.Size()
	}
	if _, err := follower.AppendReplica(want[:n], hdrs[:half]); err != nil {
		t.Fatal(err)
	}
	// A repeated fetch is refused, not appended twice.
	if _, err := follower.AppendReplica(want[:n], hdrs[:half]); !errors.Is(err, ErrOffsetMismatch) {
		t.Fatalf("repeated append: %v, want ErrOffsetMismatch", err)
	}
	info, err := follower.AppendReplica(want[n:], hdrs[half:])
	if err != nil {
		t.Fatal(err)
	}
	if info.FirstOffset != hdrs[half].BaseOffset || info.LastOffset != leader.EndOffset()-1 {
		t.Fatalf("info %+v", info)
	}
	got, _ := leaderCopy(t, follower, 0)
	if !bytes.Equal(got, want) {
		t.Fatal("follower bytes differ from the leader's")
	}
	le, fe := leader.LeaderEpochs(), follower.LeaderEpochs()
	if len(le) != 3 || len(fe) != len(le) {
		t.Fatalf("epochs: leader %v follower %v", le, fe)
	}
	for i := range le {
		if le[i] != fe[i] {
			t.Fatalf("epochs: leader %v follower %v", le, fe)
		}
	}
	// A gap inside the batches is refused.
	b1, h1 := mkBatch(t, record.CodecNone, 2, 10, 1)
	b2, h2 := mkBatch(t, record.CodecNone, 2, 10, 1)
	end := follower.EndOffset()
	record.SetBaseOffset(b1, end)
	record.SetBaseOffset(b2, end+5)
	h1[0].BaseOffset, h2[0].BaseOffset = end, end+5
	if _, err := follower.AppendReplica(append(b1, b2...), append(h1, h2...)); !errors.Is(err, ErrBadAppend) {
		t.Fatalf("gap: %v, want ErrBadAppend", err)
	}
}

func TestTruncateTo(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	var ends []int64 // batch ends
	for e := int32(0); e < 4; e++ {
		for range 6 {
			b, hdrs := mkBatch(t, record.CodecNone, 3, 200, 1000)
			info, err := l.Append(b, hdrs, e, -1)
			if err != nil {
				t.Fatal(err)
			}
			ends = append(ends, info.LastOffset+1)
		}
	}
	if len(l.Segments()) < 3 {
		t.Fatalf("want several segments, got %d", len(l.Segments()))
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.CheckpointHighWatermark(l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendAbortedTxn(AbortedTxnEntry{ProducerID: 7, FirstOffset: 60, LastOffset: 65}); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteProducerSnapshot(ends[20], []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteProducerSnapshot(ends[5], []byte("y")); err != nil {
		t.Fatal(err)
	}

	// An offset in the middle of a batch cuts the whole batch.
	mid := ends[9] + 1
	got, err := l.TruncateTo(mid)
	if err != nil {
		t.Fatal(err)
	}
	if got != ends[9] || l.EndOffset() != ends[9] || l.SyncedOffset() != ends[9] {
		t.Fatalf("truncate to %d: end %d (returned %d, synced %d), want %d", mid, l.EndOffset(), got, l.SyncedOffset(), ends[9])
	}
	hdrs := readHeaders(t, l, 0, 1<<30, l.EndOffset())
	if hdrs[len(hdrs)-1].NextOffset() != ends[9] {
		t.Fatalf("last batch ends at %d", hdrs[len(hdrs)-1].NextOffset())
	}
	// Epoch 2 started at ends[11]: gone. Epoch 1 stays.
	eps := l.LeaderEpochs()
	if len(eps) != 2 || eps[1].Epoch != 1 {
		t.Fatalf("epochs after truncation: %v", eps)
	}
	if hw, ok := l.HighWatermarkCheckpoint(); !ok || hw != ends[9] {
		t.Fatalf("hw checkpoint %d %v, want %d", hw, ok, ends[9])
	}
	if ab, err := l.AbortedTxns(); err != nil || len(ab) != 0 {
		t.Fatalf("aborted txns %v %v", ab, err)
	}
	if offs, err := l.ProducerSnapshotOffsets(); err != nil || len(offs) != 1 || offs[0] != ends[5] {
		t.Fatalf("snapshots %v %v", offs, err)
	}
	// Appends continue at the new end, and grow back past the old
	// aborted marker without reviving it.
	for l.EndOffset() <= 66 {
		appendN(t, l, 3, 200, 1000)
	}
	if ab, err := l.AbortedTxns(); err != nil || len(ab) != 0 {
		t.Fatalf("aborted txns after regrowth %v %v", ab, err)
	}
	// At or past the end: nothing.
	end := l.EndOffset()
	if got, err := l.TruncateTo(end + 10); err != nil || got != end {
		t.Fatalf("truncate past end: %d %v", got, err)
	}
	// A reopen (crash) sees the truncated log.
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TruncateTo(ends[3]); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = openLog(t, dir, testConfig())
	defer l.Close()
	if l.EndOffset() != ends[3] {
		t.Fatalf("reopened end %d, want %d", l.EndOffset(), ends[3])
	}
	if eps := l.LeaderEpochs(); len(eps) != 1 {
		t.Fatalf("reopened epochs %v", eps)
	}
}

func TestResetTo(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for range 20 {
		appendN(t, l, 3, 200, 1000)
	}
	if err := l.CheckpointHighWatermark(l.EndOffset()); err != nil {
		t.Fatal(err)
	}
	if err := l.ResetTo(500); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 500 || l.EndOffset() != 500 || l.SyncedOffset() != 500 || len(l.LeaderEpochs()) != 0 {
		t.Fatalf("after reset: start %d end %d synced %d epochs %v", l.StartOffset(), l.EndOffset(), l.SyncedOffset(), l.LeaderEpochs())
	}
	if hw, ok := l.HighWatermarkCheckpoint(); !ok || hw != 60 {
		t.Fatalf("hw %d %v", hw, ok)
	}
	info := appendN(t, l, 2, 10, 1)
	if info.FirstOffset != 500 {
		t.Fatalf("append after reset at %d", info.FirstOffset)
	}
	l.Close()
	l = openLog(t, dir, testConfig())
	defer l.Close()
	if l.StartOffset() != 500 || l.EndOffset() != 502 {
		t.Fatalf("reopened: start %d end %d", l.StartOffset(), l.EndOffset())
	}
	// Truncating below the start starts over there.
	if got, err := l.TruncateTo(100); err != nil || got != 100 || l.StartOffset() != 100 || l.EndOffset() != 100 {
		t.Fatalf("truncate below start: %d %v start %d end %d", got, err, l.StartOffset(), l.EndOffset())
	}
}
