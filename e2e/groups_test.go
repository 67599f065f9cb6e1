package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupSettings make rebalances and expiry fast enough for tests.
func groupSettings() map[string]string {
	return map[string]string{
		"group.initial.rebalance.delay.ms": "0",
		"group.min.session.timeout.ms":     "500",
	}
}

// describeGroup returns the group as the coordinator reports it.
func describeGroup(t testing.TB, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatalf("describe %s: %v", group, err)
	}
	d := ds[group]
	if d.Err != nil {
		t.Fatalf("describe %s: %v", group, d.Err)
	}
	return d
}

// waitAssignment waits until the group is Stable with members members whose
// assignments cover every partition of topic exactly once.
func waitAssignment(t testing.TB, adm *kadm.Client, group, topic string, partitions, members int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		d := describeGroup(t, adm, group)
		ok, why := checkAssignment(d, topic, partitions, members)
		if ok {
			return
		}
		last = why
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s never settled with %d members over %d partitions: %s", group, members, partitions, last)
}

func checkAssignment(d kadm.DescribedGroup, topic string, partitions, members int) (bool, string) {
	if d.State != "Stable" {
		return false, "state " + d.State
	}
	if len(d.Members) != members {
		return false, fmt.Sprintf("%d members", len(d.Members))
	}
	seen := map[int32]int{}
	for _, m := range d.Members {
		ca, ok := m.Assigned.AsConsumer()
		if !ok {
			return false, "assignment is not a consumer assignment"
		}
		for _, at := range ca.Topics {
			if at.Topic != topic {
				return false, "assigned foreign topic " + at.Topic
			}
			for _, p := range at.Partitions {
				seen[p]++
			}
		}
	}
	for p := int32(0); p < int32(partitions); p++ {
		if seen[p] != 1 {
			return false, fmt.Sprintf("partition %d assigned %d times (%v)", p, seen[p], seen)
		}
	}
	return len(seen) == partitions, fmt.Sprintf("%d partitions assigned", len(seen))
}

// pollInBackground keeps a group consumer polling until the test ends.
func pollInBackground(t testing.TB, cl *kgo.Client) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() {
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func TestGroupFranzRebalance(t *testing.T) {
	n := startNode(t, "", groupSettings())
	addr := n.KafkaAddr()
	adm := newAdmin(t, addr)
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
		protocol string
	}{
		{"range", kgo.RangeBalancer(), "range"},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer(), "cooperative-sticky"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic, group := "rebalance-"+tc.name, "g-"+tc.name
			const parts = 12
			createTopic(t, addr, topic, parts, nil)
			var clients []*kgo.Client
			add := func() *kgo.Client {
				cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
					kgo.Balancers(tc.balancer), kgo.SessionTimeout(3*time.Second), kgo.HeartbeatInterval(200*time.Millisecond))
				if err != nil {
					t.Fatal(err)
				}
				pollInBackground(t, cl)
				t.Cleanup(cl.Close)
				clients = append(clients, cl)
				return cl
			}
			add()
			waitAssignment(t, adm, group, topic, parts, 1)
			add()
			add()
			waitAssignment(t, adm, group, topic, parts, 3)
			if d := describeGroup(t, adm, group); d.Protocol != tc.protocol || d.ProtocolType != "consumer" {
				t.Fatalf("protocol %q type %q, want %q consumer", d.Protocol, d.ProtocolType, tc.protocol)
			}
			clients[0].Close() // leaves the group
			waitAssignment(t, adm, group, topic, parts, 2)
			clients[1].Close()
			waitAssignment(t, adm, group, topic, parts, 1)
		})
	}
}

// TestGroupProtocolChoice: members that list assignors in different orders
// settle on the one all support that most prefer.
func TestGroupProtocolChoice(t *testing.T) {
	n := startNode(t, "", groupSettings())
	addr := n.KafkaAddr()
	adm := newAdmin(t, addr)
	topic, group := "choice", "g-choice"
	createTopic(t, addr, topic, 4, nil)
	mk := func(b ...kgo.GroupBalancer) {
		cl := newClient(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(b...))
		pollInBackground(t, cl)
	}
	mk(kgo.RoundRobinBalancer(), kgo.RangeBalancer())
	mk(kgo.RangeBalancer(), kgo.RoundRobinBalancer())
	mk(kgo.RangeBalancer())
	waitAssignment(t, adm, group, topic, 4, 3)
	if d := describeGroup(t, adm, group); d.Protocol != "range" {
		t.Fatalf("protocol %q, want range (the only one all members support)", d.Protocol)
	}
}

