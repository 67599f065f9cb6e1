package meta

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stratalog/strata/quota"
)

func TestClientQuotasApplyAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	s := openReady(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alice := quota.Entity{User: quota.Named("alice")}
	defClient := quota.Entity{ClientID: quota.DefaultPart}
	gen := s.QuotaGeneration()
	if err := s.AlterClientQuotas(ctx, []QuotaAlteration{
		{Entity: alice, Set: map[string]float64{quota.ProducerByteRate: 1 << 20, quota.RequestPercentage: 50}},
		{Entity: defClient, Set: map[string]float64{quota.ConsumerByteRate: 2 << 20}},
	}); err != nil {
		t.Fatal(err)
	}
	if s.QuotaGeneration() == gen {
		t.Fatal("generation unchanged by a change")
	}
	// Invalid alterations are refused whole: nothing of the entry lands.
	for _, bad := range [][]QuotaAlteration{
		{{Entity: quota.Entity{}, Set: map[string]float64{quota.ProducerByteRate: 1}}},
		{{Entity: alice, Set: map[string]float64{"controller_mutation_rate": 1}}},
		{{Entity: alice, Set: map[string]float64{quota.ProducerByteRate: -1}}},
		{{Entity: defClient, Set: map[string]float64{quota.ConsumerByteRate: 5}}, {Entity: alice, Remove: []string{"bogus"}}},
	} {
		if err := s.AlterClientQuotas(ctx, bad); !errors.Is(err, ErrInvalidCommand) {
			t.Fatalf("%+v: %v, want ErrInvalidCommand", bad, err)
		}
	}
	check := func(s *Store) {
		t.Helper()
		set := s.ClientQuotas()
		if v, _, ok := set.Resolve(quota.ProducerByteRate, "alice", "any"); !ok || v != 1<<20 {
			t.Fatalf("alice's produce quota: %v %v", v, ok)
		}
		if v, _, ok := set.Resolve(quota.ConsumerByteRate, "bob", "x"); !ok || v != 2<<20 {
			t.Fatalf("default client's fetch quota: %v %v", v, ok)
		}
	}
	check(s)
	if err := s.Snapshot(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openReady(t, cfg)
	defer s.Close()
	check(s)
	if err := s.AlterClientQuotas(ctx, []QuotaAlteration{{Entity: alice, Remove: []string{quota.ProducerByteRate, quota.RequestPercentage}}}); err != nil {
		t.Fatal(err)
	}
	if got := s.ClientQuotas().Entries(); len(got) != 1 || got[0].Entity != defClient {
		t.Fatalf("after removing alice's keys: %+v", got)
	}
}
