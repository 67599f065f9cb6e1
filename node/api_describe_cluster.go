package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster (key 60): versions 0-2. Endpoint type 1 (brokers) only.
// v2 (KIP-1073) lists fenced brokers too when asked, marked IsFenced, so
// operators see a registered broker whose lease lapsed; without the flag
// only live brokers are listed, as in Metadata.
func init() { register(60, 0, 2, (*Node).handleDescribeCluster) }

func (n *Node) handleDescribeCluster(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := kmsg.NewPtrDescribeClusterResponse()
	if r.version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		rep.finish(resp)
		return
	}
	resp.EndpointType = 1
	resp.ClusterID = n.meta.ClusterID()
	resp.ControllerID = n.meta.ControllerID()
	brokers := n.meta.Brokers()
	if r.version < 2 || !req.IncludeFencedBrokers {
		brokers, _ = liveBrokers(brokers)
	}
	for _, b := range brokers {
		mb := kmsg.NewDescribeClusterResponseBroker()
		mb.NodeID = b.ID
		mb.Host, mb.Port = b.Addr(r.conn.listener.spec.Name)
		mb.IsFenced = b.Fenced
		if b.Rack != "" {
			rack := b.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	rep.finish(resp)
}