func produceN(t testing.TB, addr, topic string, parts, count int) {
	t.Helper()
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := 0; i < count; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % parts), Value: []byte(fmt.Sprint(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitSurvivesRestart: offsets committed by a group consumer are
// durable across a restart, and a new consumer resumes exactly at them.
func TestGroupCommitSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, groupSettings())
	addr := n.KafkaAddr()
	topic, group := "durable", "g-durable"
	createTopic(t, addr, topic, 3, nil)
	produceN(t, addr, topic, 3, 300)

	cl := newClient(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < 120 {
		fs := cl.PollRecords(ctx, 120-len(got))
		if ctx.Err() != nil {
			t.Fatal("timed out consuming")
		}
		got = append(got, fs.Records()...)
	}
	if err := cl.CommitRecords(ctx, got...); err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	for _, r := range got {
		if r.Offset+1 > want[r.Partition] {
			want[r.Partition] = r.Offset + 1
		}
	}
	cl.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := startNode(t, dir, groupSettings())
	addr = n2.KafkaAddr()
	adm := newAdmin(t, addr)
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	for p, o := range want {
		c, ok := offs.Lookup(topic, p)
		if !ok || c.At != o {
			t.Fatalf("partition %d: committed %+v after restart, want %d", p, c, o)
		}
	}
	// A new consumer in the group starts exactly at the commits.
	cl2 := newClient(t, addr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	first := map[int32]int64{}
	total := 0
	for total < 300-len(got) {
		fs := cl2.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out resuming: %d records", total)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if _, ok := first[r.Partition]; !ok {
				first[r.Partition] = r.Offset
			}
			total++
		})
	}
	for p, o := range want {
		if o == 100 {
			continue // consumed to the end: nothing to resume
		}
		if first[p] != o {
			t.Fatalf("partition %d resumed at %d, want %d", p, first[p], o)
		}
	}
	if total != 300-len(got) {
		t.Fatalf("resumed consumer read %d records, want %d", total, 300-len(got))
	}
}

// rawMember drives the classic protocol by hand, for checks a client
// library hides.
type rawMember struct {
	t          testing.TB
	cl         *kgo.Client
	group      string
	instance   *string
	memberID   string
	generation int32
	session    int32
}

func (m *rawMember) join(ctx context.Context) *kmsg.JoinGroupResponse {
	m.t.Helper()
	for {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.InstanceID = m.group, m.memberID, m.instance
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = m.session, 5000
		req.ProtocolType = "consumer"
		md := kmsg.NewConsumerMemberMetadata()
		md.Topics = []string{"raw"}
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", md.AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, m.cl)
		if err != nil {
			m.t.Fatal(err)
		}
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			m.memberID = resp.MemberID
			continue
		}
		if resp.ErrorCode == 0 {
			m.memberID, m.generation = resp.MemberID, resp.Generation
		}
		return resp
	}
}

func (m *rawMember) sync(ctx context.Context, assign map[string][]byte) *kmsg.SyncGroupResponse {
	m.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.InstanceID, req.Generation = m.group, m.memberID, m.instance, m.generation
	for id, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, a
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		m.t.Fatal(err)
	}
	return resp
}

func (m *rawMember) heartbeat(ctx context.Context, memberID string, gen int32) int16 {
	m.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.InstanceID, req.Generation = m.group, memberID, m.instance, gen
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		m.t.Fatal(err)
	}
	return resp.ErrorCode
}

