package node

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Produce (key 0): versions 3-11, the versions that carry v2 record batches
// and name topics (v13 switches to topic IDs).
//
// Every partition's batches are validated and appended in request order on
// the connection's reader goroutine, which keeps a pipelining client's
// batches in order. The response waits until each appended partition is
// durable under its flush policy: with the default flush.messages=1 that is
// after fsync, shared with concurrent appends by the group-commit syncer.
//
// Batches from idempotent and transactional producers are checked against
// the partition's producer state (node/producer) atomically with their
// append: a retried batch is acknowledged with its original offsets and
// not appended again, a sequence gap is OUT_OF_ORDER_SEQUENCE_NUMBER and a
// stale epoch INVALID_PRODUCER_EPOCH. Like Kafka without KIP-890, a
// transactional batch is not checked against the coordinator's partition
// list.
func init() { register(0, 3, 11, (*Node).handleProduce) }

func (n *Node) handleProduce(r *request, rep *reply) {
	req := r.kreq.(*kmsg.ProduceRequest)
	resp := kmsg.NewPtrProduceResponse()
	n.recordProduceQuota(r, req)
	acks := req.Acks
	if acks != 0 && acks != 1 && acks != -1 {
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.InvalidRequiredAcks.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		rep.finish(resp)
		return
	}
	type syncWait struct {
		sp   *kmsg.ProduceResponseTopicPartition
		once sync.Once
		err  error
	}
	var (
		wg     sync.WaitGroup
		failed bool
		waits  []*syncWait
	)
	for ti, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		resp.Topics = append(resp.Topics, st)
		for pi, rp := range rt.Partitions {
			sp := &resp.Topics[ti].Partitions[pi]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			p, code := n.lookupPartition(rt.Topic, rp.Partition)
			if n.readReplica() {
				p, code = nil, kerr.TopicAuthorizationFailed.Code
				sp.ErrorMessage = kmsg.StringPtr(n.errReadOnly(kerr.TopicAuthorizationFailed).Error())
			}
			if code == 0 && p.stranded(time.Now()) {
				code = kerr.NotLeaderForPartition.Code
				sp.ErrorMessage = kmsg.StringPtr(errStranded.Error())
			}
			if code != 0 {
				sp.ErrorCode = code
				failed = true
				continue
			}
			if len(rp.Records) == 0 {
				sp.ErrorCode = kerr.CorruptMessage.Code
				sp.ErrorMessage = kmsg.StringPtr("empty records")
				failed = true
				continue
			}
			sw := &syncWait{sp: sp}
			wg.Add(1)
			info, err := p.append(rp.Records, acks, func(err error) {
				sw.once.Do(func() { sw.err = err; wg.Done() })
			})
			if err != nil {
				sw.once.Do(wg.Done)
				sp.ErrorCode = errCode(err)
				sp.ErrorMessage = errMsg(err)
				sp.BaseOffset = -1
				failed = true
				n.log.Debug("produce refused", "topic", rt.Topic, "partition", rp.Partition, "err", err)
				continue
			}
			sp.BaseOffset = info.FirstOffset
			sp.LogAppendTime = info.LogAppendTime
			if sp.LogAppendTime == 0 {
				sp.LogAppendTime = -1
			}
			sp.LogStartOffset = p.log.StartOffset()
			waits = append(waits, sw)
		}
	}
	if acks == 0 {
		// Nobody reads the response; a failure closes the connection so the
		// client notices.
		n.finishProduce(r.version, rep, resp, acks, failed)
		return
	}
	n.safeGo(r, rep, func() {
		all := make(chan struct{})
		go func() { wg.Wait(); close(all) }()
		var timeout <-chan time.Time
		if acks == -1 && req.TimeoutMillis > 0 {
			t := time.NewTimer(time.Duration(req.TimeoutMillis) * time.Millisecond)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-all:
		case <-timeout:
			// acks=all writes the ISR has not confirmed in time: they
			// stay in the log and may still commit; the client retries
			// (an idempotent producer without duplicates).
			for _, sw := range waits {
				sw.once.Do(func() { sw.err = errProduceTimeout; wg.Done() })
			}
			<-all
		case <-n.stopped:
			for _, sw := range waits {
				sw.once.Do(func() { sw.err = errNotLeaderNow; wg.Done() })
			}
			<-all
		}
		for _, sw := range waits {
			if sw.err != nil {
				sw.sp.ErrorCode, sw.sp.ErrorMessage = produceWaitError(sw.err)
				sw.sp.BaseOffset = -1
			}
		}
		n.hintProduce(r.version, resp)
		rep.finish(resp)
	})
}

var errProduceTimeout = fmt.Errorf("%w: the ISR did not confirm the write within the request timeout", kerr.RequestTimedOut)

// produceWaitError maps the failure of a produce's wait for durability:
// Kafka errors (NOT_LEADER_OR_FOLLOWER, REQUEST_TIMED_OUT) as they are,
// anything else a failed fsync.
func produceWaitError(err error) (int16, *string) {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code, kmsg.StringPtr(err.Error())
	}
	return kerr.KafkaStorageError.Code, kmsg.StringPtr("fsync failed: " + err.Error())
}

func (n *Node) finishProduce(version int16, rep *reply, resp *kmsg.ProduceResponse, acks int16, failed bool) {
	switch {
	case acks != 0:
		n.hintProduce(version, resp)
		rep.finish(resp)
	case failed:
		rep.finishClose()
	default:
		rep.finishNone()
	}
}
