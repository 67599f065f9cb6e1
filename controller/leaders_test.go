package controller

import (
	"errors"
	"slices"
	"testing"

	"github.com/stratalog/strata/meta"
)

func TestPlanElection(t *testing.T) {
	part := func(leader int32, isr ...int32) meta.Partition {
		return meta.Partition{Index: 3, Leader: leader, LeaderEpoch: 7, Replicas: []int32{1, 2, 3}, ISR: isr}
	}
	all := map[int32]bool{1: true, 2: true, 3: true}
	cases := []struct {
		name    string
		p       meta.Partition
		kind    ElectionType
		live    map[int32]bool
		err     error
		leader  int32
		isr     []int32
		unclean bool
	}{
		{"preferred already leads", part(1, 1, 2, 3), ElectPreferred, all, ErrElectionNotNeeded, 0, nil, false},
		{"preferred moves back", part(2, 1, 2, 3), ElectPreferred, all, nil, 1, []int32{1, 2, 3}, false},
		{"preferred out of sync", part(2, 2, 3), ElectPreferred, all, ErrPreferredNotAvailable, 0, nil, false},
		{"preferred not live", part(2, 1, 2, 3), ElectPreferred, map[int32]bool{2: true, 3: true}, ErrPreferredNotAvailable, 0, nil, false},
		{"preferred leads but died", part(1, 1, 2, 3), ElectPreferred, map[int32]bool{2: true, 3: true}, ErrPreferredNotAvailable, 0, nil, false},
		{"unclean with a live leader", part(2, 2), ElectUnclean, all, ErrElectionNotNeeded, 0, nil, false},
		{"unclean prefers a live ISR member", part(meta.NoLeader, 1, 3), ElectUnclean, map[int32]bool{2: true, 3: true}, nil, 3, []int32{3}, false},
		{"unclean takes an out-of-sync replica", part(meta.NoLeader, 1), ElectUnclean, map[int32]bool{2: true, 3: true}, nil, 2, []int32{2}, true},
		{"unclean with a dead leader", part(1, 1), ElectUnclean, map[int32]bool{3: true}, nil, 3, []int32{3}, true},
		{"unclean with nothing live", part(meta.NoLeader, 1), ElectUnclean, map[int32]bool{}, ErrNoEligibleLeader, 0, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := PlanElection("t", c.p, c.kind, c.live)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if err != nil {
				return
			}
			if u.Leader != c.leader || !slices.Equal(u.ISR, c.isr) || u.Unclean != c.unclean {
				t.Fatalf("got leader %d isr %v unclean %v, want %d %v %v", u.Leader, u.ISR, u.Unclean, c.leader, c.isr, c.unclean)
			}
			if u.ExpectedLeaderEpoch != 7 || !slices.Equal(u.ExpectedISR, c.p.ISR) || u.Topic != "t" || u.Partition != 3 {
				t.Fatalf("guards not taken from the partition: %+v", u)
			}
		})
	}
	if _, err := PlanElection("t", part(1, 1), ElectionType(9), all); err == nil {
		t.Fatal("unknown election type accepted")
	}
}
