package node

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// DescribeQuorum (key 55): versions 0-2. The quorum is the metadata raft,
// named as Kafka names its own: partition 0 of __cluster_metadata. Any node
// answers from its own raft view (clients send the request to the
// controller, which is the raft leader); the log end offset is known only
// for the answering node, -1 for the others. Nodes (v2) carry the Kafka
// listener of every member registered as a broker.
func init() { register(55, 0, 2, (*Node).handleDescribeQuorum) }

const (
	quorumTopic     = "__cluster_metadata"
	quorumPartition = 0
	// quorumListener names the one listener given per node in v2 Nodes.
	quorumListener = "PLAINTEXT"
)

// quorumView is the raft state DescribeQuorum reports; *meta.Store
// implements it, other Metadata implementations need not.
type quorumView interface {
	Stats() meta.RaftStats
	Servers() ([]meta.Server, error)
}

var _ quorumView = (*meta.Store)(nil)

func (n *Node) handleDescribeQuorum(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DescribeQuorumRequest)
	resp := kmsg.NewPtrDescribeQuorumResponse()
	qv, ok := n.mirrorMeta.(quorumView)
	if !ok {
		resp.ErrorCode = kerr.UnknownServerError.Code
		resp.ErrorMessage = kmsg.StringPtr("this node's metadata has no raft quorum to describe")
		rep.finish(resp)
		return
	}
	var (
		servers []meta.Server
		stats   meta.RaftStats
		err     error
		loaded  bool
	)
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeQuorumResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewDescribeQuorumResponseTopicPartition()
			p.Partition = rp.Partition
			switch {
			case rt.Topic != quorumTopic || rp.Partition != quorumPartition:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				if !loaded {
					// Stats first: a server list read after it is at least
					// as new, so the leader it names is in the list unless
					// it was removed in between.
					stats = qv.Stats()
					servers, err = qv.Servers()
					loaded = true
				}
				if err != nil {
					// The raft configuration is unreadable only while the
					// store shuts down: another node can answer.
					p.ErrorCode = kerr.NotLeaderForPartition.Code
					p.ErrorMessage = kmsg.StringPtr(err.Error())
					break
				}
				n.fillQuorumPartition(&p, stats, servers)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if loaded && err == nil && r.version >= 2 {
		resp.Nodes = quorumNodes(servers, n.meta.Brokers())
	}
	rep.finish(resp)
}

// fillQuorumPartition sets the leader, epoch (the raft term), high
// watermark (the commit index) and the voters and observers (non-voters).
func (n *Node) fillQuorumPartition(p *kmsg.DescribeQuorumResponseTopicPartition, st meta.RaftStats, servers []meta.Server) {
	p.LeaderID = st.LeaderID
	p.LeaderEpoch = int32(min(st.Term, math.MaxInt32))
	p.HighWatermark = int64(min(st.CommitIndex, math.MaxInt64))
	self := n.cfg.NodeID
	for _, srv := range servers {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID = srv.ID
		rs.LogEndOffset = -1
		if srv.ID == self {
			rs.LogEndOffset = int64(min(st.LastLogIndex, math.MaxInt64))
			// A follower's last contact with the leader is the nearest
			// it knows to the leader's last fetch from it.
			if srv.ID != st.LeaderID && !st.LastContact.IsZero() {
				rs.LastFetchTimestamp = st.LastContact.UnixMilli()
			}
		}
		if srv.Suffrage == meta.Voter {
			p.CurrentVoters = append(p.CurrentVoters, rs)
		} else {
			p.Observers = append(p.Observers, rs)
		}
	}
}

// quorumNodes lists the Kafka listener of each raft member registered as
// a broker, fenced or not; a member that is not a broker is left out.
func quorumNodes(servers []meta.Server, brokers []meta.Broker) []kmsg.DescribeQuorumResponseNode {
	byID := make(map[int32]meta.Broker, len(brokers))
	for _, b := range brokers {
		byID[b.ID] = b
	}
	var out []kmsg.DescribeQuorumResponseNode
	for _, srv := range servers {
		b, ok := byID[srv.ID]
		if !ok || b.Port < 0 || b.Port > math.MaxUint16 {
			continue
		}
		nd := kmsg.NewDescribeQuorumResponseNode()
		nd.NodeID = srv.ID
		l := kmsg.NewDescribeQuorumResponseNodeListener()
		l.Name, l.Host, l.Port = quorumListener, b.Host, uint16(b.Port)
		nd.Listeners = append(nd.Listeners, l)
		out = append(out, nd)
	}
	return out
}
