package meta

import (
	"errors"
	"slices"
	"testing"
)

func reassignState(t *testing.T) *state {
	t.Helper()
	s := newState()
	for _, id := range []int32{1, 2, 3, 4} {
		if _, err := s.apply(cmdRegisterBroker, &registerBroker{Broker: brokerJSON{ID: id, Host: "h", Port: 9000 + id}}); err != nil {
			t.Fatal(err)
		}
	}
	tj := topicToJSON(Topic{Name: "a", ID: [16]byte{1}, Partitions: []Partition{
		{Index: 0, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}},
	}})
	if _, err := s.apply(cmdCreateTopic, &createTopic{Topic: tj}); err != nil {
		t.Fatal(err)
	}
	return s
}

func part0(s *state) Partition { return s.topics["a"].Partitions[0] }

func TestReassignStartRetargetCancel(t *testing.T) {
	s := reassignState(t)
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Target: []int32{4, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	p := part0(s)
	if !slices.Equal(p.Replicas, []int32{4, 2, 3, 1}) || !slices.Equal(p.Adding, []int32{4}) || !slices.Equal(p.Removing, []int32{1}) {
		t.Fatalf("started: %+v", p)
	}
	if !slices.Equal(p.Target(), []int32{4, 2, 3}) || !slices.Equal(p.Original(), []int32{2, 3, 1}) || !p.Reassigning() {
		t.Fatalf("target %v original %v", p.Target(), p.Original())
	}
	if p.Leader != 1 || p.LeaderEpoch != 0 || !slices.Equal(p.ISR, []int32{1, 2, 3}) {
		t.Fatalf("leadership changed on start: %+v", p)
	}
	// Retarget: the original replicas stay the reference.
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Target: []int32{1, 4}}); err != nil {
		t.Fatal(err)
	}
	p = part0(s)
	if !slices.Equal(p.Replicas, []int32{1, 4, 2, 3}) || !slices.Equal(p.Adding, []int32{4}) || !slices.Equal(p.Removing, []int32{2, 3}) {
		t.Fatalf("retargeted: %+v", p)
	}
	// The same target again changes nothing.
	if changed, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Target: []int32{1, 4}}); err != nil || changed {
		t.Fatalf("repeat: changed %v err %v", changed, err)
	}
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Cancel: true}); err != nil {
		t.Fatal(err)
	}
	p = part0(s)
	if !slices.Equal(p.Replicas, []int32{1, 2, 3}) || p.Reassigning() || p.Leader != 1 {
		t.Fatalf("cancelled: %+v", p)
	}
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Cancel: true}); !errors.Is(err, ErrNoReassignment) {
		t.Fatalf("cancel with none in progress: %v", err)
	}
	for _, bad := range [][]int32{{}, {1, 1}, {-1}} {
		if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Target: bad}); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Fatalf("target %v: %v", bad, err)
		}
	}
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "b", Partition: 0, Target: []int32{1}}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 7, Target: []int32{1}}); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("unknown partition: %v", err)
	}
}

// A cancel whose leader was an adding replica hands leadership to an
// original replica in the ISR and bumps the epoch.
func TestReassignCancelMovesLeaderOffAddedReplica(t *testing.T) {
	s := reassignState(t)
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Target: []int32{4, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	// 4 caught up and was elected.
	if _, err := s.apply(cmdUpdatePartition, &updatePartition{Topic: "a", Partition: 0, Leader: 4, ISR: []int32{4, 2, 3, 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Cancel: true}); err != nil {
		t.Fatal(err)
	}
	p := part0(s)
	if p.Leader != 2 || p.LeaderEpoch != 2 || !slices.Equal(p.ISR, []int32{2, 3, 1}) {
		t.Fatalf("after cancel: %+v", p)
	}
}

// Completing sets the target replicas, guarded by the replicas the
// controller planned from; a new replica set ends the reassignment.
func TestReassignCompleteGuard(t *testing.T) {
	s := reassignState(t)
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Target: []int32{4, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	planned := part0(s).Replicas
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Target: []int32{4, 3, 2}}); err != nil {
		t.Fatal(err)
	}
	done := &updatePartitionIf{
		updatePartition: updatePartition{Topic: "a", Partition: 0, Leader: 4, ISR: []int32{4, 2, 3}, Replicas: []int32{4, 2, 3}},
		ExpectedISR:     []int32{1, 2, 3}, ExpectedReplicas: planned,
	}
	if _, err := s.apply(cmdUpdatePartitionIf, done); !errors.Is(err, ErrStaleEpoch) {
		t.Fatalf("stale completion: %v", err)
	}
	done.ExpectedReplicas = part0(s).Replicas
	done.Replicas = []int32{4, 3, 2}
	if _, err := s.apply(cmdUpdatePartitionIf, done); err != nil {
		t.Fatal(err)
	}
	p := part0(s)
	if !slices.Equal(p.Replicas, []int32{4, 3, 2}) || p.Reassigning() || p.Leader != 4 || p.LeaderEpoch != 1 {
		t.Fatalf("completed: %+v", p)
	}
}

func TestReassignSurvivesSnapshot(t *testing.T) {
	s := reassignState(t)
	if _, err := s.apply(cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Target: []int32{4, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	tj := topicToJSON(*s.topics["a"])
	back := tj.topic()
	if err := validTopic(back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Partitions[0].Adding, []int32{4}) || !slices.Equal(back.Partitions[0].Removing, []int32{1}) {
		t.Fatalf("round trip: %+v", back.Partitions[0])
	}
	bad := back
	bad.Partitions = []Partition{back.Partitions[0].clone()}
	bad.Partitions[0].Adding = []int32{9}
	if err := validTopic(bad); !errors.Is(err, ErrInvalidReplicaAssignment) {
		t.Fatalf("adding a non-replica: %v", err)
	}
}
