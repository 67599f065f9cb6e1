package group

import (
	"context"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Listing is one group of a ListGroups answer.
type Listing struct {
	Group        string
	ProtocolType string
	State        State
}

// List returns every group this node coordinates.
func (c *Coordinator) List(cb func([]Listing)) {
	c.post(func() {
		var out []Listing
		for id, e := range c.groups {
			if e.g.State == Dead {
				continue
			}
			out = append(out, Listing{Group: id, ProtocolType: e.g.ProtocolType, State: e.g.State})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
		cb(out)
	})
}

// MemberDescription is one member of a DescribeGroups answer.
type MemberDescription struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// Description is one group of a DescribeGroups answer.
type Description struct {
	Err          int16
	Group        string
	State        string
	ProtocolType string
	Protocol     string
	Members      []MemberDescription
}

// Describe describes a group. As in Kafka, member metadata and assignments
// (and the protocol) are given only for a Stable group; an unknown group is
// reported as Dead.
func (c *Coordinator) Describe(group string, cb func(Description)) {
	c.post(func() {
		d := Description{Group: group, State: Dead.String()}
		e, code := c.lookup(group, false)
		if code != 0 {
			d.Err = code
			d.State = ""
			cb(d)
			return
		}
		if e == nil {
			cb(d)
			return
		}
		g := e.g
		d.State = g.State.String()
		d.ProtocolType = g.ProtocolType
		stable := g.State == Stable
		if stable {
			d.Protocol = g.Protocol
		}
		for _, m := range g.OrderedMembers() {
			md := MemberDescription{MemberID: m.ID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost}
			if stable {
				md.Metadata = m.Metadata(g.Protocol)
				md.Assignment = m.Assignment
			}
			d.Members = append(d.Members, md)
		}
		cb(d)
	})
}

// Delete deletes empty groups and their offsets (DeleteGroups): one code
// per group, given once the tombstones are durable.
func (c *Coordinator) Delete(groups []string, cb func(map[string]int16)) {
	c.post(func() {
		codes := map[string]int16{}
		pending := 0
		finish := func() {
			if pending == 0 {
				cb(codes)
			}
		}
		for _, id := range groups {
			e, code := c.lookup(id, false)
			switch {
			case code != 0:
				codes[id] = code
				continue
			case e == nil || e.g.State == Dead:
				codes[id] = kerr.GroupIDNotFound.Code
				continue
			case e.g.State != Empty:
				codes[id] = kerr.NonEmptyGroup.Code
				continue
			}
			var tps []TopicPartition
			for tp := range e.offsets {
				tps = append(tps, tp)
			}
			id, e := id, e
			pending++
			c.writeTombstones(e, tps, true, func(err error) {
				pending--
				if err != nil {
					codes[id] = kerr.NotCoordinator.Code
				} else {
					codes[id] = 0
					c.exec(e, e.g.MarkDead(c.now()))
					delete(c.groups, id)
				}
				finish()
			})
		}
		finish()
	})
}

// writeTombstones deletes offsets (and, with group, the group's metadata)
// durably, then drops them from memory and calls done on the coordinator's
// goroutine.
func (c *Coordinator) writeTombstones(e *entry, tps []TopicPartition, group bool, done func(error)) {
	var recs []kv
	for _, tp := range tps {
		recs = append(recs, kv{key: offsetKey(e.g.ID, tp.Topic, tp.Partition)})
	}
	if group {
		recs = append(recs, kv{key: groupKey(e.g.ID)})
	}
	if len(recs) == 0 {
		done(nil)
		return
	}
	l := c.parts[e.part]
	if l == nil {
		done(ErrNotCoordinator)
		return
	}
	apply := func(err error) {
		if err == nil {
			for _, tp := range tps {
				delete(e.offsets, tp)
			}
		}
		done(err)
	}
	if err := l.Append(buildBatch(recs, c.now(), batchOpts{}), func(err error) { c.post(func() { apply(err) }) }); err != nil {
		apply(err)
	}
}

// DeleteOffsets handles an OffsetDelete: a group-level code and a code per
// partition. Offsets of topics the group's consumers subscribe to cannot be
// deleted while it has members.
func (c *Coordinator) DeleteOffsets(group string, topics map[string][]int32, cb func(int16, map[TopicPartition]int16)) {
	c.post(func() {
		e, code := c.lookup(group, false)
		switch {
		case code != 0:
			cb(code, nil)
			return
		case e == nil || e.g.State == Dead:
			cb(kerr.GroupIDNotFound.Code, nil)
			return
		case !e.g.IsEmpty() && e.g.ProtocolType != "consumer":
			cb(kerr.NonEmptyGroup.Code, nil)
			return
		}
		subscribed := subscribedTopics(e.g)
		codes := map[TopicPartition]int16{}
		var del []TopicPartition
		for t, ps := range topics {
			for _, p := range ps {
				tp := TopicPartition{t, p}
				if subscribed[t] {
					codes[tp] = kerr.GroupSubscribedToTopic.Code
					continue
				}
				codes[tp] = 0
				if _, ok := e.offsets[tp]; ok {
					del = append(del, tp)
				}
			}
		}
		c.writeTombstones(e, del, false, func(err error) {
			if err != nil {
				for _, tp := range del {
					codes[tp] = kerr.NotCoordinator.Code
				}
			}
			cb(0, codes)
		})
	})
}

// subscribedTopics decodes the consumer protocol subscriptions of a group's
// members.
func subscribedTopics(g *Group) map[string]bool {
	out := map[string]bool{}
	if g.ProtocolType != "consumer" {
		return out
	}
	for _, m := range g.Members {
		md := m.Metadata(g.Protocol)
		if md == nil && len(m.Protocols) > 0 {
			md = m.Protocols[0].Metadata
		}
		var cm kmsg.ConsumerMemberMetadata
		if cm.ReadFrom(md) != nil {
			continue
		}
		for _, t := range cm.Topics {
			out[t] = true
		}
	}
	return out
}

// TxnOffsetCommit stages offsets of a transactional producer: written to the group's __consumer_offsets partition
// as a transactional batch (that producer ID/epoch) and applied only when the transaction commits.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, group string, producerID int64, producerEpoch int16, generation int32, memberID string, instanceID *string, offsets map[string]map[int32]OffsetCommit) (map[string]map[int32]error, error) {
	type result struct {
		codes map[TopicPartition]int16
		code  int16
	}
	res := make(chan result, 1)
	inst := ""
	if instanceID != nil {
		inst = *instanceID
	}
	err := c.call(ctx, func() {
		e, code := c.lookup(group, true)
		if code == 0 {
			code = e.g.CheckTxnCommit(memberID, inst, generation)
		}
		if code != 0 {
			res <- result{code: code}
			return
		}
		c.writeOffsets(e, offsets, batchOpts{producerID: producerID, producerEpoch: producerEpoch, transactional: true},
			func(codes map[TopicPartition]int16, ok map[TopicPartition]OffsetCommit, _ time.Time) {
				if len(ok) > 0 {
					staged := e.txn[producerID]
					if staged == nil {
						staged = map[TopicPartition]OffsetCommit{}
						e.txn[producerID] = staged
					}
					for tp, oc := range ok {
						staged[tp] = oc
					}
				}
				res <- result{codes: codes}
			})
	})
	if err != nil {
		return nil, err
	}
	var r result
	select {
	case r = <-res:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrClosed
	}
	out := map[string]map[int32]error{}
	for t, ps := range offsets {
		out[t] = map[int32]error{}
		for p := range ps {
			code := r.code
			if code == 0 {
				code = r.codes[TopicPartition{t, p}]
			}
			out[t][p] = kerr.ErrorForCode(code)
		}
	}
	return out, nil
}

// CompleteTxnInPartition applies (commit=true) or drops the offsets a
// producer staged in every group of one __consumer_offsets partition, once
// the transaction's marker is durable in that partition: what the marker
// means, whichever node's transaction coordinator wrote it
// (WriteTxnMarkers carries no group IDs).
func (c *Coordinator) CompleteTxnInPartition(part int32, producerID int64, commit bool) {
	_ = c.call(context.Background(), func() {
		now := c.now()
		for _, e := range c.groups {
			if e.part != part {
				continue
			}
			staged, ok := e.txn[producerID]
			if !ok {
				continue
			}
			delete(e.txn, producerID)
			if !commit {
				continue
			}
			for tp, oc := range staged {
				e.offsets[tp] = storedOffset{oc, now}
			}
		}
	})
}
