package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

var t0 = time.Unix(1_700_000_000, 0)

func testRules(delay time.Duration) Rules {
	n := 0
	return Rules{
		InitialRebalanceDelay: delay,
		MinSessionTimeout:     time.Second,
		MaxSessionTimeout:     time.Minute,
		MaxSize:               3,
		NewMemberID:           func(c string) string { n++; return fmt.Sprintf("%s-%d", c, n) },
	}
}

func protos(names ...string) []Protocol {
	var out []Protocol
	for _, n := range names {
		out = append(out, Protocol{Name: n, Metadata: []byte(n)})
	}
	return out
}

func joinReq(w uint64, member, client string, ps ...string) JoinRequest {
	return JoinRequest{Waiter: w, MemberID: member, ClientID: client, SessionTimeout: 10 * time.Second,
		RebalanceTimeout: 20 * time.Second, ProtocolType: "consumer", Protocols: protos(ps...), RequireKnownMember: true}
}

// replies collects the join and sync replies of a batch of actions.
func replies(acts []Action) (map[uint64]JoinResult, map[uint64]SyncReply, []Persist) {
	js, ss := map[uint64]JoinResult{}, map[uint64]SyncReply{}
	var ps []Persist
	for _, a := range acts {
		switch a := a.(type) {
		case JoinReply:
			js[a.Waiter] = a.Result
		case SyncReply:
			ss[a.Waiter] = a
		case Persist:
			ps = append(ps, a)
		}
	}
	return js, ss, ps
}

// joinNew runs the KIP-394 two-step join and returns the member ID and the
// actions of the second join.
func joinNew(t *testing.T, g *Group, now time.Time, w uint64, client string, ps ...string) (string, []Action) {
	t.Helper()
	js, _, _ := replies(g.Join(now, joinReq(w, "", client, ps...)))
	r := js[w]
	if r.Err != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Fatalf("first join: %v member %q, want MEMBER_ID_REQUIRED", kerr.ErrorForCode(r.Err), r.MemberID)
	}
	return r.MemberID, g.Join(now, joinReq(w, r.MemberID, client, ps...))
}

func TestJoinSyncLifecycle(t *testing.T) {
	g := NewGroup("g", testRules(0), t0)
	a, acts := joinNew(t, g, t0, 1, "a", "range")
	js, _, _ := replies(acts)
	ra := js[1]
	if ra.Err != 0 || ra.Generation != 1 || ra.Leader != a || len(ra.Members) != 1 || ra.Protocol != "range" {
		t.Fatalf("lone join: %+v", ra)
	}
	if g.State != CompletingRebalance {
		t.Fatalf("state %s", g.State)
	}
	// The leader's sync persists; the reply waits for it.
	acts = g.Sync(t0, SyncRequest{Waiter: 2, MemberID: a, Generation: 1, Assignments: map[string][]byte{a: []byte("A")}})
	_, ss, ps := replies(acts)
	if len(ss) != 0 || len(ps) != 1 || !ps[0].Sync {
		t.Fatalf("leader sync acted %+v", acts)
	}
	_, ss, _ = replies(g.SyncPersisted(t0, 1, nil))
	if ss[2].Err != 0 || string(ss[2].Assignment) != "A" || g.State != Stable {
		t.Fatalf("after persist: %+v state %s", ss[2], g.State)
	}

	// A second member triggers a rebalance; the first learns by heartbeat.
	b, acts := joinNew(t, g, t0, 3, "b", "range")
	if len(acts) != 0 || g.State != PreparingRebalance {
		t.Fatalf("second join: %+v state %s", acts, g.State)
	}
	if code := g.Heartbeat(t0, a, "", 1); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %v", kerr.ErrorForCode(code))
	}
	js, _, _ = replies(g.Join(t0, joinReq(4, a, "a", "range")))
	if js[3].Generation != 2 || js[4].Generation != 2 || js[4].Leader != a || len(js[4].Members) != 2 || len(js[3].Members) != 0 {
		t.Fatalf("rebalance replies: %+v", js)
	}
	// A follower syncing first waits for the leader.
	if acts := g.Sync(t0, SyncRequest{Waiter: 5, MemberID: b, Generation: 2}); len(acts) != 0 {
		t.Fatalf("follower sync answered early: %+v", acts)
	}
	g.Sync(t0, SyncRequest{Waiter: 6, MemberID: a, Generation: 2, Assignments: map[string][]byte{a: []byte("A2"), b: []byte("B2")}})
	_, ss, _ = replies(g.SyncPersisted(t0, 2, nil))
	if string(ss[5].Assignment) != "B2" || string(ss[6].Assignment) != "A2" {
		t.Fatalf("sync replies: %+v", ss)
	}
	// Leaving moves the survivor through a new generation alone.
	codes, acts := g.Leave(t0, []LeaveRequest{{MemberID: b}})
	if codes[0] != 0 || g.State != PreparingRebalance || len(acts) != 0 {
		t.Fatalf("leave: %v %+v %s", codes, acts, g.State)
	}
	js, _, _ = replies(g.Join(t0, joinReq(7, a, "a", "range")))
	if js[7].Generation != 3 || len(js[7].Members) != 1 {
		t.Fatalf("rejoin after leave: %+v", js[7])
	}
}

