package node

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/security"

	"github.com/stratalog/strata/meta"
)

// startTestNode starts a single node in a temporary directory.
func startTestNode(t *testing.T) *Node {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// call dispatches one request to n as a connection would and returns the
// response.
func call(t *testing.T, n *Node, req kmsg.Request, version int16) kmsg.Response {
	t.Helper()
	c := &conn{n: n, log: n.log, closed: make(chan struct{}), listener: n.sec.listeners[0], principal: security.Anonymous}
	r, err := c.decode(frameBody(req, version))
	if err != nil {
		t.Fatalf("decoding %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	rep := newReply()
	n.dispatch(r, rep)
	select {
	case <-rep.done:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not complete", kmsg.NameForKey(req.Key()))
	}
	defer rep.releaseSplice()
	return rep.resp
}

// testBatch encodes a one-record v2 batch without a producer ID.
func testBatch(value string) []byte {
	rec := kmsg.NewRecord()
	rec.Value = []byte(value)
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	b := kmsg.NewRecordBatch()
	b.Magic = 2
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = -1, -1, -1
	b.FirstTimestamp = time.Now().UnixMilli()
	b.MaxTimestamp = b.FirstTimestamp
	b.NumRecords = 1
	b.Records = rec.AppendTo(nil)
	b.Length = int32(len(b.AppendTo(nil)) - 12)
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

func produceCode(t *testing.T, n *Node, topic string, part int32) int16 {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = part
	rp.Records = testBatch("v")
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := call(t, n, req, 9).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func fetchCode(t *testing.T, n *Node, topic string, part int32) int16 {
	t.Helper()
	return fetchCodeV(t, n, topic, part, 11)
}

func fetchCodeV(t *testing.T, n *Node, topic string, part int32, version int16) int16 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition = part
	rp.CurrentLeaderEpoch = -1
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := call(t, n, req, version).(*kmsg.FetchResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func listOffsetsCode(t *testing.T, n *Node, topic string, part int32) int16 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = part
	rp.CurrentLeaderEpoch = -1
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := call(t, n, req, 5).(*kmsg.ListOffsetsResponse)
	return resp.Topics[0].Partitions[0].ErrorCode
}

// twoBrokerSetup registers a second, fake broker 2 and creates topic "roles"
// with partitions 0 and 1 on [1 2], 0 led by 2 and 1 led here, and
// topic "away" with one partition on broker 2 only.
func twoBrokerSetup(t *testing.T) (*Node, *meta.Store) {
	t.Helper()
	n := startTestNode(t)
	ms := n.meta.(*meta.Store)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ms.RegisterBroker(ctx, meta.Broker{ID: 2, Host: "127.0.0.1", Port: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := ms.CreateTopic(ctx, meta.TopicSpec{Name: "roles", NumPartitions: 2, ReplicationFactor: 2,
		Assignments: map[int32][]int32{0: {1, 2}, 1: {1, 2}}, Configs: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ms.CreateTopic(ctx, meta.TopicSpec{Name: "away", NumPartitions: 1, ReplicationFactor: 1,
		Assignments: map[int32][]int32{0: {2}}, Configs: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	rt, _ := ms.Topic("roles")
	if err := ms.UpdatePartition(ctx, meta.PartitionUpdate{Topic: "roles", Partition: 0,
		ExpectedLeaderEpoch: rt.Partitions[0].LeaderEpoch, Leader: 2, ISR: []int32{1, 2}}); err != nil {
		t.Fatal(err)
	}
	// Broker 2 never fetches: roles-1's ISR is this node alone, so its
	// acks=all writes commit here.
	if err := ms.UpdatePartition(ctx, meta.PartitionUpdate{Topic: "roles", Partition: 1,
		ExpectedLeaderEpoch: rt.Partitions[1].LeaderEpoch, Leader: 1, ISR: []int32{1}}); err != nil {
		t.Fatal(err)
	}
	if err := n.waitVisible(ctx, ms.Version()); err != nil {
		t.Fatal(err)
	}
	return n, ms
}

func TestLeadershipRouting(t *testing.T) {
	n, ms := twoBrokerSetup(t)
	p := n.parts.get("roles", 0)
	if p == nil {
		t.Fatal("roles-0 is a replica here but not hosted")
	}
	if l := p.leadership(); l.isLeader() || l.leader != 2 || l.epoch < 1 {
		t.Fatalf("roles-0 leadership = %+v, want follower of 2 at epoch >= 1", *l)
	}
	if (tierSource{p}).IsLeader() {
		t.Fatal("a follower must not upload")
	}
	if lp := n.parts.get("roles", 1); lp == nil || !lp.leadership().isLeader() || !(tierSource{lp}).IsLeader() {
		t.Fatal("roles-1 should be led here")
	}
	notLeader, unknown := kerr.NotLeaderForPartition.Code, kerr.UnknownTopicOrPartition.Code
	cases := []struct {
		name  string
		topic string
		part  int32
		want  int16
		fetch int16 // Fetch v11+: a follower serves consumers (KIP-392)
	}{
		{"follower", "roles", 0, notLeader, 0},
		{"leader", "roles", 1, 0, 0},
		{"not hosted", "away", 0, notLeader, notLeader},
		{"no such partition", "roles", 5, unknown, unknown},
		{"no such topic", "nope", 0, unknown, unknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := produceCode(t, n, c.topic, c.part); got != c.want {
				t.Errorf("produce: code %d, want %d", got, c.want)
			}
			if got := fetchCode(t, n, c.topic, c.part); got != c.fetch {
				t.Errorf("fetch: code %d, want %d", got, c.fetch)
			}
			if got := fetchCodeV(t, n, c.topic, c.part, 10); got != c.want {
				t.Errorf("fetch v10: code %d, want %d", got, c.want)
			}
			if got := listOffsetsCode(t, n, c.topic, c.part); got != c.want {
				t.Errorf("list offsets: code %d, want %d", got, c.want)
			}
		})
	}

	// become-leader: the watcher applies the new leader without a restart.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ms.UpdatePartition(ctx, meta.PartitionUpdate{Topic: "roles", Partition: 0,
		ExpectedLeaderEpoch: p.leadership().epoch, Leader: 1, ISR: []int32{1}}); err != nil {
		t.Fatal(err)
	}
	if err := n.waitVisible(ctx, ms.Version()); err != nil {
		t.Fatal(err)
	}
	if l := p.leadership(); !l.isLeader() || l.leader != 1 || len(l.isr) != 1 {
		t.Fatalf("roles-0 after becoming leader = %+v", *l)
	}
	if got := produceCode(t, n, "roles", 0); got != 0 {
		t.Fatalf("produce to roles-0 after becoming leader: code %d", got)
	}
}

func TestCreateTopicsThenProduce(t *testing.T) {
	n := startTestNode(t)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = "fresh"
	rt.NumPartitions, rt.ReplicationFactor = 3, 1
	req.Topics = append(req.Topics, rt)
	resp := call(t, n, req, 7).(*kmsg.CreateTopicsResponse)
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create: code %d", code)
	}
	for part := int32(0); part < 3; part++ {
		if code := produceCode(t, n, "fresh", part); code != 0 {
			t.Fatalf("produce to fresh-%d right after create: code %d", part, code)
		}
	}
}

func TestMetadataHidesFencedBrokers(t *testing.T) {
	n, ms := twoBrokerSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := ms.SetBrokerFenced(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("roles")
	mreq.Topics = append(mreq.Topics, mt)
	resp := call(t, n, mreq, 12).(*kmsg.MetadataResponse)
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != 1 {
		t.Fatalf("brokers = %+v, want only broker 1", resp.Brokers)
	}
	parts := resp.Topics[0].Partitions
	if p := parts[0]; p.ErrorCode != kerr.LeaderNotAvailable.Code || p.Leader != -1 ||
		len(p.OfflineReplicas) != 1 || p.OfflineReplicas[0] != 2 {
		t.Fatalf("roles-0 with fenced leader = code %d leader %d offline %v", p.ErrorCode, p.Leader, p.OfflineReplicas)
	}
	if p := parts[1]; p.ErrorCode != 0 || p.Leader != 1 || len(p.OfflineReplicas) != 1 || p.OfflineReplicas[0] != 2 {
		t.Fatalf("roles-1 = code %d leader %d offline %v", p.ErrorCode, p.Leader, p.OfflineReplicas)
	}
	dresp := call(t, n, kmsg.NewPtrDescribeClusterRequest(), 0).(*kmsg.DescribeClusterResponse)
	if len(dresp.Brokers) != 1 || dresp.Brokers[0].NodeID != 1 {
		t.Fatalf("describe cluster brokers = %+v, want only broker 1", dresp.Brokers)
	}
}

func TestWaitVisibleHonoursContext(t *testing.T) {
	n := startTestNode(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.waitVisible(ctx, n.meta.Version()+1000); err == nil {
		t.Fatal("waitVisible for a future version returned without error on a cancelled context")
	}
	if err := n.waitVisible(context.Background(), n.meta.Version()); err != nil {
		t.Fatalf("waitVisible for the applied version: %v", err)
	}
}

func TestGroupCoordinatorAfterOffsetsTopicCreated(t *testing.T) {
	n := startTestNode(t)
	if _, err := n.autoCreateTopic("any"); err != nil {
		t.Fatal(err)
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "g"
	fresp := call(t, n, fc, 3).(*kmsg.FindCoordinatorResponse)
	if fresp.ErrorCode != 0 || fresp.NodeID != 1 {
		t.Fatalf("find coordinator: code %d node %d", fresp.ErrorCode, fresp.NodeID)
	}
	parts := groupBackend{n}.LedPartitions()
	if want := int(n.groups.numParts); len(parts) != want {
		t.Fatalf("led __consumer_offsets partitions = %d, want %d", len(parts), want)
	}
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group = "g"
	oc.Generation = -1
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = "any"
	op := kmsg.NewOffsetCommitRequestTopicPartition()
	op.Offset = 7
	ot.Partitions = append(ot.Partitions, op)
	oc.Topics = append(oc.Topics, ot)
	// The coordinator loads its partitions asynchronously; a commit may
	// first answer COORDINATOR_LOAD_IN_PROGRESS.
	deadline := time.Now().Add(time.Minute)
	for {
		oresp := call(t, n, oc, 8).(*kmsg.OffsetCommitResponse)
		code := oresp.Topics[0].Partitions[0].ErrorCode
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offset commit: code %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTransactionalIDAfterTxnTopicCreated(t *testing.T) {
	n := startTestNode(t)
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = kmsg.StringPtr("tx")
	req.TransactionTimeoutMillis = 60000
	deadline := time.Now().Add(time.Minute)
	for {
		resp := call(t, n, req, 4).(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode == 0 {
			if resp.ProducerID < 0 {
				t.Fatalf("producer ID %d", resp.ProducerID)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("init producer ID: code %d", resp.ErrorCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
