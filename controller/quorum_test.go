package controller

import (
	"reflect"
	"testing"

	"github.com/stratalog/strata/meta"
)

func TestPlanQuorum(t *testing.T) {
	v := func(id int32, addr string) meta.Server { return meta.Server{ID: id, Addr: addr, Suffrage: meta.Voter} }
	nv := func(id int32, addr string) meta.Server {
		return meta.Server{ID: id, Addr: addr, Suffrage: meta.Nonvoter}
	}
	alive := func(id int32, addr string, voter bool) Candidate {
		return Candidate{ID: id, RaftAddr: addr, Voter: voter, Alive: true}
	}
	cases := []struct {
		name    string
		servers []meta.Server
		members []Candidate
		max     int
		want    []QuorumChange
	}{
		{"in step", []meta.Server{v(1, "a"), v(2, "b"), v(3, "c")},
			[]Candidate{alive(1, "a", true), alive(2, "b", true), alive(3, "c", true)}, 3, nil},
		{"voters up to the limit, then non-voters", []meta.Server{v(1, "a")},
			[]Candidate{alive(1, "a", true), alive(4, "d", true), alive(2, "b", true), alive(3, "c", true)}, 3,
			[]QuorumChange{{AddVoter, 2, "b"}, {AddVoter, 3, "c"}, {AddNonvoter, 4, "d"}}},
		{"brokers never vote", []meta.Server{v(1, "a")},
			[]Candidate{alive(1, "a", true), alive(2, "b", false)}, 3,
			[]QuorumChange{{AddNonvoter, 2, "b"}}},
		{"left voter stays, left non-voter removed", []meta.Server{v(1, "a"), v(2, "b"), v(3, "c"), nv(4, "d")},
			[]Candidate{alive(1, "a", true), {ID: 2, RaftAddr: "b", Voter: true, Left: true}, alive(3, "c", true), {ID: 4, RaftAddr: "d", Left: true}}, 3,
			[]QuorumChange{{Remove, 4, "d"}}},
		{"non-voter candidate promoted when a voter slot is free", []meta.Server{v(1, "a"), v(2, "b"), nv(4, "d")},
			[]Candidate{alive(1, "a", true), alive(2, "b", true), alive(4, "d", true)}, 3,
			[]QuorumChange{{AddVoter, 4, "d"}}},
		{"a member of another cluster is never added", []meta.Server{v(1, "a")},
			[]Candidate{alive(1, "a", true), {ID: 2, RaftAddr: "b", Voter: true, Alive: true, Foreign: true}, alive(3, "c", false)}, 3,
			[]QuorumChange{{AddNonvoter, 3, "c"}}},
		{"failed voter stays", []meta.Server{v(1, "a"), v(2, "b"), v(3, "c")},
			[]Candidate{alive(1, "a", true), {ID: 2, RaftAddr: "b", Voter: true}, alive(3, "c", true)}, 3, nil},
		{"self never removed", []meta.Server{v(1, "a")},
			[]Candidate{{ID: 1, RaftAddr: "a", Voter: true, Left: true}}, 3, nil},
		{"moved address re-added with its suffrage", []meta.Server{v(1, "strata-meta-1"), nv(2, "b")},
			[]Candidate{alive(1, "127.0.0.1:7947", true), alive(2, "b2", false)}, 3,
			[]QuorumChange{{AddVoter, 1, "127.0.0.1:7947"}, {AddNonvoter, 2, "b2"}}},
		{"member without raft address ignored", []meta.Server{v(1, "a")},
			[]Candidate{alive(1, "a", true), alive(2, "", true)}, 3, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := PlanQuorum(c.servers, c.members, c.max, 1)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("PlanQuorum = %v, want %v", got, c.want)
			}
		})
	}
}
