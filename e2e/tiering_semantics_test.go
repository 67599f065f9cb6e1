package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node"
	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/tiering"
)

// startTierNode is startNode with a wrapper around the node's object store.
func startTierNode(t testing.TB, dir string, settings map[string]string, wrap func(objectstore.Store) objectstore.Store) *testNode {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Settings = settings
	cfg.Logger = testLogger(t)
	cfg.WrapObjectStore = wrap
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := node.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("starting node: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return &testNode{Node: n, cfg: cfg}
}

// remoteManifest reads a partition's manifest entries straight from the
// node's embedded store (beside dir, node.DefaultObjectStorePath).
func remoteManifest(t testing.TB, dir, addr, topic string) ([]tiering.Segment, int64) {
	t.Helper()
	segs, start, err := tryRemoteManifest(t, dir, addr, topic)
	if err != nil {
		t.Fatal(err)
	}
	return segs, start
}

// tryRemoteManifest reads the remote manifest, returning the store's error:
// while remote retention deletes entries, an entry listed a moment ago may be
// gone when it is read, and a caller polling for that deletion retries.
func tryRemoteManifest(t testing.TB, dir, addr, topic string) ([]tiering.Segment, int64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	td, err := newAdmin(t, addr).ListTopics(ctx, topic)
	if err != nil || td[topic].Err != nil {
		t.Fatalf("listing %s: %v %v", topic, err, td[topic].Err)
	}
	path, err := node.DefaultObjectStorePath(dir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := open.Open(ctx, "file://"+path, open.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	return tiering.RemoteManifest(ctx, store, tiering.Default().Prefix, tiering.ID{Topic: topic, TopicID: td[topic].ID, Partition: 0})
}

// checkManifestContiguous fails on a gap or overlap between entries.
func checkManifestContiguous(t testing.TB, segs []tiering.Segment) {
	t.Helper()
	for i := 1; i < len(segs); i++ {
		if segs[i].BaseOffset != segs[i-1].NextOffset {
			t.Fatalf("remote manifest: segment [%d, %d) follows [%d, %d)", segs[i].BaseOffset, segs[i].NextOffset, segs[i-1].BaseOffset, segs[i-1].NextOffset)
		}
	}
}

func seqValue(i int, size int) []byte {
	v := bytes.Repeat([]byte{byte(i*7 + 1)}, size)
	binary.BigEndian.PutUint64(v, uint64(i))
	return v
}

func produceSeq(t *testing.T, addr, topic string, from, n, size int) {
	t.Helper()
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(2*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(4096))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := from; i < from+n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: seqValue(i, size)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func listStart(t *testing.T, addr, topic string) int64 {
	t.Helper()
	offs, err := newAdmin(t, addr).ListStartOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := offs.Lookup(topic, 0)
	if o.Err != nil {
		t.Fatal(o.Err)
	}
	return o.Offset
}

// TestTieringDeleteRecordsMovesRemoteStart deletes records below the local
// log start: the log start of the whole log moves (ListOffsets earliest,
// consumers from the start), remote segments wholly below it are deleted,
// and it survives a restore from the store alone.
func TestTieringDeleteRecordsMovesRemoteStart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	topic := "tier-delrec"
	seg, local := "16384", "16384"
	createTopic(t, n.KafkaAddr(), topic, 1, map[string]*string{"segment.bytes": &seg, "local.retention.bytes": &local})
	const total, size = 2000, 300
	produceSeq(t, n.KafkaAddr(), topic, 0, total, size)
	waitUntil(t, "uploads and local deletion", 60*time.Second, func() bool {
		st := tierStatus(n, topic)
		return st.LocalStartOffset > 1000 && st.PendingSegments == 0
	})
	st := tierStatus(n, topic)
	cut := st.LocalStartOffset / 2
	segs, _ := remoteManifest(t, dir, n.KafkaAddr(), topic)
	checkManifestContiguous(t, segs)
	below := 0
	for _, s := range segs {
		if s.NextOffset <= cut {
			below++
		}
	}
	if below == 0 {
		t.Fatalf("no remote segment below %d: %+v", cut, segs)
	}

	adm := newAdmin(t, n.KafkaAddr())
	ctx := context.Background()
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: cut})
	res, err := adm.DeleteRecords(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := res.Lookup(topic, 0)
	if r.Err != nil || r.LowWatermark != cut {
		t.Fatalf("DeleteRecords at %d: low watermark %d, err %v", cut, r.LowWatermark, r.Err)
	}
	if got := listStart(t, n.KafkaAddr(), topic); got != cut {
		t.Fatalf("ListOffsets earliest %d after DeleteRecords at %d", got, cut)
	}
	recs := consumeN(t, n.KafkaAddr(), topic, total-int(cut))
	checkConsumed(t, recs, int(cut), func(i int) []byte { return seqValue(i, size) })

	// Remote segments wholly below the new start are deleted; the start is
	// published to the store.
	waitUntil(t, "remote deletion below the log start", 30*time.Second, func() bool {
		segs, start, err := tryRemoteManifest(t, dir, n.KafkaAddr(), topic)
		return err == nil && len(segs) > 0 && segs[0].NextOffset > cut && segs[0].BaseOffset <= cut && start == cut
	})

	// A node restored from the store alone keeps the log start.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "kafka")); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, dir, nil)
	if got := listStart(t, n2.KafkaAddr(), topic); got != cut {
		t.Fatalf("ListOffsets earliest %d after a restore, want %d", got, cut)
	}
	end := tierStatus(n2, topic).HighWatermark
	recs = consumeN(t, n2.KafkaAddr(), topic, int(end-cut))
	checkConsumed(t, recs, int(cut), func(i int) []byte { return seqValue(i, size) })
}

// TestTieringRestoreKeepsProducerState restores a partition from the store
// alone (empty log directory) and checks that an idempotent producer that
// continues is judged against its uploaded state: a retried batch is a
// duplicate with its original offset, a gap is refused, the next sequence
// is appended.
func TestTieringRestoreKeepsProducerState(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	topic := "tier-idem"
	seg, segMs, local := "1024", "300", "0"
	createTopic(t, n.KafkaAddr(), topic, 1, map[string]*string{"segment.bytes": &seg, "segment.ms": &segMs, "local.retention.bytes": &local})
	cl := newClient(t, n.KafkaAddr())
	pid, epoch := initPID(t, cl)
	const batches, per = 40, 3
	for i := 0; i < batches; i++ {
		sp := rawProduce(t, cl, topic, idemBatch(pid, epoch, int32(i*per), per, false))
		if sp.ErrorCode != 0 || sp.BaseOffset != int64(i*per) {
			t.Fatalf("batch %d: %v at %d", i, kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
		}
	}
	end := int64(batches * per)
	waitUntil(t, "every record in the cold tier", 30*time.Second, func() bool {
		st := tierStatus(n, topic)
		return st.RemoteEndOffset == end && st.PendingSegments == 0
	})
	segs, _ := remoteManifest(t, dir, n.KafkaAddr(), topic)
	checkManifestContiguous(t, segs)
	last := segs[len(segs)-1]
	if last.SnapshotSize == 0 || last.SnapshotOffset > end {
		t.Fatalf("last remote segment carries no usable producer snapshot: %+v", last)
	}
	cl.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "kafka")); err != nil {
		t.Fatal(err)
	}

	n2 := startNode(t, dir, nil)
	cl2 := newClient(t, n2.KafkaAddr())
	expect := func(sp kmsg.ProduceResponseTopicPartition, code int16, base int64) {
		t.Helper()
		if sp.ErrorCode != code || (code == 0 && sp.BaseOffset != base) {
			t.Fatalf("produce after restore: error %v base %d, want error %v base %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset, kerr.ErrorForCode(code), base)
		}
	}
	lastSeq := int32((batches - 1) * per)
	expect(rawProduce(t, cl2, topic, idemBatch(pid, epoch, lastSeq, per, false)), 0, end-per)
	expect(rawProduce(t, cl2, topic, idemBatch(pid, epoch, lastSeq+10*per, 1, false)), kerr.OutOfOrderSequenceNumber.Code, 0)
	expect(rawProduce(t, cl2, topic, idemBatch(pid, epoch, lastSeq+per, per, false)), 0, end)
	if got := endOffset(t, cl2, topic, false); got != end+per {
		t.Fatalf("log end %d after restore, want %d", got, end+per)
	}
}
