package group

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/record"
)

// Records of __consumer_offsets, in Kafka's own schemas: an offset commit is
// key OffsetCommitKey (version 1) → OffsetCommitValue (version 3); a group is
// key GroupMetadataKey (version 2) → GroupMetadataValue (version 3). A null
// value is a tombstone: the offset or group was deleted.

// kv is one record to write.
type kv struct {
	key, value []byte
}

func offsetKey(group, topic string, part int32) []byte {
	k := kmsg.OffsetCommitKey{Version: 1, Group: group, Topic: topic, Partition: part}
	return k.AppendTo(nil)
}

func offsetValue(c OffsetCommit, ts time.Time) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	v.Offset = c.Offset
	v.LeaderEpoch = c.LeaderEpoch
	if c.Metadata != nil {
		v.Metadata = *c.Metadata
	}
	v.CommitTimestamp = ts.UnixMilli()
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: 2, Group: group}
	return k.AppendTo(nil)
}

func groupValue(g *Group, now time.Time) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.ProtocolType
	v.Generation = g.Generation
	if g.Protocol != "" {
		p := g.Protocol
		v.Protocol = &p
	}
	if g.Leader != "" {
		l := g.Leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = now.UnixMilli()
	for _, m := range g.OrderedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.ID
		if m.InstanceID != "" {
			id := m.InstanceID
			vm.InstanceID = &id
		}
		vm.ClientID = m.ClientID
		vm.ClientHost = m.ClientHost
		vm.RebalanceTimeoutMillis = int32(m.RebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.SessionTimeout / time.Millisecond)
		vm.Subscription = m.Metadata(g.Protocol)
		vm.Assignment = m.Assignment
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

// batchOpts are the producer fields of a batch; a transactional offset
// commit carries its producer's ID and epoch.
type batchOpts struct {
	producerID    int64
	producerEpoch int16
	transactional bool
}

// buildBatch encodes records as one uncompressed v2 batch with a valid CRC.
func buildBatch(recs []kv, ts time.Time, o batchOpts) []byte {
	spec := record.NewBatchSpec(ts.UnixMilli())
	if o.transactional {
		spec.ProducerID, spec.ProducerEpoch, spec.Transactional = o.producerID, o.producerEpoch, true
	}
	rs := make([]record.Record, len(recs))
	for i, r := range recs {
		rs[i] = record.Record{Key: r.key, Value: r.value}
	}
	return record.Build(spec, rs)
}

// loaded is one decoded __consumer_offsets record.
type loaded struct {
	group     string
	isOffset  bool
	topic     string
	partition int32
	commit    OffsetCommit
	ts        time.Time
	groupMeta *kmsg.GroupMetadataValue // nil with a tombstone
	tombstone bool
}

// decodeRecord decodes one record; ok is false for records of a schema
// Strata does not know (they are skipped, as Kafka skips unknown versions).
func decodeRecord(key, value []byte) (l loaded, ok bool, err error) {
	if len(key) < 2 {
		return l, false, fmt.Errorf("short key")
	}
	ver := int16(binary.BigEndian.Uint16(key))
	switch ver {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return l, false, err
		}
		l = loaded{group: k.Group, isOffset: true, topic: k.Topic, partition: k.Partition, tombstone: value == nil}
		if value == nil {
			return l, true, nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return l, false, err
		}
		md := v.Metadata
		l.commit = OffsetCommit{Offset: v.Offset, LeaderEpoch: -1, Metadata: &md}
		if v.Version >= 3 {
			l.commit.LeaderEpoch = v.LeaderEpoch
		}
		l.ts = time.UnixMilli(v.CommitTimestamp)
		return l, true, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return l, false, err
		}
		l = loaded{group: k.Group, tombstone: value == nil}
		if value == nil {
			return l, true, nil
		}
		v := new(kmsg.GroupMetadataValue)
		if err := v.ReadFrom(value); err != nil {
			return l, false, err
		}
		l.groupMeta = v
		return l, true, nil
	}
	return l, false, nil
}

// controlType decodes a control record's key: commit or abort.
func controlType(key []byte) (kmsg.ControlRecordKeyType, bool) {
	var k kmsg.ControlRecordKey
	if err := k.ReadFrom(key); err != nil {
		return 0, false
	}
	return k.Type, true
}
