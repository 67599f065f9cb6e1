package controller

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/stratalog/strata/meta"
)

// BrokerInfo is what placement needs to know about a live broker.
type BrokerInfo struct {
	ID   int32
	Rack string // empty: no rack (each such broker counts as its own)
}

// load counts replicas and leaders per broker.
type load struct{ replicas, leaders map[int32]int }

func loadOf(topics []meta.Topic) load {
	l := load{replicas: map[int32]int{}, leaders: map[int32]int{}}
	for _, t := range topics {
		for _, p := range t.Partitions {
			for _, r := range p.Replicas {
				l.replicas[r]++
			}
			if p.Leader != meta.NoLeader {
				l.leaders[p.Leader]++
			}
		}
	}
	return l
}

// PlaceReplicas chooses replicas for count new partitions of rf replicas
// each, over the live brokers, given the existing topics' load. The first
// replica of each partition (its preferred leader) goes to the broker
// leading the fewest partitions, then holding the fewest replicas; each
// further replica to a broker on a rack the partition does not use yet,
// if one is left, holding the fewest replicas. Remaining ties go to the lower
// broker ID, so the result is deterministic. Each placed partition counts
// toward the load of the next.
func PlaceReplicas(live []BrokerInfo, existing []meta.Topic, count, rf int) ([][]int32, error) {
	if count <= 0 || rf <= 0 {
		return nil, fmt.Errorf("%w: %d partitions of %d replicas", ErrInvalidPlacement, count, rf)
	}
	brokers := slices.Clone(live)
	slices.SortFunc(brokers, func(a, b BrokerInfo) int { return cmp.Compare(a.ID, b.ID) })
	brokers = slices.CompactFunc(brokers, func(a, b BrokerInfo) bool { return a.ID == b.ID })
	if rf > len(brokers) {
		return nil, fmt.Errorf("%w: replication factor %d, %d live brokers", ErrNotEnoughBrokers, rf, len(brokers))
	}
	l := loadOf(existing)
	rackOf := func(b BrokerInfo) string {
		if b.Rack == "" {
			return fmt.Sprintf("\x00broker-%d", b.ID) // rackless: a rack of its own
		}
		return b.Rack
	}
	out := make([][]int32, 0, count)
	for range count {
		chosen := make([]int32, 0, rf)
		usedRacks := map[string]bool{}
		pick := func(better func(a, b BrokerInfo) int) {
			var best *BrokerInfo
			freeRack := false
			for i := range brokers {
				b := &brokers[i]
				if slices.Contains(chosen, b.ID) {
					continue
				}
				free := !usedRacks[rackOf(*b)]
				switch {
				case best == nil, free && !freeRack:
				case free == freeRack && better(*b, *best) < 0:
				default:
					continue
				}
				best, freeRack = b, free
			}
			chosen = append(chosen, best.ID)
			usedRacks[rackOf(*best)] = true
			l.replicas[best.ID]++
		}
		byLeaders := func(a, b BrokerInfo) int {
			return cmp.Or(cmp.Compare(l.leaders[a.ID], l.leaders[b.ID]), cmp.Compare(l.replicas[a.ID], l.replicas[b.ID]), cmp.Compare(a.ID, b.ID))
		}
		byReplicas := func(a, b BrokerInfo) int {
			return cmp.Or(cmp.Compare(l.replicas[a.ID], l.replicas[b.ID]), cmp.Compare(a.ID, b.ID))
		}
		pick(byLeaders)
		l.leaders[chosen[0]]++
		for len(chosen) < rf {
			pick(byReplicas)
		}
		out = append(out, chosen)
	}
	return out, nil
}
