package node

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions (key 37): versions 0-3. Grows a topic to Count partitions.
func init() { register(37, 0, 3, (*Node).handleCreatePartitions) }

func (n *Node) handleCreatePartitions(r *request, rep *reply) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := kmsg.NewPtrCreatePartitionsResponse()
	grown := false
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		t, ok := n.meta.Topic(rt.Topic)
		switch {
		case !ok:
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case rt.Count <= int32(len(t.Partitions)):
			st.ErrorCode = kerr.InvalidPartitions.Code
			st.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("topic %s has %d partitions; the new count %d must be larger", rt.Topic, len(t.Partitions), rt.Count))
		case rt.Count > 100000:
			st.ErrorCode = kerr.InvalidPartitions.Code
			st.ErrorMessage = kmsg.StringPtr("at most 100000 partitions")
		case rt.Assignment != nil && len(rt.Assignment) != int(rt.Count)-len(t.Partitions):
			st.ErrorCode = kerr.InvalidReplicaAssignment.Code
			st.ErrorMessage = kmsg.StringPtr("one assignment is needed per new partition")
		case req.ValidateOnly:
		default:
			var assign [][]int32
			for _, a := range rt.Assignment {
				assign = append(assign, append([]int32{}, a.Replicas...))
			}
			ctx, cancel := adminCtx(req.TimeoutMillis)
			err := n.meta.CreatePartitions(ctx, rt.Topic, rt.Count, assign)
			cancel()
			if err != nil {
				st.ErrorCode = errCode(err)
				st.ErrorMessage = errMsg(err)
			} else {
				grown = true
				n.log.Info("added partitions", "topic", rt.Topic, "partitions", rt.Count)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if grown {
		ctx, cancel := adminCtx(req.TimeoutMillis)
		n.awaitOwnWrite(ctx, "new partitions")
		cancel()
	}
	rep.finish(resp)
}
