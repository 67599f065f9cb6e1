package meta

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/stratalog/strata/quota"
)

// Client quotas (Kafka's DescribeClientQuotas / AlterClientQuotas): per
// user and client-id entity, the produce and fetch byte rates and request
// percentage, replicated so every broker throttles alike and carried in
// snapshots.

// QuotaAlteration sets and removes keys of one entity's quotas.
type QuotaAlteration struct {
	Entity quota.Entity       `json:"entity"`
	Set    map[string]float64 `json:"set,omitempty"`
	Remove []string           `json:"remove,omitempty"`
}

// alterClientQuotas applies alterations in one entry, all or none.
type alterClientQuotas struct {
	Alterations []QuotaAlteration `json:"alterations"`
}

// quotaJSON is one entity's quotas in a snapshot.
type quotaJSON struct {
	Entity quota.Entity       `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// ValidateQuotaAlteration checks one alteration as the log entry will.
func ValidateQuotaAlteration(a QuotaAlteration) error {
	if err := a.Entity.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidCommand, err)
	}
	for k, v := range a.Set {
		if err := quota.ValidateValue(k, v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidCommand, a.Entity, err)
		}
	}
	for _, k := range a.Remove {
		if !slices.Contains(quota.Keys, k) {
			return fmt.Errorf("%w: %s: %v: %q", ErrInvalidCommand, a.Entity, quota.ErrInvalidKey, k)
		}
		if _, both := a.Set[k]; both {
			return fmt.Errorf("%w: %s: %s both set and removed", ErrInvalidCommand, a.Entity, k)
		}
	}
	return nil
}

// quotaGens numbers quota sets process-wide, as aclGens does ACL sets.
var quotaGens atomic.Uint64

func (s *state) applyAlterClientQuotas(c *alterClientQuotas) (bool, error) {
	for _, a := range c.Alterations {
		if err := ValidateQuotaAlteration(a); err != nil {
			return false, err
		}
	}
	changed := false
	for _, a := range c.Alterations {
		m := s.quotas[a.Entity]
		for _, k := range a.Remove {
			if _, ok := m[k]; ok {
				delete(m, k)
				changed = true
			}
		}
		for k, v := range a.Set {
			if m == nil {
				m = map[string]float64{}
				s.quotas[a.Entity] = m
			}
			if old, ok := m[k]; !ok || old != v {
				m[k] = v
				changed = true
			}
		}
		if m != nil && len(m) == 0 {
			delete(s.quotas, a.Entity)
		}
	}
	if changed {
		s.quotaGen = quotaGens.Add(1)
	}
	return changed, nil
}

func (s *state) snapshotQuotas(out *snapshotJSON) {
	for _, e := range s.quotaSet().Entries() {
		out.Quotas = append(out.Quotas, quotaJSON{Entity: e.Entity, Values: e.Values})
	}
}

func (s *state) restoreQuotas(snap *snapshotJSON) error {
	for _, q := range snap.Quotas {
		if err := ValidateQuotaAlteration(QuotaAlteration{Entity: q.Entity, Set: q.Values}); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		s.quotas[q.Entity] = maps.Clone(q.Values)
	}
	if len(s.quotas) > 0 {
		s.quotaGen = quotaGens.Add(1)
	}
	return nil
}

func (s *state) quotaSet() *quota.Set { return quota.NewSet(s.quotas) }

// ClientQuotas is every configured client quota.
func (s *Store) ClientQuotas() (set *quota.Set) {
	s.fsm.read(func(st *state) { set = st.quotaSet() })
	return set
}

// QuotaGeneration changes whenever the quotas do (never repeating within
// the process), so a reader rebuilds only then.
func (s *Store) QuotaGeneration() (g uint64) {
	s.fsm.read(func(st *state) { g = st.quotaGen })
	return g
}

// AlterClientQuotas applies alterations in one change; each must pass
// ValidateQuotaAlteration.
func (s *Store) AlterClientQuotas(ctx context.Context, alts []QuotaAlteration) error {
	_, err := viaLeader(s, ctx, mAlterClientQuotas, alts, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.alterClientQuotas(ctx, alts)
	})
	return err
}

func (s *Store) alterClientQuotas(ctx context.Context, alts []QuotaAlteration) error {
	for _, a := range alts {
		if err := ValidateQuotaAlteration(a); err != nil {
			return err
		}
	}
	return s.apply(ctx, cmdAlterClientQuotas, &alterClientQuotas{Alterations: alts})
}

const mAlterClientQuotas = "AlterClientQuotas"

func init() {
	forwardMethods[mAlterClientQuotas] = method(func(s *Store, ctx context.Context, alts []QuotaAlteration) (any, error) {
		return nil, s.alterClientQuotas(ctx, alts)
	})
}
