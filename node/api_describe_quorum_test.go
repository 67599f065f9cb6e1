package node

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

func describeQuorum(t *testing.T, n *Node, version int16, topic string, partitions ...int32) *kmsg.DescribeQuorumResponse {
	t.Helper()
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rp.Partition = p
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return call(t, n, req, version).(*kmsg.DescribeQuorumResponse)
}

func TestDescribeQuorumSingleNode(t *testing.T) {
	n := startTestNode(t)
	ms := n.meta.(*meta.Store)
	host, portStr, err := net.SplitHostPort(n.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	for v := int16(0); v <= 2; v++ {
		resp := describeQuorum(t, n, v, "__cluster_metadata", 0)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: response %+v", v, resp)
		}
		p := resp.Topics[0].Partitions[0]
		st := ms.Stats()
		if p.ErrorCode != 0 || p.LeaderID != 1 {
			t.Fatalf("v%d: code %d leader %d, want 0 and node 1", v, p.ErrorCode, p.LeaderID)
		}
		if p.LeaderEpoch < 1 || uint64(p.LeaderEpoch) != st.Term {
			t.Fatalf("v%d: leader epoch %d, raft term %d", v, p.LeaderEpoch, st.Term)
		}
		// Starting the node committed its broker registration at least.
		if p.HighWatermark < 1 || uint64(p.HighWatermark) > st.CommitIndex {
			t.Fatalf("v%d: high watermark %d, commit index now %d", v, p.HighWatermark, st.CommitIndex)
		}
		if len(p.CurrentVoters) != 1 || p.CurrentVoters[0].ReplicaID != 1 || len(p.Observers) != 0 {
			t.Fatalf("v%d: voters %+v observers %+v, want only node 1 voting", v, p.CurrentVoters, p.Observers)
		}
		if leo := p.CurrentVoters[0].LogEndOffset; leo < p.HighWatermark {
			t.Fatalf("v%d: own log end %d below the high watermark %d", v, leo, p.HighWatermark)
		}
		if v < 2 {
			continue
		}
		if len(resp.Nodes) != 1 || resp.Nodes[0].NodeID != 1 || len(resp.Nodes[0].Listeners) != 1 {
			t.Fatalf("v2 nodes = %+v, want node 1 with one listener", resp.Nodes)
		}
		if l := resp.Nodes[0].Listeners[0]; l.Host != host || int(l.Port) != port {
			t.Fatalf("v2 listener %s:%d, want %s", l.Host, l.Port, n.KafkaAddr())
		}
	}
}

func TestDescribeQuorumWrongPartition(t *testing.T) {
	n := startTestNode(t)
	for _, c := range []struct {
		topic string
		parts []int32
	}{
		{"orders", []int32{0}},
		{"__cluster_metadata", []int32{1}},
		{"__cluster_metadata", []int32{-1}},
		{"", []int32{0}},
	} {
		resp := describeQuorum(t, n, 2, c.topic, c.parts...)
		if len(resp.Topics) != 1 || resp.Topics[0].Topic != c.topic || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("%q %v: response %+v", c.topic, c.parts, resp)
		}
		p := resp.Topics[0].Partitions[0]
		if p.Partition != c.parts[0] || p.ErrorCode != kerr.UnknownTopicOrPartition.Code || len(p.CurrentVoters) != 0 {
			t.Fatalf("%q %v: partition %+v, want UNKNOWN_TOPIC_OR_PARTITION", c.topic, c.parts, p)
		}
	}
	// Nothing asked, nothing answered.
	resp := call(t, n, kmsg.NewPtrDescribeQuorumRequest(), 2).(*kmsg.DescribeQuorumResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 0 || len(resp.Nodes) != 0 {
		t.Fatalf("empty request: %+v", resp)
	}
}

func TestDescribeQuorumObserver(t *testing.T) {
	n := startTestNode(t)
	ms := n.meta.(*meta.Store)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A non-voter that never answers: raft commits the change with the
	// single voter, and the member is listed as an observer, its log end
	// unknown. It is not a broker, so v2 gives no listener for it.
	if err := ms.AddNonvoter(ctx, 7, "127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	resp := describeQuorum(t, n, 2, "__cluster_metadata", 0)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.CurrentVoters) != 1 || p.CurrentVoters[0].ReplicaID != 1 {
		t.Fatalf("partition %+v, want node 1 the only voter", p)
	}
	if len(p.Observers) != 1 || p.Observers[0].ReplicaID != 7 || p.Observers[0].LogEndOffset != -1 {
		t.Fatalf("observers %+v, want node 7 with unknown log end", p.Observers)
	}
	if len(resp.Nodes) != 1 || resp.Nodes[0].NodeID != 1 {
		t.Fatalf("nodes %+v, want only broker 1", resp.Nodes)
	}
}

func TestApiVersionsAdvertisesDescribeQuorum(t *testing.T) {
	n := startTestNode(t)
	resp := call(t, n, kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse)
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 55 {
			if k.MinVersion != 0 || k.MaxVersion != 2 {
				t.Fatalf("DescribeQuorum advertised %d-%d, want 0-2", k.MinVersion, k.MaxVersion)
			}
			return
		}
	}
	t.Fatal("ApiVersions does not list DescribeQuorum (55)")
}