func commitRaw(t testing.TB, ctx context.Context, cl *kgo.Client, group, member string, instance *string, gen int32, topic string, offset int64, md *string) int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.InstanceID, req.Generation = group, member, instance, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.Metadata, rp.LeaderEpoch = 0, offset, md, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestGroupStaticMemberRejoin: a static member that restarts (joins with
// no member ID and its instance ID) gets the current generation back with
// no rebalance, and its old member ID is fenced.
func TestGroupStaticMemberRejoin(t *testing.T) {
	n := startNode(t, "", groupSettings())
	addr := n.KafkaAddr()
	createTopic(t, addr, "raw", 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, addr)
	inst := "instance-a"
	a := &rawMember{t: t, cl: cl, group: "g-static", instance: &inst, session: 10000}
	j := a.join(ctx)
	if j.ErrorCode != 0 || j.LeaderID != a.memberID {
		t.Fatalf("join: %v leader %q member %q", kerr.ErrorForCode(j.ErrorCode), j.LeaderID, a.memberID)
	}
	if s := a.sync(ctx, map[string][]byte{a.memberID: []byte("assignment-a")}); s.ErrorCode != 0 || string(s.MemberAssignment) != "assignment-a" {
		t.Fatalf("sync: %v %q", kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
	}
	oldID, gen := a.memberID, a.generation

	// Restart: same instance ID, no member ID.
	a2 := &rawMember{t: t, cl: cl, group: "g-static", instance: &inst, session: 10000}
	j2 := a2.join(ctx)
	if j2.ErrorCode != 0 {
		t.Fatalf("rejoin: %v", kerr.ErrorForCode(j2.ErrorCode))
	}
	if j2.Generation != gen {
		t.Fatalf("static rejoin moved the generation %d → %d: it rebalanced", gen, j2.Generation)
	}
	if a2.memberID == oldID {
		t.Fatal("static rejoin kept the old member ID")
	}
	if !j2.SkipAssignment {
		t.Fatal("rejoining leader was not told to skip assignment")
	}
	if s := a2.sync(ctx, nil); s.ErrorCode != 0 || string(s.MemberAssignment) != "assignment-a" {
		t.Fatalf("sync after rejoin: %v %q", kerr.ErrorForCode(s.ErrorCode), s.MemberAssignment)
	}
	if code := a.heartbeat(ctx, oldID, gen); code != kerr.FencedInstanceID.Code {
		t.Fatalf("heartbeat from the replaced member ID: %v, want FENCED_INSTANCE_ID", kerr.ErrorForCode(code))
	}
	if code := commitRaw(t, ctx, cl, "g-static", oldID, &inst, gen, "raw", 5, nil); code != kerr.FencedInstanceID.Code {
		t.Fatalf("commit from the replaced member ID: %v, want FENCED_INSTANCE_ID", kerr.ErrorForCode(code))
	}
	if code := a2.heartbeat(ctx, a2.memberID, gen); code != 0 {
		t.Fatalf("heartbeat from the new member ID: %v", kerr.ErrorForCode(code))
	}
}

// TestGroupSessionExpiry: a member that stops heartbeating is removed after
// its session timeout and the group becomes empty.
func TestGroupSessionExpiry(t *testing.T) {
	n := startNode(t, "", groupSettings())
	addr := n.KafkaAddr()
	createTopic(t, addr, "raw", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, addr)
	m := &rawMember{t: t, cl: cl, group: "g-expire", session: 800}
	if j := m.join(ctx); j.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	if s := m.sync(ctx, map[string][]byte{m.memberID: {}}); s.ErrorCode != 0 {
		t.Fatalf("sync: %v", kerr.ErrorForCode(s.ErrorCode))
	}
	adm := newAdmin(t, addr)
	if d := describeGroup(t, adm, "g-expire"); d.State != "Stable" || len(d.Members) != 1 {
		t.Fatalf("after sync: %s with %d members", d.State, len(d.Members))
	}
	// Heartbeats keep it alive past the session timeout...
	for i := 0; i < 6; i++ {
		time.Sleep(300 * time.Millisecond)
		if code := m.heartbeat(ctx, m.memberID, m.generation); code != 0 {
			t.Fatalf("heartbeat %d: %v", i, kerr.ErrorForCode(code))
		}
	}
	// ...and silence ends it.
	start := time.Now()
	for {
		d := describeGroup(t, adm, "g-expire")
		if d.State == "Empty" && len(d.Members) == 0 {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("member not expired after %v: %s with %d members", time.Since(start), d.State, len(d.Members))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("member expired after %v, before its 800ms session timeout", el)
	}
	if code := m.heartbeat(ctx, m.memberID, m.generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after expiry: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(code))
	}
}

// TestGroupBadInput: commits and joins that must be refused get Kafka's
// error codes and change nothing.
func TestGroupBadInput(t *testing.T) {
	n := startNode(t, "", groupSettings())
	addr := n.KafkaAddr()
	createTopic(t, addr, "raw", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, addr)
	m := &rawMember{t: t, cl: cl, group: "g-bad", session: 10000}
	m.join(ctx)
	m.sync(ctx, map[string][]byte{m.memberID: {}})
	if code := commitRaw(t, ctx, cl, "g-bad", m.memberID, nil, m.generation, "raw", 10, nil); code != 0 {
		t.Fatalf("good commit: %v", kerr.ErrorForCode(code))
	}
	inst := "nobody"
	big := strings.Repeat("x", 4097)
	for _, tc := range []struct {
		name     string
		member   string
		instance *string
		gen      int32
		topic    string
		md       *string
		want     *kerr.Error
	}{
		{"stale generation", m.memberID, nil, m.generation - 1, "raw", nil, kerr.IllegalGeneration},
		{"future generation", m.memberID, nil, m.generation + 1, "raw", nil, kerr.IllegalGeneration},
		{"unknown member", "who-is-this", nil, m.generation, "raw", nil, kerr.UnknownMemberID},
		{"standalone commit to a live group", "", nil, -1, "raw", nil, kerr.UnknownMemberID},
		{"oversized metadata", m.memberID, nil, m.generation, "raw", &big, kerr.OffsetMetadataTooLarge},
		{"unknown topic", m.memberID, nil, m.generation, "no-such-topic", nil, kerr.UnknownTopicOrPartition},
		{"unknown instance", m.memberID, &inst, m.generation, "raw", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := commitRaw(t, ctx, cl, "g-bad", tc.member, tc.instance, tc.gen, tc.topic, 999, tc.md)
			if tc.want == nil {
				return // an unknown instance ID with a valid member is not fenced
			}
			if code != tc.want.Code {
				t.Fatalf("got %v, want %v", kerr.ErrorForCode(code), tc.want)
			}
		})
	}
	offs, err := newAdmin(t, addr).FetchOffsets(ctx, "g-bad")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup("raw", 0); o.At != 10 && o.At != 999 {
		t.Fatalf("offset %d after refused commits", o.At)
	}

	// Joins with invalid input.
	for _, tc := range []struct {
		name    string
		group   string
		session int32
		ptype   string
		want    *kerr.Error
	}{
		{"empty group ID", "", 10000, "consumer", kerr.InvalidGroupID},
		{"session too short", "g-bad2", 100, "consumer", kerr.InvalidSessionTimeout},
		{"session too long", "g-bad2", 1 << 30, "consumer", kerr.InvalidSessionTimeout},
		{"empty protocol type", "g-bad2", 10000, "", kerr.InconsistentGroupProtocol},
		{"other protocol type", "g-bad", 10000, "connect", kerr.InconsistentGroupProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrJoinGroupRequest()
			req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = tc.group, tc.session, 5000, tc.ptype
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name, p.Metadata = "range", []byte{}
			req.Protocols = append(req.Protocols, p)
			var resp *kmsg.JoinGroupResponse
			var err error
			if tc.group == "" {
				// No coordinator lookup is possible for an empty ID.
				resp, err = req.RequestWith(ctx, cl.Broker(int(n.cfg.NodeID)))
			} else {
				resp, err = req.RequestWith(ctx, cl)
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != tc.want.Code {
				t.Fatalf("got %v, want %v", kerr.ErrorForCode(resp.ErrorCode), tc.want)
			}
		})
	}
	// The live member is untouched by all of it.
	if code := m.heartbeat(ctx, m.memberID, m.generation); code != 0 {
		t.Fatalf("heartbeat after bad input: %v", kerr.ErrorForCode(code))
	}
	if code := m.heartbeat(ctx, m.memberID, m.generation+5); code != kerr.IllegalGeneration.Code {
		t.Fatalf("heartbeat with a wrong generation: %v", kerr.ErrorForCode(code))
	}
}

// TestGroupAdmin: list, describe, offset delete and delete through kadm.
func TestGroupAdmin(t *testing.T) {
	n := startNode(t, "", groupSettings())
	addr := n.KafkaAddr()
	adm := newAdmin(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	createTopic(t, addr, "adm-a", 2, nil)
	createTopic(t, addr, "adm-b", 1, nil)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "adm-a", Partition: 0, At: 5, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: "adm-a", Partition: 1, At: 7, LeaderEpoch: -1})
	os.Add(kadm.Offset{Topic: "adm-b", Partition: 0, At: 9, LeaderEpoch: -1})
	resp, err := adm.CommitOffsets(ctx, "g-admin", os)
	if err != nil || resp.Error() != nil {
		t.Fatalf("commit: %v %v", err, resp.Error())
	}
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := lg["g-admin"]; !ok || g.State != "Empty" {
		t.Fatalf("list: %+v", lg)
	}
	dr, err := adm.DeleteOffsets(ctx, "g-admin", kadm.TopicsSet{"adm-b": {0: {}}})
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, dr.Error())
	}
	offs, err := adm.FetchOffsets(ctx, "g-admin")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := offs.Lookup("adm-b", 0); ok {
		t.Fatal("deleted offset still fetched")
	}
	if o, _ := offs.Lookup("adm-a", 1); o.At != 7 {
		t.Fatalf("adm-a/1 at %d", o.At)
	}
	// Offsets of a deleted topic go away with it.
	if _, err := adm.DeleteTopics(ctx, "adm-a"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		offs, err := adm.FetchOffsets(ctx, "g-admin")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := offs.Lookup("adm-a", 0); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("offsets of a deleted topic were kept")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A group with members cannot be deleted.
	m := &rawMember{t: t, cl: newClient(t, addr), group: "g-live", session: 10000}
	m.join(ctx)
	dg, err := adm.DeleteGroups(ctx, "g-admin", "g-live", "g-none")
	if err != nil {
		t.Fatal(err)
	}
	for g, want := range map[string]error{"g-admin": nil, "g-live": kerr.NonEmptyGroup, "g-none": kerr.GroupIDNotFound} {
		if !errors.Is(dg[g].Err, want) && !(want == nil && dg[g].Err == nil) {
			t.Fatalf("delete %s: %v, want %v", g, dg[g].Err, want)
		}
	}
	if d := describeGroup(t, adm, "g-admin"); d.State != "Dead" {
		t.Fatalf("deleted group is %s", d.State)
	}
}

