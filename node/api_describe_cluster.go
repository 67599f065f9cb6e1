package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster (key 60): versions 0-1. Endpoint type 1 (brokers) only.
func init() { register(60, 0, 1, (*Node).handleDescribeCluster) }

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
	brokers, _ := liveBrokers(n.meta.Brokers())
	for _, b := range brokers {
		mb := kmsg.NewDescribeClusterResponseBroker()
		mb.NodeID, mb.Host, mb.Port = b.ID, b.Host, b.Port
		if b.Rack != "" {
			rack := b.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	rep.finish(resp)
}
