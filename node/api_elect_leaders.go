package node

import (
	"context"
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/controller"
	"github.com/stratalog/strata/meta"
)

// ElectLeaders (key 43): versions 0-2. Preferred elections move a
// partition's leadership back to its first replica when that replica is
// live and in sync; unclean elections give a leaderless partition a leader,
// out of sync if nothing else is live. Each decision is
// controller.PlanElection over the committed metadata, proposed through the
// quorum with the partition's leader epoch and ISR as guards; a guard that
// fails because the partition changed meanwhile is planned again.
func init() { register(43, 0, 2, (*Node).handleElectLeaders) }

// electAttempts bounds how often one partition's election is replanned
// after its guards went stale.
const electAttempts = 3

func (n *Node) handleElectLeaders(r *request, rep *reply) {
	req := r.kreq.(*kmsg.ElectLeadersRequest)
	resp := kmsg.NewPtrElectLeadersResponse()
	kind := controller.ElectPreferred
	if r.version >= 1 {
		kind = controller.ElectionType(req.ElectionType)
	}
	if kind != controller.ElectPreferred && kind != controller.ElectUnclean {
		resp.ErrorCode = kerr.InvalidRequest.Code
		rep.finish(resp)
		return
	}
	type target struct {
		topic string
		part  int32
	}
	// Null topics asks for every partition; partitions that already have
	// the leader asked for are then left out of the answer, as Kafka does.
	all := req.Topics == nil
	var targets []target
	if all {
		for _, t := range n.meta.Topics() {
			for _, p := range t.Partitions {
				targets = append(targets, target{t.Name, p.Index})
			}
		}
	} else {
		seen := map[target]bool{}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				if tg := (target{rt.Topic, p}); !seen[tg] {
					seen[tg] = true
					targets = append(targets, tg)
				}
			}
		}
	}
	ctx, cancel := adminCtx(req.TimeoutMillis)
	defer cancel()
	errs := make([]error, len(targets))
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = n.electLeader(ctx, tg.topic, tg.part, kind)
		}()
	}
	wg.Wait()
	byTopic := map[string]int{}
	changed := false
	for i, tg := range targets {
		err := errs[i]
		if all && errors.Is(err, controller.ErrElectionNotNeeded) {
			continue
		}
		changed = changed || err == nil
		ti, ok := byTopic[tg.topic]
		if !ok {
			ti = len(resp.Topics)
			byTopic[tg.topic] = ti
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = tg.topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = tg.part
		rp.ErrorCode, rp.ErrorMessage = electionError(err)
		resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, rp)
	}
	if changed {
		n.awaitOwnWrite(ctx, "elected leaders")
	}
	rep.finish(resp)
}

// electLeader plans and proposes one partition's election.
func (n *Node) electLeader(ctx context.Context, topic string, part int32, kind controller.ElectionType) error {
	var err error
	for range electAttempts {
		t, ok := n.meta.Topic(topic)
		if !ok || part < 0 || int(part) >= len(t.Partitions) {
			return meta.ErrUnknownPartition
		}
		live := map[int32]bool{}
		for _, b := range n.meta.Brokers() {
			live[b.ID] = !b.Fenced
		}
		var u meta.PartitionUpdate
		if u, err = controller.PlanElection(topic, t.Partitions[part], kind, live); err != nil {
			return err
		}
		if err = n.meta.UpdatePartition(ctx, u); errors.Is(err, meta.ErrStaleEpoch) {
			if werr := n.waitVisible(ctx, n.meta.Version()); werr != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		switch {
		case u.Unclean:
			n.metrics.elections.WithLabelValues("unclean").Inc()
			n.log.Warn("unclean leader election requested: an out-of-sync replica leads and records only the old ISR had are lost",
				"topic", topic, "partition", part, "leader", u.Leader, "old_isr", u.ExpectedISR)
		case kind == controller.ElectPreferred:
			n.metrics.elections.WithLabelValues("preferred").Inc()
			n.log.Info("preferred leader elected on request", "topic", topic, "partition", part, "leader", u.Leader)
		default:
			n.metrics.elections.WithLabelValues("leaderless").Inc()
			n.log.Info("leaderless partition given an in-sync leader on request", "topic", topic, "partition", part, "leader", u.Leader)
		}
		return nil
	}
	return err
}

// electionError is the Kafka error for one partition's election.
func electionError(err error) (int16, *string) {
	var code int16
	switch {
	case err == nil:
		return 0, nil
	case errors.Is(err, controller.ErrElectionNotNeeded):
		code = kerr.ElectionNotNeeded.Code
	case errors.Is(err, controller.ErrPreferredNotAvailable):
		code = kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, controller.ErrNoEligibleLeader):
		code = kerr.EligibleLeadersNotAvailable.Code
	case errors.Is(err, meta.ErrStaleEpoch):
		// Still changing after every replan: the client may retry.
		code = kerr.RequestTimedOut.Code
	default:
		code = errCode(err)
	}
	return code, errMsg(err)
}
