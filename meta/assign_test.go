package meta

import (
	"errors"
	"reflect"
	"testing"
)

func TestAssignReplicas(t *testing.T) {
	tests := []struct {
		name    string
		brokers []int32
		count   int32
		rf      int16
		start   int
		want    [][]int32
		err     error
	}{
		{"rf1 rotates", []int32{3, 1, 2}, 4, 1, 0, [][]int32{{1}, {2}, {3}, {1}}, nil},
		{"rf2 offset start", []int32{1, 2, 3}, 3, 2, 1, [][]int32{{2, 3}, {3, 1}, {1, 2}}, nil},
		{"rf equals brokers", []int32{5, 7}, 2, 2, 0, [][]int32{{5, 7}, {7, 5}}, nil},
		{"negative start", []int32{1, 2}, 1, 1, -1, [][]int32{{2}}, nil},
		{"rf above brokers", []int32{1}, 1, 2, 0, nil, ErrNotEnoughBrokers},
		{"no brokers", nil, 1, 1, 0, nil, ErrNotEnoughBrokers},
		{"zero rf", []int32{1}, 1, 0, 0, nil, ErrInvalidReplicationFactor},
		{"zero count", []int32{1}, 0, 1, 0, nil, ErrInvalidPartitions},
		{"huge rf", []int32{1}, 1, 1000, 0, nil, ErrInvalidReplicationFactor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := assignReplicas(tc.brokers, tc.count, tc.rf, tc.start)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAssignmentsFromMap(t *testing.T) {
	got, err := assignmentsFromMap(map[int32][]int32{1: {2}, 0: {1}})
	if err != nil || !reflect.DeepEqual(got, [][]int32{{1}, {2}}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, m := range []map[int32][]int32{{1: {1}}, {-1: {1}}, {0: {1}, 5: {1}}} {
		if _, err := assignmentsFromMap(m); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Errorf("%v: err = %v", m, err)
		}
	}
}

func TestValidTopicName(t *testing.T) {
	for _, ok := range []string{"a", "A-b_c.d", "__consumer_offsets", string(make([]byte, 0)) + "x"} {
		if err := validTopicName(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a b", "ä", "a/b", "a\x00"} {
		if err := validTopicName(bad); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("%q accepted", bad)
		}
	}
}