// TestGroupSarama: sarama consumer groups share partitions, rebalance on
// leave, and resume from commits.
func TestGroupSarama(t *testing.T) {
	n := startNode(t, "", groupSettings())
	addr := n.KafkaAddr()
	topic, group := "sarama-group", "g-sarama"
	const parts, total = 6, 600
	createTopic(t, addr, topic, parts, nil)
	produceN(t, addr, topic, parts, total)

	var mu sync.Mutex
	seen := map[string]int{}
	h := &saramaHandler{onMsg: func(m *sarama.ConsumerMessage) {
		mu.Lock()
		seen[fmt.Sprintf("%d/%d", m.Partition, m.Offset)]++
		mu.Unlock()
	}}
	mk := func() sarama.ConsumerGroup {
		cfg := saramaConfig()
		cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
		cfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
		cg, err := sarama.NewConsumerGroup([]string{addr}, group, cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
					t.Logf("sarama consume: %v", err)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
		t.Cleanup(func() { cancel(); <-done; cg.Close() })
		return cg
	}
	mk()
	second := mk()
	adm := newAdmin(t, addr)
	waitAssignment(t, adm, group, topic, parts, 2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		nseen := len(seen)
		mu.Unlock()
		if nseen == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sarama group consumed %d of %d records", nseen, total)
		}
		time.Sleep(50 * time.Millisecond)
	}
	second.Close()
	waitAssignment(t, adm, group, topic, parts, 1)
	// Every record was delivered; the commits cover the whole topic.
	deadline = time.Now().Add(15 * time.Second)
	for {
		offs, err := adm.FetchOffsets(context.Background(), group)
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
		if sum == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sarama commits sum to %d, want %d", sum, total)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var keys []string
	for k, c := range seen {
		if c > 1 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		t.Logf("redelivered after rebalance (at-least-once): %v", keys)
	}
}

type saramaHandler struct{ onMsg func(*sarama.ConsumerMessage) }

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.onMsg(m)
		s.MarkMessage(m, "")
	}
	return nil
}