func TestValidation(t *testing.T) {
	g := NewGroup("g", testRules(0), t0)
	a, _ := joinNew(t, g, t0, 1, "a", "range", "roundrobin")
	g.Sync(t0, SyncRequest{Waiter: 2, MemberID: a, Generation: 1, Assignments: map[string][]byte{}})
	g.SyncPersisted(t0, 1, nil)
	short := joinReq(3, "", "x", "range")
	short.SessionTimeout = 10 * time.Millisecond
	other := joinReq(4, "", "x", "range")
	other.ProtocolType = "connect"
	for _, tc := range []struct {
		name string
		req  JoinRequest
		want *kerr.Error
	}{
		{"session timeout too small", short, kerr.InvalidSessionTimeout},
		{"other protocol type", other, kerr.InconsistentGroupProtocol},
		{"no common protocol", joinReq(5, "", "x", "sticky"), kerr.InconsistentGroupProtocol},
		{"unknown member ID", joinReq(6, "ghost", "x", "range"), kerr.UnknownMemberID},
	} {
		js, _, _ := replies(g.Join(t0, tc.req))
		if got := js[tc.req.Waiter].Err; got != tc.want.Code {
			t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(got), tc.want)
		}
	}
	for _, tc := range []struct {
		name   string
		member string
		gen    int32
		want   int16
	}{
		{"current", a, 1, 0},
		{"stale generation", a, 0, kerr.IllegalGeneration.Code},
		{"unknown member", "ghost", 1, kerr.UnknownMemberID.Code},
		{"standalone commit to a live group", "", -1, kerr.UnknownMemberID.Code},
	} {
		if got := g.CheckCommit(t0, tc.member, "", tc.gen); got != tc.want {
			t.Errorf("commit %s: %v, want %v", tc.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
		}
	}
	if g.State != Stable || len(g.Members) != 1 {
		t.Fatalf("bad input changed the group: %s %d members", g.State, len(g.Members))
	}
	empty := NewGroup("e", testRules(0), t0)
	if code := empty.CheckCommit(t0, "", "", -1); code != 0 {
		t.Fatalf("standalone commit to an empty group: %v", kerr.ErrorForCode(code))
	}
	// group.max.size
	full := NewGroup("f", testRules(0), t0)
	for i := 0; i < 3; i++ {
		full.Join(t0, joinReq(uint64(10+i), "", "c", "range"))
	}
	js, _, _ := replies(full.Join(t0, joinReq(20, "", "c", "range")))
	if js[20].Err != kerr.GroupMaxSizeReached.Code {
		t.Fatalf("fourth member: %v", kerr.ErrorForCode(js[20].Err))
	}
}

