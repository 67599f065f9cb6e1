package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFranzProduceConsumeEveryCodecAndAcks(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.KafkaAddr()
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	acks := map[string]kgo.Acks{"all": kgo.AllISRAcks(), "leader": kgo.LeaderAck(), "none": kgo.NoAck()}
	for cname, codec := range codecs {
		for aname, ack := range acks {
			t.Run(cname+"/acks-"+aname, func(t *testing.T) {
				topic := "codec-" + cname + "-" + aname
				createTopic(t, addr, topic, 3, nil)
				opts := []kgo.Opt{kgo.ProducerBatchCompression(codec), kgo.RequiredAcks(ack), kgo.ProducerLinger(5 * time.Millisecond)}
				if aname != "all" {
					opts = append(opts, kgo.DisableIdempotentWrite())
				}
				cl := newClient(t, addr, opts...)
				const count = 300
				base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
				want := map[string]*kgo.Record{}
				var recs []*kgo.Record
				for i := 0; i < count; i++ {
					r := &kgo.Record{
						Topic:     topic,
						Key:       []byte(fmt.Sprintf("key-%d", i)),
						Value:     bytes.Repeat([]byte(fmt.Sprintf("value-%d-", i)), 1+i%50),
						Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte(fmt.Sprint(i))}},
						Timestamp: base.Add(time.Duration(i) * time.Millisecond),
					}
					want[string(r.Key)] = r
					recs = append(recs, r)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
				got := consumeN(t, addr, topic, count)
				lastOffset := map[int32]int64{}
				for _, r := range got {
					w, ok := want[string(r.Key)]
					if !ok {
						t.Fatalf("unexpected key %q", r.Key)
					}
					delete(want, string(r.Key))
					if !bytes.Equal(r.Value, w.Value) {
						t.Fatalf("value of %s differs", r.Key)
					}
					if len(r.Headers) != 1 || string(r.Headers[0].Value) != string(w.Headers[0].Value) {
						t.Fatalf("headers of %s differ: %v", r.Key, r.Headers)
					}
					if !r.Timestamp.Equal(w.Timestamp) {
						t.Fatalf("timestamp of %s: got %v want %v", r.Key, r.Timestamp, w.Timestamp)
					}
					if prev, ok := lastOffset[r.Partition]; ok && r.Offset != prev+1 {
						t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
					} else if !ok && r.Offset != 0 {
						t.Fatalf("partition %d starts at offset %d", r.Partition, r.Offset)
					}
					lastOffset[r.Partition] = r.Offset
				}
				if len(want) != 0 {
					t.Fatalf("%d records missing", len(want))
				}
			})
		}
	}
}

func TestLogAppendTimeRewritesTimestamps(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.KafkaAddr()
	lat := "LogAppendTime"
	createTopic(t, addr, "lat", 1, map[string]*string{"message.timestamp.type": &lat})
	cl := newClient(t, addr)
	before := time.Now().Add(-time.Second)
	old := time.Unix(1000, 0)
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lat", Value: []byte("x"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consumeN(t, addr, "lat", 1)
	ts := got[0].Timestamp
	if ts.Before(before) || ts.After(time.Now().Add(time.Second)) {
		t.Fatalf("timestamp %v is not the broker's append time", ts)
	}
	if got[0].Attrs.TimestampType() != 1 {
		t.Fatalf("timestamp type %d, want 1 (log append time)", got[0].Attrs.TimestampType())
	}
}

