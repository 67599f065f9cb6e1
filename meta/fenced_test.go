package meta

import (
	"context"
	"errors"
	"testing"
)

func TestSetBrokerFenced(t *testing.T) {
	st := openReady(t, testConfig(t, t.TempDir()))
	registerBrokers(t, st, 1, 2)
	ctx := context.Background()
	v := st.Version()
	if err := st.SetBrokerFenced(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	if b, ok := st.Broker(2); !ok || !b.Fenced {
		t.Fatalf("broker 2 after fencing: %+v %v", b, ok)
	}
	if b, _ := st.Broker(1); b.Fenced {
		t.Fatalf("broker 1 fenced too: %+v", b)
	}
	if st.Version() <= v {
		t.Fatalf("version did not move: %d -> %d", v, st.Version())
	}
	// Fencing twice is a valid no-op.
	v = st.Version()
	if err := st.SetBrokerFenced(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	if st.Version() != v {
		t.Fatalf("no-op changed the version: %d -> %d", v, st.Version())
	}
	if err := st.SetBrokerFenced(ctx, 2, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := st.Broker(2); b.Fenced {
		t.Fatalf("broker 2 still fenced: %+v", b)
	}
	if err := st.SetBrokerFenced(ctx, 9, true); !errors.Is(err, ErrUnknownBroker) {
		t.Fatalf("unknown broker: %v", err)
	}
	// The flag survives a snapshot round trip.
	if err := st.SetBrokerFenced(ctx, 1, true); err != nil {
		t.Fatal(err)
	}
	var snap *snapshotJSON
	st.fsm.read(func(s *state) { x := s.toSnapshot(); snap = &x })
	back, err := stateFromSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !back.brokers[1].Fenced || back.brokers[2].Fenced {
		t.Fatalf("after snapshot: %+v", back.brokers)
	}
}
