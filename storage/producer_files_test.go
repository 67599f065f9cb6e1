package storage

import (
	"os"
	"path/filepath"
	"testing"
)

func TestProducerSnapshotsKeepNewest(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig())
	for _, off := range []int64{5, 10, 20} {
		if err := l.WriteProducerSnapshot(off, []byte{byte(off)}); err != nil {
			t.Fatal(err)
		}
	}
	offs, err := l.ProducerSnapshotOffsets()
	if err != nil || len(offs) != keptProducerSnapshots || offs[len(offs)-1] != 20 {
		t.Fatalf("snapshots %v %v", offs, err)
	}
	b, err := l.ReadProducerSnapshot(20)
	if err != nil || len(b) != 1 || b[0] != 20 {
		t.Fatalf("read snapshot: %v %v", b, err)
	}
	if err := l.RemoveProducerSnapshot(20); err != nil {
		t.Fatal(err)
	}
	if err := l.RemoveProducerSnapshot(20); err != nil {
		t.Fatalf("removing a missing snapshot: %v", err)
	}
}

func TestAbortedTxnIndexFollowsSegments(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	l := openLog(t, dir, cfg)
	appendN(t, l, 3, 10, 1)
	if err := l.AppendAbortedTxn(AbortedTxnEntry{ProducerID: 7, FirstOffset: 0, LastOffset: 2, LastStableOffset: 3}); err != nil {
		t.Fatal(err)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 3, 10, 1)
	if err := l.AppendAbortedTxn(AbortedTxnEntry{ProducerID: 8, FirstOffset: 3, LastOffset: 5, LastStableOffset: 6}); err != nil {
		t.Fatal(err)
	}
	// An entry past the log end (its marker was lost) is not returned.
	if err := l.AppendAbortedTxn(AbortedTxnEntry{ProducerID: 9, FirstOffset: 6, LastOffset: 9, LastStableOffset: 10}); err != nil {
		t.Fatal(err)
	}
	got, err := l.AbortedTxns()
	if err != nil || len(got) != 2 || got[0].ProducerID != 7 || got[1].ProducerID != 8 || got[1].LastStableOffset != 6 {
		t.Fatalf("aborted txns %+v %v", got, err)
	}
	// A torn tail entry is ignored.
	f, _ := os.OpenFile(filepath.Join(dir, segmentName(3)+txnIndexSuffix), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0, 0, 1})
	f.Close()
	if got, err := l.AbortedTxns(); err != nil || len(got) != 2 {
		t.Fatalf("after torn tail: %+v %v", got, err)
	}
	// A stray index without a segment is removed.
	stray := filepath.Join(dir, segmentName(100)+txnIndexSuffix)
	os.WriteFile(stray, make([]byte, txnIndexEntrySize), 0o644)
	if _, err := l.AbortedTxns(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Fatalf("stray txnindex kept: %v", err)
	}
}
