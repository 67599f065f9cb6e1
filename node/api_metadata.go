package node

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// Metadata (key 3): versions 0-12. Topic IDs from v10, lookup by topic ID
// in v12. Unknown topics are created when auto.create.topics.enable is true
// and the request allows it (v4+; always for older versions), as Kafka does.
func init() { register(3, 0, 12, (*Node).handleMetadata) }

func (n *Node) handleMetadata(r *request, rep *reply) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := kmsg.NewPtrMetadataResponse()
	brokers, fenced := liveBrokers(n.meta.Brokers())
	for _, b := range brokers {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID = b.ID
		mb.Host, mb.Port = b.Addr(r.conn.listener.spec.Name)
		if b.Rack != "" {
			rack := b.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	cid := n.meta.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = n.meta.ControllerID()

	all := req.Topics == nil || (r.version == 0 && len(req.Topics) == 0)
	if all {
		for _, t := range n.meta.Topics() {
			resp.Topics = append(resp.Topics, n.metadataTopic(t, fenced))
		}
		rep.finish(resp)
		return
	}
	autoCreate := n.brokerCfg().Bool("auto.create.topics.enable") && (r.version < 4 || req.AllowAutoTopicCreation) && !n.readReplica()
	for _, rt := range req.Topics {
		var (
			t  meta.Topic
			ok bool
		)
		switch {
		case rt.Topic != nil:
			t, ok = n.meta.Topic(*rt.Topic)
		case rt.TopicID != [16]byte{}:
			t, ok = n.meta.TopicByID(rt.TopicID)
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		if ok {
			resp.Topics = append(resp.Topics, n.metadataTopic(t, fenced))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = rt.Topic
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		}
		if err := validTopicName(name); err != nil {
			mt.ErrorCode = kerr.InvalidTopicException.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		if !autoCreate {
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		created, err := n.autoCreateTopic(name)
		if err != nil {
			mt.ErrorCode = errCode(err)
			if errors.Is(err, meta.ErrTopicExists) {
				mt.ErrorCode = kerr.LeaderNotAvailable.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, n.metadataTopic(created, fenced))
	}
	rep.finish(resp)
}

// autoCreateTopic creates a topic with the broker's defaults and waits until
// this node has applied it, so a produce right after finds its logs.
func (n *Node) autoCreateTopic(name string) (meta.Topic, error) {
	b := n.brokerCfg()
	ctx, cancel := adminCtx(0)
	defer cancel()
	t, err := n.meta.CreateTopic(ctx, meta.TopicSpec{
		Name:              name,
		NumPartitions:     int32(b.Int64("num.partitions")),
		ReplicationFactor: int16(b.Int64("default.replication.factor")),
		Configs:           map[string]string{},
	})
	if err != nil {
		return meta.Topic{}, err
	}
	n.log.Info("auto-created topic", "topic", name, "partitions", len(t.Partitions))
	n.awaitOwnWrite(ctx, "auto-created topic", "topic", name)
	return t, nil
}

// liveBrokers returns the registered brokers that are not fenced, and the
// set of fenced broker IDs.
func liveBrokers(all []meta.Broker) ([]meta.Broker, map[int32]bool) {
	live := make([]meta.Broker, 0, len(all))
	fenced := map[int32]bool{}
	for _, b := range all {
		if b.Fenced {
			fenced[b.ID] = true
			continue
		}
		live = append(live, b)
	}
	return live, fenced
}

// metadataTopic describes a topic's partitions. A partition without a
// leader, or whose leader is fenced, reports LEADER_NOT_AVAILABLE with
// leader -1; fenced replicas are listed as offline. So does a partition
// this node leads while stranded (replication_leader.go): its metadata is
// likely stale, and a client that asks elsewhere finds the new leader.
func (n *Node) metadataTopic(t meta.Topic, fenced map[int32]bool) kmsg.MetadataResponseTopic {
	now := time.Now()
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = t.Internal
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Index
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas = append([]int32{}, p.Replicas...)
		mp.ISR = append([]int32{}, p.ISR...)
		mp.OfflineReplicas = []int32{}
		for _, id := range p.Replicas {
			if fenced[id] {
				mp.OfflineReplicas = append(mp.OfflineReplicas, id)
			}
		}
		if p.Leader < 0 || fenced[p.Leader] || (p.Leader == n.cfg.NodeID && n.strandedLeader(t.Name, p.Index, now)) {
			mp.Leader = -1
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
