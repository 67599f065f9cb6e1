package meta

import (
	"maps"
	"slices"
)

// Placer chooses replicas for count new partitions of rf replicas each,
// given the unfenced registered brokers (by ID) and the existing topics.
// The cluster runtime sets one built on the controller's rack-aware
// placement; without one, partitions are spread round-robin.
type Placer func(live []Broker, existing []Topic, count int32, rf int16) ([][]int32, error)

// SetPlacer sets the placement CreateTopic uses on this node when it leads
// (writes from other nodes are forwarded to the leader, so every node that
// may lead sets the same placer). nil restores round-robin placement.
func (s *Store) SetPlacer(p Placer) {
	s.placer.Store(&p)
}

func (s *Store) placerFunc() Placer {
	if p := s.placer.Load(); p != nil {
		return *p
	}
	return nil
}

// placementBrokers are the brokers new replicas may go to: registered and
// not fenced, by ID. When every broker is fenced (a single node whose
// lease has lapsed) all registered brokers are used, so placement still
// answers and the controller elects leaders once they return.
func placementBrokers(st *state) []Broker {
	var live, all []Broker
	for _, id := range slices.Sorted(maps.Keys(st.brokers)) {
		b := st.brokers[id]
		all = append(all, b)
		if !b.Fenced {
			live = append(live, b)
		}
	}
	if len(live) == 0 {
		return all
	}
	return live
}

func brokerIDs(bs []Broker) []int32 {
	out := make([]int32, len(bs))
	for i, b := range bs {
		out[i] = b.ID
	}
	return out
}

// topicList copies every topic in name order.
func topicList(st *state) []Topic {
	out := make([]Topic, 0, len(st.topics))
	for _, name := range slices.Sorted(maps.Keys(st.topics)) {
		out = append(out, st.topics[name].clone())
	}
	return out
}
