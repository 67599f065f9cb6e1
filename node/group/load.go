package group

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/record"
)

// reconcilePartitions loads __consumer_offsets partitions this node now
// leads and unloads those it no longer leads. Runs on the coordinator's
// goroutine (or before it starts).
func (c *Coordinator) reconcilePartitions() {
	led := map[int32]bool{}
	for _, p := range c.be.LedPartitions() {
		led[p] = true
		if c.parts[p] != nil {
			continue
		}
		l, err := c.be.OffsetsLog(p)
		if err != nil {
			c.log.Warn("opening __consumer_offsets partition", "partition", p, "err", err)
			continue
		}
		start := time.Now()
		n, err := c.loadPartition(p, l)
		if err != nil {
			// What loaded before the damage is kept; Strata's storage
			// already truncated torn tails, so this is data corruption.
			c.log.Error("loading __consumer_offsets partition", "partition", p, "err", err)
		}
		c.parts[p] = l
		if n > 0 {
			c.log.Info("loaded __consumer_offsets partition", "partition", p, "records", n, "took", time.Since(start))
		}
	}
	for p := range c.parts {
		if led[p] {
			continue
		}
		delete(c.parts, p)
		now := c.now()
		for id, e := range c.groups {
			if e.part == p {
				c.exec(e, e.g.MarkDead(now))
				delete(c.groups, id)
			}
		}
	}
}

// loadPartition rebuilds the groups and offsets of one partition by reading
// it from the start: later records win, null values delete, transactional
// offsets stay staged until their producer's commit or abort marker.
func (c *Coordinator) loadPartition(p int32, l OffsetsLog) (int, error) {
	now := c.now()
	metas := map[string]*kmsg.GroupMetadataValue{}
	touched := map[string]*entry{}
	get := func(id string) *entry {
		e := c.groups[id]
		if e == nil {
			e = c.newEntry(id, p)
		}
		touched[id] = e
		return e
	}
	n := 0
	err := l.Scan(func(batch []byte) error {
		h, err := record.ParseHeader(batch)
		if err != nil {
			return err
		}
		if h.IsControl() {
			return record.ForEachRecord(batch, func(r record.Record) bool {
				typ, ok := controlType(r.Key)
				if !ok {
					return true
				}
				for _, e := range touched {
					staged := e.txn[h.ProducerID]
					delete(e.txn, h.ProducerID)
					if typ == kmsg.ControlRecordKeyTypeCommit {
						for tp, oc := range staged {
							e.offsets[tp] = storedOffset{oc, time.UnixMilli(h.MaxTimestamp)}
						}
					}
				}
				return true
			})
		}
		var derr error
		ferr := record.ForEachRecord(batch, func(r record.Record) bool {
			rec, ok, err := decodeRecord(r.Key, r.Value)
			if err != nil {
				derr = fmt.Errorf("offset %d: %w", h.BaseOffset+int64(r.OffsetDelta), err)
				return false
			}
			if !ok {
				return true
			}
			n++
			e := get(rec.group)
			switch {
			case rec.isOffset && h.IsTransactional():
				staged := e.txn[h.ProducerID]
				if staged == nil {
					staged = map[TopicPartition]OffsetCommit{}
					e.txn[h.ProducerID] = staged
				}
				if !rec.tombstone {
					staged[TopicPartition{rec.topic, rec.partition}] = rec.commit
				}
			case rec.isOffset && rec.tombstone:
				delete(e.offsets, TopicPartition{rec.topic, rec.partition})
			case rec.isOffset:
				e.offsets[TopicPartition{rec.topic, rec.partition}] = storedOffset{rec.commit, rec.ts}
			default:
				metas[rec.group] = rec.groupMeta // nil for a tombstone
			}
			return true
		})
		if derr != nil {
			return derr
		}
		return ferr
	})
	for id, e := range touched {
		m, hasMeta := metas[id]
		if hasMeta && m != nil {
			e.g = restoreGroup(id, c.cfg.rules(), now, m)
		}
		if (!hasMeta || m == nil) && e.g.IsEmpty() && len(e.offsets) == 0 && len(e.txn) == 0 {
			delete(c.groups, id)
		}
	}
	return n, err
}

func restoreGroup(id string, rules Rules, now time.Time, v *kmsg.GroupMetadataValue) *Group {
	protocol, leader := "", ""
	if v.Protocol != nil {
		protocol = *v.Protocol
	}
	if v.Leader != nil {
		leader = *v.Leader
	}
	members := make([]Member, 0, len(v.Members))
	for _, vm := range v.Members {
		m := Member{
			ID:               vm.MemberID,
			ClientID:         vm.ClientID,
			ClientHost:       vm.ClientHost,
			SessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			RebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			Protocols:        []Protocol{{Name: protocol, Metadata: vm.Subscription}},
			Assignment:       vm.Assignment,
		}
		if vm.InstanceID != nil {
			m.InstanceID = *vm.InstanceID
		}
		members = append(members, m)
	}
	return Restore(id, rules, now, v.ProtocolType, protocol, leader, v.Generation, members)
}

// expireOffsets applies offsets.retention.minutes: offsets of an empty
// group older than the retention (counted from the later of the commit and
// the group becoming empty) are deleted, and an empty group without offsets
// is removed.
func (c *Coordinator) expireOffsets() {
	now := c.now()
	for id, e := range c.groups {
		if e.g.State != Empty {
			continue
		}
		var old []TopicPartition
		for tp, so := range e.offsets {
			since := so.ts
			if e.g.StateSince.After(since) {
				since = e.g.StateSince
			}
			if now.Sub(since) >= c.cfg.OffsetsRetention {
				old = append(old, tp)
			}
		}
		if len(old) == 0 && len(e.offsets) > 0 {
			continue
		}
		id, e := id, e
		removeGroup := len(old) == len(e.offsets) && len(e.txn) == 0
		c.writeTombstones(e, old, removeGroup, func(err error) {
			if err != nil {
				c.log.Warn("expiring offsets", "group", id, "err", err)
				return
			}
			if removeGroup && e.g.State == Empty && len(e.offsets) == 0 && c.groups[id] == e {
				e.g.MarkDead(c.now())
				delete(c.groups, id)
			}
			if len(old) > 0 {
				c.log.Info("expired offsets of empty group", "group", id, "partitions", len(old))
			}
		})
	}
}

// dropDeletedTopics deletes committed offsets of partitions that no longer
// exist.
func (c *Coordinator) dropDeletedTopics() {
	for id, e := range c.groups {
		var gone []TopicPartition
		for tp := range e.offsets {
			if !c.be.PartitionExists(tp.Topic, tp.Partition) {
				gone = append(gone, tp)
			}
		}
		if len(gone) == 0 {
			continue
		}
		id := id
		c.writeTombstones(e, gone, false, func(err error) {
			if err != nil {
				c.log.Warn("deleting offsets of deleted topics", "group", id, "err", err)
			}
		})
	}
}