func TestSelectProtocol(t *testing.T) {
	for _, tc := range []struct {
		members [][]string
		want    string
	}{
		{[][]string{{"range"}}, "range"},
		{[][]string{{"cooperative-sticky", "range"}, {"range"}}, "range"},
		{[][]string{{"roundrobin", "range"}, {"range", "roundrobin"}, {"range", "roundrobin"}}, "range"},
		{[][]string{{"sticky", "range"}, {"sticky", "range"}, {"range", "sticky"}}, "sticky"},
	} {
		g := NewGroup("g", testRules(0), t0)
		for i, ps := range tc.members {
			m := &Member{ID: fmt.Sprint(i), Protocols: protos(ps...)}
			g.Members[m.ID] = m
			g.order = append(g.order, m.ID)
		}
		if got := g.SelectProtocol(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.members, got, tc.want)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	g := NewGroup("g", testRules(0), t0)
	a, _ := joinNew(t, g, t0, 1, "a", "range")
	g.Sync(t0, SyncRequest{Waiter: 2, MemberID: a, Generation: 1, Assignments: map[string][]byte{}})
	g.SyncPersisted(t0, 1, nil)
	if d := g.NextDeadline(); !d.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("deadline %v", d)
	}
	g.Heartbeat(t0.Add(9*time.Second), a, "", 1)
	g.Tick(t0.Add(12 * time.Second))
	if len(g.Members) != 1 {
		t.Fatal("heartbeating member expired")
	}
	_, _, ps := replies(g.Tick(t0.Add(19 * time.Second)))
	if len(g.Members) != 0 || g.State != Empty || g.Generation != 2 || len(ps) != 1 {
		t.Fatalf("after expiry: %s gen %d members %d persists %d", g.State, g.Generation, len(g.Members), len(ps))
	}
}

func TestRebalanceTimeoutDropsLaggards(t *testing.T) {
	g := NewGroup("g", testRules(0), t0)
	a, _ := joinNew(t, g, t0, 1, "a", "range")
	g.Sync(t0, SyncRequest{Waiter: 2, MemberID: a, Generation: 1, Assignments: map[string][]byte{}})
	g.SyncPersisted(t0, 1, nil)
	_, _ = joinNew(t, g, t0, 3, "b", "range")
	// a keeps heartbeating but never rejoins: the rebalance timeout (20s)
	// completes the join without it.
	for s := 5; s <= 15; s += 5 {
		g.Heartbeat(t0.Add(time.Duration(s)*time.Second), a, "", 1)
	}
	js, _, _ := replies(g.Tick(t0.Add(20 * time.Second)))
	if js[3].Err != 0 || js[3].Generation != 2 || len(g.Members) != 1 || g.Members[a] != nil {
		t.Fatalf("after rebalance timeout: %+v members %d", js[3], len(g.Members))
	}
	if g.Leader == a || js[3].Leader != js[3].MemberID {
		t.Fatalf("leader %q", g.Leader)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	g := NewGroup("g", testRules(3*time.Second), t0)
	_, acts := joinNew(t, g, t0, 1, "a", "range")
	if len(acts) != 0 {
		t.Fatalf("first join answered before the initial delay: %+v", acts)
	}
	_, _ = joinNew(t, g, t0.Add(2*time.Second), 2, "b", "range")
	// A join within the delay extends it by another delay.
	if acts := g.Tick(t0.Add(3 * time.Second)); len(acts) != 0 {
		t.Fatalf("completed while members were still arriving: %+v", acts)
	}
	js, _, _ := replies(g.Tick(t0.Add(6 * time.Second)))
	if len(js) != 2 || js[1].Generation != 1 || js[2].Generation != 1 {
		t.Fatalf("after delay: %+v", js)
	}
}

func TestStaticMembership(t *testing.T) {
	g := NewGroup("g", testRules(0), t0)
	r := joinReq(1, "", "a", "range")
	r.InstanceID = "i1"
	js, _, _ := replies(g.Join(t0, r)) // static members skip MEMBER_ID_REQUIRED
	old := js[1].MemberID
	if js[1].Err != 0 || old == "" {
		t.Fatalf("static join: %+v", js[1])
	}
	g.Sync(t0, SyncRequest{Waiter: 2, MemberID: old, InstanceID: "i1", Generation: 1, Assignments: map[string][]byte{old: []byte("A")}})
	g.SyncPersisted(t0, 1, nil)

	r.Waiter = 3
	acts := g.Join(t0.Add(time.Second), r)
	js, _, ps := replies(acts)
	if js[3].Err != 0 || js[3].Generation != 1 || js[3].MemberID == old || !js[3].SkipAssignment || len(ps) != 1 || g.State != Stable {
		t.Fatalf("static rejoin: %+v persists %d state %s", js[3], len(ps), g.State)
	}
	if code := g.Heartbeat(t0, old, "i1", 1); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old member heartbeat: %v", kerr.ErrorForCode(code))
	}
	if code := g.CheckCommit(t0, old, "i1", 1); code != kerr.FencedInstanceID.Code {
		t.Fatalf("old member commit: %v", kerr.ErrorForCode(code))
	}
	_, ss, _ := replies(g.Sync(t0, SyncRequest{Waiter: 4, MemberID: js[3].MemberID, InstanceID: "i1", Generation: 1}))
	if string(ss[4].Assignment) != "A" {
		t.Fatalf("assignment after static rejoin: %q", ss[4].Assignment)
	}
	codes, _ := g.Leave(t0, []LeaveRequest{{MemberID: old, InstanceID: "i1"}})
	if codes[0] != kerr.FencedInstanceID.Code {
		t.Fatalf("leave with the fenced ID: %v", kerr.ErrorForCode(codes[0]))
	}
	codes, _ = g.Leave(t0, []LeaveRequest{{InstanceID: "i1"}})
	if codes[0] != 0 || len(g.Members) != 0 {
		t.Fatalf("leave by instance: %v, %d members", codes, len(g.Members))
	}
}