func TestListOffsetsAndDeleteRecords(t *testing.T) {
	n := startNode(t, "", map[string]string{"log.segment.bytes": "4096"})
	addr := n.KafkaAddr()
	createTopic(t, addr, "lo", 1, nil)
	cl := newClient(t, addr, kgo.ProducerLinger(0))
	ctx := context.Background()
	base := time.UnixMilli(1_700_000_000_000)
	for i := 0; i < 100; i++ {
		r := &kgo.Record{Topic: "lo", Value: bytes.Repeat([]byte{'a'}, 200), Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	start, err := adm.ListStartOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := start.Lookup("lo", 0); o.Offset != 0 {
		t.Fatalf("start offset %d", o.Offset)
	}
	if o, _ := end.Lookup("lo", 0); o.Offset != 100 {
		t.Fatalf("end offset %d", o.Offset)
	}
	byTs, err := adm.ListOffsetsAfterMilli(ctx, base.Add(42*time.Second).UnixMilli()-500, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := byTs.Lookup("lo", 0); o.Offset != 42 {
		t.Fatalf("offset for timestamp: %d, want 42", o.Offset)
	}
	// Max timestamp (-3).
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -3
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.Offset != 99 || p.Timestamp != base.Add(99*time.Second).UnixMilli() {
		t.Fatalf("max timestamp: offset %d ts %d", p.Offset, p.Timestamp)
	}

	// DeleteRecords moves the start; a consumer from the start sees the rest.
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"lo": {0: {Topic: "lo", Partition: 0, At: 60}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("lo", 0); r.Err != nil || r.LowWatermark != 60 {
		t.Fatalf("delete records: %+v", r)
	}
	got := consumeN(t, addr, "lo", 40)
	if got[0].Offset != 60 {
		t.Fatalf("first offset after DeleteRecords: %d", got[0].Offset)
	}
	// Beyond the high watermark is refused.
	dr, _ = adm.DeleteRecords(ctx, kadm.Offsets{"lo": {0: {Topic: "lo", Partition: 0, At: 1000}}})
	if r, _ := dr.Lookup("lo", 0); r.Err != kerr.OffsetOutOfRange {
		t.Fatalf("delete beyond HW: %v", r.Err)
	}
}

func TestOffsetOutOfRangeResets(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.KafkaAddr()
	createTopic(t, addr, "oor", 1, nil)
	cl := newClient(t, addr)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "oor", Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Consume from offset 500: out of range, reset to the start.
	c := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"oor": {0: kgo.NewOffset().At(500)}}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < 10 && cctx.Err() == nil {
		got = append(got, c.PollFetches(cctx).Records()...)
	}
	if len(got) != 10 || got[0].Offset != 0 {
		t.Fatalf("after reset got %d records", len(got))
	}
}

func TestLongPollWakesOnAppend(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.KafkaAddr()
	createTopic(t, addr, "lp", 1, nil)
	c := newClient(t, addr, kgo.ConsumeTopics("lp"), kgo.FetchMaxWait(10*time.Second))
	done := make(chan time.Time, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			if len(c.PollFetches(ctx).Records()) > 0 {
				done <- time.Now()
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond) // the consumer is now parked in a long poll
	p := newClient(t, addr)
	sent := time.Now()
	if err := p.ProduceSync(context.Background(), &kgo.Record{Topic: "lp", Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-done:
		// The fetch's max wait is 10 s: being woken well before it proves the
		// append woke the parked fetch.
		if got.Sub(sent) > 5*time.Second {
			t.Fatalf("consumer woke %v after the produce", got.Sub(sent))
		}
	case <-time.After(15 * time.Second):
		t.Fatal("consumer never received the record")
	}
}

func TestAutoCreateAndRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, map[string]string{"num.partitions": "2"})
	addr := n.KafkaAddr()
	cl := newClient(t, addr, kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	ctx := context.Background()
	var recs []*kgo.Record
	for i := 0; i < 50; i++ {
		recs = append(recs, &kgo.Record{Topic: "auto", Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n2 := startNode(t, dir, map[string]string{"num.partitions": "2"})
	got := consumeN(t, n2.KafkaAddr(), "auto", 50)
	parts := map[int32]bool{}
	for _, r := range got {
		parts[r.Partition] = true
	}
	if len(parts) != 2 {
		t.Fatalf("auto-created topic has records in %d partitions, want 2", len(parts))
	}
}
