package e2e

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestLeaderHints (KIP-951): a broker that does not lead a partition
// answers Produce v10+ and Fetch v16 with NOT_LEADER_OR_FOLLOWER, the
// current leader and its epoch, and that leader's endpoint, so a client
// moves without refreshing metadata first.
func TestLeaderHints(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestCluster(t, 3)
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Node 1 is no replica: a follower would serve the Fetch itself (Fetch
	// v11+, KIP-392), so the refusal is asked of a broker outside the set.
	createAssigned(t, nodes[0].kafka, "hinted", 1, func(int32) []int32 { return []int32{nodes[1].id, nodes[2].id} })
	awaitFullISR(t, nodes[0].kafka, "hinted", 2, 30*time.Second)
	md, err := newAdmin(t, nodes[0].kafka).Metadata(ctx, "hinted")
	if err != nil {
		t.Fatal(err)
	}
	tp := md.Topics["hinted"]
	leader, epoch := tp.Partitions[0].Leader, tp.Partitions[0].LeaderEpoch
	if leader != nodes[1].id {
		t.Fatalf("leader %d, want %d", leader, nodes[1].id)
	}
	// Ask another broker, as a client with stale metadata would.
	follower := newClient(t, nodes[0].kafka).Broker(int(nodes[0].id))

	produce := kmsg.NewPtrProduceRequest()
	produce.Version = 11
	produce.Acks, produce.TimeoutMillis = -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "hinted"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = encodeBatch([]byte("x"))
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)
	resp, err := follower.Request(ctx, produce)
	if err != nil {
		t.Fatal(err)
	}
	pr := resp.(*kmsg.ProduceResponse)
	sp := pr.Topics[0].Partitions[0]
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != leader || sp.CurrentLeader.LeaderEpoch != epoch {
		t.Fatalf("produce to a non-leader: %v, hint %+v, want leader %d epoch %d", kerr.ErrorForCode(sp.ErrorCode), sp.CurrentLeader, leader, epoch)
	}
	if len(pr.Brokers) != 1 || pr.Brokers[0].NodeID != leader || net.JoinHostPort(pr.Brokers[0].Host, strconv.Itoa(int(pr.Brokers[0].Port))) != nodes[1].kafka {
		t.Fatalf("produce hint endpoints %+v, want broker %d at %s", pr.Brokers, leader, nodes[1].kafka)
	}

	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version = 16
	fetch.ReplicaID, fetch.ReplicaState.ID = -1, -1
	fetch.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.TopicID = tp.ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.CurrentLeaderEpoch, fp.PartitionMaxBytes, fp.LogStartOffset, fp.LastFetchedEpoch = -1, 1<<20, -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	fresp, err := follower.Request(ctx, fetch)
	if err != nil {
		t.Fatal(err)
	}
	fr := fresp.(*kmsg.FetchResponse)
	fsp := fr.Topics[0].Partitions[0]
	if fsp.ErrorCode != kerr.NotLeaderForPartition.Code || fsp.CurrentLeader.LeaderID != leader || fsp.CurrentLeader.LeaderEpoch != epoch {
		t.Fatalf("fetch from a non-replica: %v, hint %+v, want leader %d epoch %d", kerr.ErrorForCode(fsp.ErrorCode), fsp.CurrentLeader, leader, epoch)
	}
	if len(fr.Brokers) != 1 || fr.Brokers[0].NodeID != leader {
		t.Fatalf("fetch hint endpoints %+v, want broker %d", fr.Brokers, leader)
	}
	// The leader itself gives no hint for a partition it leads.
	cl := newClient(t, nodes[1].kafka, kgo.DefaultProduceTopic("hinted"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