func TestLeaderSyncNeverComes(t *testing.T) {
	g := NewGroup("g", testRules(0), t0)
	a, _ := joinNew(t, g, t0, 1, "a", "range")
	_ = a
	g.Sync(t0, SyncRequest{Waiter: 2, MemberID: a, Generation: 1, Assignments: map[string][]byte{}})
	g.SyncPersisted(t0, 1, nil)
	b, _ := joinNew(t, g, t0, 3, "b", "range")
	g.Join(t0, joinReq(4, a, "a", "range"))
	// b syncs; the leader a never does.
	g.Sync(t0, SyncRequest{Waiter: 5, MemberID: b, Generation: 2})
	_, ss, _ := replies(g.Tick(t0.Add(21 * time.Second)))
	if ss[5].Err != kerr.RebalanceInProgress.Code || g.Members[a] != nil || g.State != PreparingRebalance {
		t.Fatalf("after sync timeout: %+v state %s", ss, g.State)
	}
}

func TestSyncPersistFailure(t *testing.T) {
	g := NewGroup("g", testRules(0), t0)
	a, _ := joinNew(t, g, t0, 1, "a", "range")
	g.Sync(t0, SyncRequest{Waiter: 2, MemberID: a, Generation: 1, Assignments: map[string][]byte{a: []byte("A")}})
	_, ss, _ := replies(g.SyncPersisted(t0, 1, fmt.Errorf("disk full")))
	if ss[2].Err != kerr.NotCoordinator.Code || g.State != PreparingRebalance {
		t.Fatalf("persist failure: %+v %s", ss, g.State)
	}
}

func TestPartitionFor(t *testing.T) {
	// Values from Kafka: Utils.abs("...".hashCode()) % 50.
	for _, tc := range []struct {
		group string
		want  int32
	}{
		{"", 0},
		{"a", 47},              // "a".hashCode() = 97
		{"group", 47},          // 98629247 % 50
		{"test-group-abc", 45}, // hashCode -149838695: negative, so abs first
		{"my-consumer-group", 13},
	} {
		if got := PartitionFor(tc.group, 50); got != tc.want {
			t.Errorf("%q: %d, want %d", tc.group, got, tc.want)
		}
	}
}

// TestEmptyGroupKeepsProtocolType: a group whose last member leaves stays
// described as a "consumer" group, as in Kafka, and still accepts a member of
// another protocol type afterwards.
func TestEmptyGroupKeepsProtocolType(t *testing.T) {
	g := NewGroup("g", testRules(0), t0)
	a, _ := joinNew(t, g, t0, 1, "a", "range")
	g.Sync(t0, SyncRequest{Waiter: 2, MemberID: a, Generation: 1, Assignments: map[string][]byte{a: []byte("A")}})
	g.SyncPersisted(t0, 1, nil)
	if codes, _ := g.Leave(t0, []LeaveRequest{{MemberID: a}}); codes[0] != 0 {
		t.Fatalf("leave: %v", codes)
	}
	if g.State != Empty || g.ProtocolType != "consumer" || g.Protocol != "" || g.Leader != "" {
		t.Fatalf("after last leave: state %s type %q protocol %q leader %q", g.State, g.ProtocolType, g.Protocol, g.Leader)
	}
	other := joinReq(3, "", "x", "range")
	other.ProtocolType = "connect"
	js, _, _ := replies(g.Join(t0, other))
	if js[3].Err != kerr.MemberIDRequired.Code {
		t.Fatalf("connect join of an empty consumer group: %v", kerr.ErrorForCode(js[3].Err))
	}
}
