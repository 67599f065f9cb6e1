package node

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// DeleteTopics (key 20): versions 0-6; v6 names topics by name or ID. The
// topic leaves metadata at once; every node then closes and deletes its logs.
func init() { register(20, 0, 6, (*Node).handleDeleteTopics) }

func (n *Node) handleDeleteTopics(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := kmsg.NewPtrDeleteTopicsResponse()
	targets := req.Topics
	if r.version < 6 {
		targets = nil
		for _, name := range req.TopicNames {
			name := name
			targets = append(targets, kmsg.DeleteTopicsRequestTopic{Topic: &name})
		}
	}
	enabled := n.brokerCfg().Bool("delete.topic.enable")
	deleted := false
	for _, dt := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = dt.Topic, dt.TopicID
		var (
			t  meta.Topic
			ok bool
		)
		if dt.Topic != nil {
			t, ok = n.meta.Topic(*dt.Topic)
			if !ok {
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
		} else {
			t, ok = n.meta.TopicByID(dt.TopicID)
			if !ok {
				st.ErrorCode = kerr.UnknownTopicID.Code
			}
		}
		switch {
		case !ok:
		case !enabled:
			st.ErrorCode = kerr.TopicDeletionDisabled.Code
		case t.Internal:
			st.ErrorCode = kerr.InvalidTopicException.Code
			st.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("%s is an internal topic", t.Name))
		default:
			name := t.Name
			st.Topic, st.TopicID = &name, t.ID
			ctx, cancel := adminCtx(req.TimeoutMillis)
			err := n.meta.DeleteTopic(ctx, name)
			cancel()
			if err != nil {
				st.ErrorCode = errCode(err)
				st.ErrorMessage = errMsg(err)
			} else {
				deleted = true
				n.log.Info("deleted topic", "topic", name)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if deleted {
		ctx, cancel := adminCtx(req.TimeoutMillis)
		n.awaitOwnWrite(ctx, "deleted topics")
		cancel()
	}
	rep.finish(resp)
}