// BenchmarkGroupRebalance measures how long 10 franz-go consumers take to
// form a Stable group over 100 partitions (every partition assigned once),
// and how long the group takes to settle again after one member leaves.
// Run: go test ./e2e -run '^$' -bench GroupRebalance -benchtime 3x
func BenchmarkGroupRebalance(b *testing.B) {
	n := startNode(b, "", groupSettings())
	addr := n.KafkaAddr()
	adm := newAdmin(b, addr)
	const members, parts = 10, 100
	var joinTotal, leaveTotal time.Duration
	for i := 0; i < b.N; i++ {
		topic, group := fmt.Sprintf("bench-rebalance-%d", i), fmt.Sprintf("g-bench-%d", i)
		createTopic(b, addr, topic, parts, nil)
		start := time.Now()
		var cls []*kgo.Client
		for m := 0; m < members; m++ {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
				kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.HeartbeatInterval(100*time.Millisecond))
			if err != nil {
				b.Fatal(err)
			}
			pollInBackground(b, cl)
			cls = append(cls, cl)
		}
		waitSettled(b, adm, group, topic, parts, members)
		joinTotal += time.Since(start)
		start = time.Now()
		cls[0].Close()
		waitSettled(b, adm, group, topic, parts, members-1)
		leaveTotal += time.Since(start)
		for _, cl := range cls[1:] {
			cl.Close()
		}
	}
	b.ReportMetric(float64(joinTotal.Milliseconds())/float64(b.N), "ms/form")
	b.ReportMetric(float64(leaveTotal.Milliseconds())/float64(b.N), "ms/leave-rebalance")
}

