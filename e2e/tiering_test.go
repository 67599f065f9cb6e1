package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/tiering"
)

// tieringMB is how much TestTieringEndToEnd produces: 200 MB (about 15 s
// on two cores), 24 MB with -short.
func tieringMB() int {
	if testing.Short() {
		return 24
	}
	return 200
}

func tierStatus(n *testNode, topic string) tiering.Status {
	for _, s := range n.TierStatus() {
		if s.Topic == topic && s.Partition == 0 {
			return s
		}
	}
	return tiering.Status{}
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checkConsumed(t *testing.T, recs []*kgo.Record, first int, values func(i int) []byte) {
	t.Helper()
	for j, r := range recs {
		i := first + j
		if !bytes.Equal(r.Value, values(i)) {
			t.Fatalf("record %d (offset %d): value differs from what was produced", i, r.Offset)
		}
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
}

// TestTieringEndToEnd produces into a topic with 1 MiB segments and a 2 MiB
// hot tail through the embedded object store, checks the local disk stays
// bounded, consumes everything from the earliest offset byte-exact (most of
// it from the cold tier), consumes from a timestamp inside the cold range,
// and then wipes the node's log directory and consumes the cold range again.
func TestTieringEndToEnd(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	topic := "tiered"
	seg, local := "1048576", "2097152"
	createTopic(t, n.KafkaAddr(), topic, 1, map[string]*string{"segment.bytes": &seg, "local.retention.bytes": &local})

	const valueSize = 4096
	total := tieringMB() << 20 / valueSize
	values := func(i int) []byte {
		v := bytes.Repeat([]byte{byte(i)}, valueSize)
		binary.BigEndian.PutUint64(v, uint64(i))
		return v
	}
	cl := newClient(t, n.KafkaAddr(), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	base := time.Now().Add(-time.Hour).UnixMilli()
	errc := make(chan error, 1)
	for i := 0; i < total; i++ {
		r := &kgo.Record{Value: values(i), Timestamp: time.UnixMilli(base + int64(i))}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}

	waitUntil(t, "the hot tail to shrink to local retention", 2*time.Minute, func() bool {
		st := tierStatus(n, topic)
		return st.LocalStartOffset > 0 && st.LocalBytes <= 4<<20 && st.PendingSegments == 0
	})
	st := tierStatus(n, topic)
	if st.LogStartOffset != 0 || st.HighWatermark != int64(total) {
		t.Fatalf("status %+v", st)
	}
	if du := dirSize(t, filepath.Join(dir, "kafka")); du > 6<<20 {
		t.Fatalf("local log directory holds %d bytes, want the hot tail only", du)
	}

	recs := consumeN(t, n.KafkaAddr(), topic, total, kgo.FetchMaxBytes(8<<20))
	checkConsumed(t, recs, 0, values)

	// From a timestamp in the middle of the cold range.
	mid := int(st.LocalStartOffset / 2)
	recs = consumeN(t, n.KafkaAddr(), topic, total-mid, kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(base+int64(mid))))
	checkConsumed(t, recs, mid, values)

	// A wiped log directory: the cold range is served again from the store.
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "kafka")); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, dir, nil)
	st2 := tierStatus(n2, topic)
	if st2.LogStartOffset != 0 || st2.RemoteEndOffset != st.RemoteEndOffset || st2.HighWatermark != st.RemoteEndOffset {
		t.Fatalf("after wipe: %+v, before: %+v", st2, st)
	}
	recs = consumeN(t, n2.KafkaAddr(), topic, int(st2.RemoteEndOffset), kgo.FetchMaxBytes(8<<20))
	checkConsumed(t, recs, 0, values)
}

func dirSize(t *testing.T, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
