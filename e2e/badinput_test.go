package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"math/rand"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawRequest writes one framed request and reads one framed response.
func rawRequest(t *testing.T, c net.Conn, corr int32, req kmsg.Request) []byte {
	t.Helper()
	b := make([]byte, 4, 256)
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	return readFrame(t, c)
}

func readFrame(t *testing.T, c net.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var sz [4]byte
	if _, err := io.ReadFull(c, sz[:]); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	return body
}

// expectClosed asserts the broker closes the connection.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := c.Read(b[:]); err == nil {
		t.Fatal("connection still open")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("connection neither answered nor closed")
	}
}

func TestMalformedFramesCloseTheConnection(t *testing.T) {
	n := startNode(t, "", map[string]string{"socket.request.max.bytes": "1048576"})
	addr := n.KafkaAddr()
	cases := map[string][]byte{
		"oversized":       binary.BigEndian.AppendUint32(nil, 200<<20),
		"negative size":   binary.BigEndian.AppendUint32(nil, 0xffffffff),
		"tiny":            append(binary.BigEndian.AppendUint32(nil, 2), 0, 1),
		"unknown api key": append(binary.BigEndian.AppendUint32(nil, 10), 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff),
		"bad version":     append(binary.BigEndian.AppendUint32(nil, 10), 0, 0, 0x7f, 0, 0, 0, 0, 1, 0xff, 0xff),
		"truncated body":  append(binary.BigEndian.AppendUint32(nil, 12), 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0, 0),
	}
	for name, frame := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(frame); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
		})
	}
	// Random garbage never takes the broker down.
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 8+rng.Intn(200))
		rng.Read(junk)
		binary.BigEndian.PutUint32(junk, uint32(len(junk)-4))
		_, _ = c.Write(junk)
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, _ = io.Copy(io.Discard, c)
		c.Close()
	}
	// Still healthy.
	createTopic(t, addr, "still-alive", 1, nil)
}

func TestApiVersionsTooNewGetsV0Answer(t *testing.T) {
	n := startNode(t, "", nil)
	c, err := net.Dial("tcp", n.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	frame := rawRequest(t, c, 1, req)
	_ = frame
	// Now a version beyond what is served: hand-patch the version field.
	b := make([]byte, 4)
	b = binary.BigEndian.AppendUint16(b, 18)
	b = binary.BigEndian.AppendUint16(b, 99)
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, 0xffff)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	body := readFrame(t, c)
	if corr := int32(binary.BigEndian.Uint32(body)); corr != 7 {
		t.Fatalf("correlation %d", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestCorruptBatchesAreRefusedAndLogIntact(t *testing.T) {
	n := startNode(t, "", map[string]string{"message.max.bytes": "10000"})
	addr := n.KafkaAddr()
	createTopic(t, addr, "corrupt", 1, nil)
	cl := newClient(t, addr)
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "corrupt", Value: []byte("good-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	good := encodeBatch([]byte("payload"))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-2] ^= 0xff
	huge := encodeBatch(bytes.Repeat([]byte{'z'}, 20000))
	cases := map[string]struct {
		records []byte
		want    *kerr.Error
	}{
		"crc mismatch":   {flipped, kerr.CorruptMessage},
		"truncated":      {good[:len(good)-5], kerr.CorruptMessage},
		"wrong magic":    {withByte(good, 16, 1), kerr.InvalidRecord},
		"too large":      {huge, kerr.MessageTooLarge},
		"garbage":        {bytes.Repeat([]byte{0xab}, 100), kerr.CorruptMessage},
		"trailing bytes": {append(bytes.Clone(good), 1, 2, 3), kerr.CorruptMessage},
	}
	for name, tc := range cases {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "corrupt"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = tc.records
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != tc.want.Code {
			t.Fatalf("%s: error %v, want %v", name, kerr.ErrorForCode(code), tc.want)
		}
	}
	// Unknown partition and topic.
	for _, tc := range []struct {
		topic string
		part  int32
	}{{"corrupt", 7}, {"nope-not-here", 0}} {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = 1
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = tc.topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = tc.part
		rp.Records = good
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("%s[%d]: %v", tc.topic, tc.part, kerr.ErrorForCode(code))
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "corrupt", Value: []byte("good-2")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consumeN(t, addr, "corrupt", 2)
	if string(got[0].Value) != "good-1" || string(got[1].Value) != "good-2" || got[1].Offset != 1 {
		t.Fatalf("log after bad input: %q@%d %q@%d", got[0].Value, got[0].Offset, got[1].Value, got[1].Offset)
	}
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func withByte(b []byte, i int, v byte) []byte {
	c := bytes.Clone(b)
	c[i] = v
	return c
}

// encodeBatch builds a valid uncompressed v2 batch holding one record.
func encodeBatch(value []byte) []byte {
	rec := kmsg.NewRecord()
	rec.Value = value
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the encoded Length(0) took one byte
	recBytes := rec.AppendTo(nil)
	batch := kmsg.NewRecordBatch()
	batch.Magic = 2
	batch.ProducerID = -1
	batch.ProducerEpoch = -1
	batch.FirstSequence = -1
	batch.NumRecords = 1
	batch.FirstTimestamp = time.Now().UnixMilli()
	batch.MaxTimestamp = batch.FirstTimestamp
	batch.Records = recBytes
	raw := batch.AppendTo(nil)
	batch.Length = int32(len(raw) - 12)
	raw = batch.AppendTo(nil)
	batch.CRC = int32(crc32c(raw[21:]))
	return batch.AppendTo(nil)
}