// waitSettled polls DescribeGroups every 5ms until the assignment is complete.
func waitSettled(b testing.TB, adm *kadm.Client, group, topic string, parts, members int) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ds, err := adm.DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			if ok, _ := checkAssignment(ds[group], topic, parts, members); ok {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("group %s never settled", group)
}

// BenchmarkOffsetCommit measures OffsetCommit throughput: each op is one
// durable commit of one partition. Workers commit to their own groups
// concurrently, so fsyncs of the same __consumer_offsets partition are
// shared.
// Run: go test ./e2e -run '^$' -bench OffsetCommit
func BenchmarkOffsetCommit(b *testing.B) {
	for _, workers := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			n := startNode(b, "", groupSettings())
			addr := n.KafkaAddr()
			createTopic(b, addr, "bench-commit", 8, nil)
			cl := newClient(b, addr)
			ctx := context.Background()
			// Warm up: create __consumer_offsets and find coordinators.
			for w := 0; w < workers; w++ {
				if code := commitRaw(b, ctx, cl, fmt.Sprintf("g-commit-%d", w), "", nil, -1, "bench-commit", 0, nil); code != 0 {
					b.Fatal(kerr.ErrorForCode(code))
				}
			}
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + workers - 1) / workers
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					g := fmt.Sprintf("g-commit-%d", w)
					for i := 0; i < per; i++ {
						if code := commitRaw(b, ctx, cl, g, "", nil, -1, "bench-commit", int64(i), nil); code != 0 {
							b.Error(kerr.ErrorForCode(code))
							return
						}
					}
				}(w)
			}
			wg.Wait()
			b.ReportMetric(float64(per*workers)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}
