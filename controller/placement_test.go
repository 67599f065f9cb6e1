package controller

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/stratalog/strata/meta"
)

func brokers(racks ...string) []BrokerInfo {
	var out []BrokerInfo
	for i, r := range racks {
		out = append(out, BrokerInfo{ID: int32(i + 1), Rack: r})
	}
	return out
}

func counts(assign [][]int32) (replicas, leaders map[int32]int) {
	replicas, leaders = map[int32]int{}, map[int32]int{}
	for _, rs := range assign {
		leaders[rs[0]]++
		for _, r := range rs {
			replicas[r]++
		}
	}
	return replicas, leaders
}

func spread(m map[int32]int, ids []int32) int {
	lo, hi := 1<<30, 0
	for _, id := range ids {
		lo, hi = min(lo, m[id]), max(hi, m[id])
	}
	return hi - lo
}

func TestPlaceReplicas(t *testing.T) {
	topic := func(leaders ...int32) meta.Topic {
		t := meta.Topic{Name: "old"}
		for i, l := range leaders {
			t.Partitions = append(t.Partitions, meta.Partition{Index: int32(i), Leader: l, Replicas: []int32{l}, ISR: []int32{l}})
		}
		return t
	}
	tests := []struct {
		name     string
		live     []BrokerInfo
		existing []meta.Topic
		count    int
		rf       int
		want     [][]int32 // exact, when given
		racks    bool      // replicas of a partition on distinct racks
	}{
		{name: "no racks", live: brokers("", "", ""), count: 3, rf: 2,
			want: [][]int32{{1, 2}, {3, 1}, {2, 3}}},
		{name: "rf 1 rotates leaders", live: brokers("", "", ""), count: 4, rf: 1,
			want: [][]int32{{1}, {2}, {3}, {1}}},
		{name: "existing load avoided", live: brokers("", "", ""), existing: []meta.Topic{topic(1, 1, 2)}, count: 2, rf: 1,
			want: [][]int32{{3}, {2}}},
		{name: "two racks", live: brokers("a", "a", "b", "b"), count: 8, rf: 2, racks: true},
		{name: "three racks rf 3", live: brokers("a", "b", "c", "a", "b", "c"), count: 12, rf: 3, racks: true},
		{name: "more replicas than racks", live: brokers("a", "a", "b"), count: 3, rf: 3},
		{name: "rack order matters not", live: []BrokerInfo{{ID: 9, Rack: "x"}, {ID: 4, Rack: "y"}, {ID: 6, Rack: "x"}}, count: 2, rf: 2,
			want: [][]int32{{4, 6}, {9, 4}}, racks: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PlaceReplicas(tc.live, tc.existing, tc.count, tc.rf)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if len(got) != tc.count {
				t.Fatalf("%d partitions", len(got))
			}
			rack := map[int32]string{}
			var ids []int32
			for _, b := range tc.live {
				rack[b.ID] = b.Rack
				ids = append(ids, b.ID)
			}
			for _, rs := range got {
				if len(rs) != tc.rf || len(slices.Compact(slices.Sorted(slices.Values(rs)))) != tc.rf {
					t.Fatalf("partition replicas %v", rs)
				}
				if tc.racks {
					seen := map[string]bool{}
					for _, r := range rs {
						if seen[rack[r]] {
							t.Fatalf("replicas %v share rack %s", rs, rack[r])
						}
						seen[rack[r]] = true
					}
				}
			}
			if tc.existing == nil {
				replicas, leaders := counts(got)
				if spread(replicas, ids) > 1 || spread(leaders, ids) > 1 {
					t.Fatalf("unbalanced: replicas %v leaders %v (%v)", replicas, leaders, got)
				}
			}
			// Deterministic whatever the input order.
			rev := slices.Clone(tc.live)
			slices.Reverse(rev)
			again, _ := PlaceReplicas(rev, tc.existing, tc.count, tc.rf)
			if !reflect.DeepEqual(got, again) {
				t.Fatalf("order-dependent: %v vs %v", got, again)
			}
		})
	}
}

func TestPlaceReplicasErrors(t *testing.T) {
	for _, tc := range []struct {
		live      []BrokerInfo
		count, rf int
		err       error
	}{
		{brokers("", ""), 1, 3, ErrNotEnoughBrokers},
		{nil, 1, 1, ErrNotEnoughBrokers},
		{brokers(""), 0, 1, ErrInvalidPlacement},
		{brokers(""), 1, 0, ErrInvalidPlacement},
		{[]BrokerInfo{{ID: 1}, {ID: 1}}, 1, 2, ErrNotEnoughBrokers},
	} {
		if _, err := PlaceReplicas(tc.live, nil, tc.count, tc.rf); !errors.Is(err, tc.err) {
			t.Errorf("%v count %d rf %d: %v, want %v", tc.live, tc.count, tc.rf, err, tc.err)
		}
	}
}

// TestPlacementStaysBalancedAcrossTopics creates topics one after another,
// each placed against the load of the ones before.
func TestPlacementStaysBalancedAcrossTopics(t *testing.T) {
	live := brokers("a", "b", "c", "a", "b")
	var topics []meta.Topic
	for i := range 7 {
		assign, err := PlaceReplicas(live, topics, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		tp := meta.Topic{Name: fmt.Sprintf("t%d", i)}
		for p, rs := range assign {
			tp.Partitions = append(tp.Partitions, meta.Partition{Index: int32(p), Leader: rs[0], Replicas: rs, ISR: rs})
		}
		topics = append(topics, tp)
	}
	var all [][]int32
	for _, tp := range topics {
		for _, p := range tp.Partitions {
			all = append(all, p.Replicas)
		}
	}
	replicas, leaders := counts(all)
	ids := []int32{1, 2, 3, 4, 5}
	if spread(replicas, ids) > 1 || spread(leaders, ids) > 1 {
		t.Fatalf("after 7 topics: replicas %v leaders %v", replicas, leaders)
	}
}
