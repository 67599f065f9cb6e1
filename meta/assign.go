package meta

import (
	"fmt"
	"slices"
)

// assignReplicas spreads count partitions of rf replicas each over brokers
// round-robin. Partition i's replicas are the rf brokers starting at
// position start+i of the sorted broker list, so leaders (first replicas)
// rotate over the brokers and consecutive topics, given different starts,
// do not all lead on the same broker. It is a pure function; the caller
// chooses start.
func assignReplicas(brokers []int32, count int32, rf int16, start int) ([][]int32, error) {
	if err := checkPlacementArgs(count, rf, len(brokers)); err != nil {
		return nil, err
	}
	sorted := slices.Sorted(slices.Values(brokers))
	n := len(sorted)
	if start < 0 {
		start = -start
	}
	out := make([][]int32, count)
	for p := range out {
		replicas := make([]int32, rf)
		for r := range replicas {
			replicas[r] = sorted[(start+p+r)%n]
		}
		out[p] = replicas
	}
	return out, nil
}

// checkPlacementArgs validates a placement request for count partitions
// of rf replicas over n usable brokers.
func checkPlacementArgs(count int32, rf int16, n int) error {
	if rf <= 0 {
		return fmt.Errorf("%w: %d", ErrInvalidReplicationFactor, rf)
	}
	if int(rf) > maxReplicas {
		return fmt.Errorf("%w: %d exceeds %d", ErrInvalidReplicationFactor, rf, maxReplicas)
	}
	if count <= 0 || count > maxPartitions {
		return fmt.Errorf("%w: %d", ErrInvalidPartitions, count)
	}
	if int(rf) > n {
		return fmt.Errorf("%w: replication factor %d, %d live brokers registered", ErrNotEnoughBrokers, rf, n)
	}
	return nil
}

// checkAssignments validates explicit per-partition assignments against the
// registered brokers. Every
// partition must have the same replica count.
func checkAssignments(assignments [][]int32, registered map[int32]Broker) error {
	for i, replicas := range assignments {
		if err := validReplicas(replicas); err != nil {
			return fmt.Errorf("assignment %d: %w", i, err)
		}
		if len(replicas) != len(assignments[0]) {
			return fmt.Errorf("%w: assignment %d has %d replicas, assignment 0 has %d", ErrInvalidReplicaAssignment, i, len(replicas), len(assignments[0]))
		}
		for _, r := range replicas {
			if _, ok := registered[r]; !ok {
				return fmt.Errorf("%w: broker %d is not registered", ErrInvalidReplicaAssignment, r)
			}
		}
	}
	return nil
}

// assignmentsFromMap turns a TopicSpec's partition->replicas map into a
// slice, requiring exactly the keys 0..len-1.
func assignmentsFromMap(m map[int32][]int32) ([][]int32, error) {
	if len(m) > maxPartitions {
		return nil, fmt.Errorf("%w: %d partitions", ErrInvalidPartitions, len(m))
	}
	out := make([][]int32, len(m))
	for p, replicas := range m {
		if p < 0 || int(p) >= len(m) {
			return nil, fmt.Errorf("%w: assignments must cover partitions 0..%d, got partition %d", ErrInvalidReplicaAssignment, len(m)-1, p)
		}
		out[p] = replicas
	}
	return out, nil
}
