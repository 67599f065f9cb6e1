package node

import (
	"slices"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
)

// AlterPartitionReassignments (key 45, versions 0-1) and
// ListPartitionReassignments (key 46, version 0), Kafka's KIP-455. A
// reassignment is recorded in the metadata (meta.Store.ReassignPartition):
// the target replicas that are new start following the leader at once
// (from the leader's local log start, so only the hot tail is copied; the
// cold tier is shared) and the controller completes the move once all of
// them are in the ISR, dropping the old replicas and moving leadership if
// its leader leaves. Null replicas cancel a reassignment in progress.
func init() {
	register(45, 0, 1, (*Node).handleAlterPartitionReassignments)
	register(46, 0, 0, (*Node).handleListPartitionReassignments)
}

func (n *Node) handleAlterPartitionReassignments(r *request, rep *reply) {
	req := r.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := kmsg.NewPtrAlterPartitionAssignmentsResponse()
	allowRFChange := r.version < 1 || req.AllowReplicationFactorChange
	ctx, cancel := adminCtx(req.TimeoutMillis)
	defer cancel()
	type job struct {
		ti, pi int
		topic  string
		part   int32
		target []int32
	}
	var jobs []job
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			st.Partitions = append(st.Partitions, sp)
			jobs = append(jobs, job{ti: len(resp.Topics), pi: len(st.Partitions) - 1, topic: rt.Topic, part: rp.Partition, target: rp.Replicas})
		}
		resp.Topics = append(resp.Topics, st)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var mu sync.Mutex
	changed := false
	for _, j := range jobs {
		sp := &resp.Topics[j.ti].Partitions[j.pi]
		if j.target != nil && !allowRFChange {
			if t, ok := n.meta.Topic(j.topic); ok && j.part >= 0 && int(j.part) < len(t.Partitions) &&
				len(t.Partitions[j.part].Original()) != len(j.target) {
				sp.ErrorCode = kerr.InvalidReplicationFactor.Code
				msg := "the reassignment would change the replication factor and the request does not allow it"
				sp.ErrorMessage = &msg
				continue
			}
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := n.meta.ReassignPartition(ctx, j.topic, j.part, slices.Clone(j.target))
			if err == nil {
				mu.Lock()
				changed = true
				mu.Unlock()
				n.metrics.reassignments.Inc()
				n.log.Info("partition reassignment requested", "topic", j.topic, "partition", j.part, "target", j.target, "cancel", j.target == nil)
			}
			sp.ErrorCode, sp.ErrorMessage = errCode(err), errMsg(err)
		}()
	}
	wg.Wait()
	if changed {
		n.awaitOwnWrite(ctx, "partition reassignments")
	}
	rep.finish(resp)
}

func (n *Node) handleListPartitionReassignments(r *request, rep *reply) {
	req := r.kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := kmsg.NewPtrListPartitionReassignmentsResponse()
	add := func(t meta.Topic, p meta.Partition) {
		if !p.Reassigning() {
			return
		}
		i := slices.IndexFunc(resp.Topics, func(rt kmsg.ListPartitionReassignmentsResponseTopic) bool { return rt.Topic == t.Name })
		if i < 0 {
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = t.Name
			resp.Topics = append(resp.Topics, rt)
			i = len(resp.Topics) - 1
		}
		sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		sp.Partition = p.Index
		sp.Replicas = slices.Clone(p.Replicas)
		sp.AddingReplicas = slices.Clone(p.Adding)
		sp.RemovingReplicas = slices.Clone(p.Removing)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
	}
	if req.Topics == nil {
		for _, t := range n.meta.Topics() {
			for _, p := range t.Partitions {
				add(t, p)
			}
		}
	} else {
		for _, rt := range req.Topics {
			t, ok := n.meta.Topic(rt.Topic)
			if !ok {
				continue // Kafka lists only what is in progress
			}
			for _, idx := range rt.Partitions {
				if idx >= 0 && int(idx) < len(t.Partitions) {
					add(t, t.Partitions[idx])
				}
			}
		}
	}
	rep.finish(resp)
}
