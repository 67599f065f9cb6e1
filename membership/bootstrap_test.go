package membership

import (
	"errors"
	"reflect"
	"testing"
)

func cand(id int32, expect int, cid string) MemberInfo {
	return MemberInfo{
		Name:   NodeName(id),
		Status: StatusAlive,
		Tags:   Tags{NodeID: id, Role: RoleVoter, RaftAddr: "10.0.0." + string(rune('0'+id)) + ":7947", BootstrapExpect: expect, ClusterID: cid},
	}
}

func with(m MemberInfo, f func(*MemberInfo)) MemberInfo { f(&m); return m }

func TestDecideBootstrap(t *testing.T) {
	broker := with(cand(9, 0, ""), func(m *MemberInfo) { m.Tags.Role = RoleBroker })
	servers := func(ids ...int32) []Server {
		var out []Server
		for _, id := range ids {
			out = append(out, Server{NodeID: id, RaftAddr: cand(id, 0, "").Tags.RaftAddr})
		}
		return out
	}
	tests := []struct {
		name    string
		expect  int
		self    MemberInfo
		members []MemberInfo
		want    Action
		servers []Server
		cid     string
		err     error
	}{
		{name: "alone, expect 1", expect: 1, self: cand(1, 1, ""), want: ActionBootstrap, servers: servers(1)},
		{name: "1 of 3", expect: 3, self: cand(1, 3, ""), members: []MemberInfo{cand(1, 3, "")}, want: ActionWait},
		{name: "2 of 3 plus a broker", expect: 3, self: cand(2, 3, ""), members: []MemberInfo{cand(1, 3, ""), broker}, want: ActionWait},
		{name: "3 of 3", expect: 3, self: cand(2, 3, ""), members: []MemberInfo{cand(3, 3, ""), cand(1, 3, ""), broker}, want: ActionBootstrap, servers: servers(1, 2, 3)},
		{name: "failed member not counted", expect: 3, self: cand(2, 3, ""),
			members: []MemberInfo{cand(1, 3, ""), with(cand(3, 3, ""), func(m *MemberInfo) { m.Status = StatusFailed })}, want: ActionWait},
		{name: "4 seen, in lowest 3", expect: 3, self: cand(3, 3, ""), members: []MemberInfo{cand(1, 3, ""), cand(2, 3, ""), cand(4, 3, "")}, want: ActionBootstrap, servers: servers(1, 2, 3)},
		{name: "4 seen, not in lowest 3", expect: 3, self: cand(4, 3, ""), members: []MemberInfo{cand(1, 3, ""), cand(2, 3, ""), cand(3, 3, "")}, want: ActionWait},
		{name: "voter without expect is not a candidate", expect: 2, self: cand(1, 2, ""), members: []MemberInfo{cand(2, 0, "")}, want: ActionWait},
		{name: "existing cluster", expect: 3, self: cand(4, 3, ""), members: []MemberInfo{cand(1, 3, "c1"), cand(2, 3, "c1"), cand(3, 3, "")}, want: ActionJoinExisting, cid: "c1"},
		{name: "existing cluster via a broker", expect: 1, self: cand(4, 1, ""), members: []MemberInfo{with(broker, func(m *MemberInfo) { m.Tags.ClusterID = "c1" })}, want: ActionJoinExisting, cid: "c1"},
		{name: "two cluster ids", expect: 3, self: cand(4, 3, ""), members: []MemberInfo{cand(1, 3, "c1"), cand(2, 3, "c2")}, err: ErrClusterIDMismatch},
		{name: "expect mismatch", expect: 3, self: cand(1, 3, ""), members: []MemberInfo{cand(2, 3, ""), cand(3, 5, "")}, err: ErrExpectMismatch},
		{name: "duplicate ids", expect: 3, self: cand(1, 3, ""), members: []MemberInfo{with(cand(2, 3, ""), func(m *MemberInfo) { m.Name = "other" }), cand(2, 3, "")}, err: ErrDuplicateNodeID},
		{name: "no raft addr", expect: 1, self: with(cand(1, 1, ""), func(m *MemberInfo) { m.Tags.RaftAddr = "" }), err: ErrBadTags},
		{name: "not a candidate", expect: 0, self: cand(1, 0, ""), err: ErrNotCandidate},
		{name: "broker cannot bootstrap", expect: 1, self: broker, err: ErrNotCandidate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := DecideBootstrap(tc.expect, tc.self, tc.members)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Action != tc.want || !reflect.DeepEqual(d.Servers, tc.servers) || d.ClusterID != tc.cid {
				t.Fatalf("got %+v, want %s %v %q", d, tc.want, tc.servers, tc.cid)
			}
			if d.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

// TestDecideBootstrapAgrees checks that every candidate seeing the same
// members computes the same server list, whatever order serf lists them.
func TestDecideBootstrapAgrees(t *testing.T) {
	ms := []MemberInfo{cand(5, 3, ""), cand(2, 3, ""), cand(7, 3, "")}
	var first []Server
	for i, self := range ms {
		rotated := append(append([]MemberInfo{}, ms[i:]...), ms[:i]...)
		d, err := DecideBootstrap(3, self, rotated)
		if err != nil || d.Action != ActionBootstrap {
			t.Fatalf("%s: %+v %v", self.Name, d, err)
		}
		if first == nil {
			first = d.Servers
		} else if !reflect.DeepEqual(first, d.Servers) {
			t.Fatalf("%s bootstraps %v, another %v", self.Name, d.Servers, first)
		}
	}
}
