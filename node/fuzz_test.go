package node

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/security"
)

var (
	fuzzOnce sync.Once
	fuzzNode *Node
	fuzzErr  error
)

// fuzzTarget starts one node for the whole fuzz run, with a topic to aim at.
func fuzzTarget(t testing.TB) *Node {
	fuzzOnce.Do(func() {
		dir, err := os.MkdirTemp("", "strata-fuzz")
		if err != nil {
			fuzzErr = err
			return
		}
		cfg := DefaultConfig()
		cfg.DataDir = dir
		cfg.KafkaAddr = "127.0.0.1:0"
		cfg.HTTPAddr = ""
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		cfg.Settings = map[string]string{"log.segment.bytes": "65536"}
		fuzzNode, fuzzErr = Start(context.Background(), cfg)
		if fuzzErr == nil {
			_, fuzzErr = fuzzNode.autoCreateTopic("fuzz")
		}
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzNode
}

// frameBody encodes a request body the way a client frames it (without the
// 4-byte size).
func frameBody(req kmsg.Request, version int16) []byte {
	req.SetVersion(version)
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 'f')
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// FuzzRequest feeds arbitrary frame bodies through the request path: header
// and body decoding, dispatch to the handler against a live node, and
// encoding of the response. Nothing may panic or hang.
func FuzzRequest(f *testing.F) {
	for key, a := range apis {
		req := kmsg.RequestForKey(key)
		f.Add(frameBody(req, a.max))
		f.Add(frameBody(kmsg.RequestForKey(key), a.min))
	}
	prod := kmsg.NewPtrProduceRequest()
	prod.Acks = 1
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "fuzz"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = make([]byte, 80)
	pt.Partitions = append(pt.Partitions, pp)
	prod.Topics = append(prod.Topics, pt)
	f.Add(frameBody(prod, 9))
	fetch := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "fuzz"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	f.Add(frameBody(fetch, 11))

	f.Fuzz(func(t *testing.T, body []byte) {
		n := fuzzTarget(t)
		c := &conn{n: n, log: n.log, closed: make(chan struct{}), listener: n.sec.listeners[0], principal: security.Anonymous}
		req, err := c.decode(body)
		if err != nil || req.kreq == nil {
			return
		}
		// Keep fuzzed requests from waiting or creating unbounded state.
		switch r := req.kreq.(type) {
		case *kmsg.FetchRequest:
			r.MaxWaitMillis = 0
		case *kmsg.MetadataRequest:
			r.AllowAutoTopicCreation = false
		case *kmsg.CreateTopicsRequest:
			r.ValidateOnly = true
		case *kmsg.CreatePartitionsRequest:
			r.ValidateOnly = true
		case *kmsg.DeleteTopicsRequest, *kmsg.DeleteRecordsRequest, *kmsg.AlterConfigsRequest, *kmsg.IncrementalAlterConfigsRequest:
			return
		}
		rep := newReply()
		n.dispatch(req, rep)
		select {
		case <-rep.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s v%d did not complete", kmsg.NameForKey(req.key), req.version)
		}
		if rep.resp != nil {
			rep.resp.SetVersion(req.version)
			_ = rep.resp.AppendTo(nil)
		}
		rep.releaseSplice()
	})
}
