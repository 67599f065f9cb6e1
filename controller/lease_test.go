package controller

import (
	"errors"
	"maps"
	"slices"
	"testing"
	"time"
)

func TestLeaseTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	if _, err := NewLeaseTable(0); !errors.Is(err, ErrInvalidLease) {
		t.Fatalf("zero timeout: %v", err)
	}
	lt, err := NewLeaseTable(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e1, _ := lt.Register(1, at(0))
	e2, _ := lt.Register(2, at(0))
	if e1 == e2 || e1 <= 0 {
		t.Fatalf("epochs %d %d", e1, e2)
	}
	if _, err := lt.Register(-1, at(0)); !errors.Is(err, ErrInvalidLease) {
		t.Fatalf("negative id: %v", err)
	}

	steps := []struct {
		name     string
		do       func() error
		at       int
		live     []int32
		expiring []int32
	}{
		{name: "both fresh", at: 900, live: []int32{1, 2}},
		{name: "1 heartbeats", at: 900, do: func() error { _, err := lt.Heartbeat(1, e1, at(900)); return err }, live: []int32{1, 2}},
		{name: "timeout is inclusive", at: 1000, live: []int32{1, 2}},
		{name: "2 expires", at: 1001, live: []int32{1}, expiring: []int32{2}},
		{name: "2 fenced by the plan", at: 1500, do: func() error { lt.Fence(2); return nil }, live: []int32{1}},
		{name: "1 expires too", at: 1901, live: nil, expiring: []int32{1}},
		{name: "2 heartbeats and is unfenced", at: 2000, do: func() error {
			unfenced, err := lt.Heartbeat(2, e2, at(2000))
			if !unfenced {
				return errors.New("heartbeat of a fenced broker did not report unfencing")
			}
			return err
		}, live: []int32{2}, expiring: []int32{1}},
		{name: "serf says 2 failed", at: 2100, do: func() error { lt.Fence(2); return nil }, live: nil, expiring: []int32{1}},
		{name: "1 restarts with a new epoch", at: 2200, do: func() error {
			e, err := lt.Register(1, at(2200))
			if e <= e2 {
				return errors.New("new epoch not larger")
			}
			e1 = e
			return err
		}, live: []int32{1}},
	}
	for _, s := range steps {
		if s.do != nil {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		live := slices.Sorted(maps.Keys(lt.Live(at(s.at))))
		if !slices.Equal(live, s.live) {
			t.Fatalf("%s: live %v, want %v", s.name, live, s.live)
		}
		if got := lt.Expiring(at(s.at)); !slices.Equal(got, s.expiring) {
			t.Fatalf("%s: expiring %v, want %v", s.name, got, s.expiring)
		}
		for _, id := range []int32{1, 2} {
			if lt.Fenced(id, at(s.at)) == slices.Contains(s.live, id) {
				t.Fatalf("%s: Fenced(%d) disagrees with Live", s.name, id)
			}
		}
	}

	// The old incarnation of 1 is refused; unknown brokers too.
	if _, err := lt.Heartbeat(1, e1-100, at(2300)); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
	if _, err := lt.Heartbeat(7, 1, at(2300)); !errors.Is(err, ErrUnknownBroker) {
		t.Fatalf("unknown broker: %v", err)
	}
	// A heartbeat older than the last one does not move the lease back.
	if _, err := lt.Heartbeat(1, e1, at(100)); err != nil {
		t.Fatal(err)
	}
	if lt.Fenced(1, at(3000)) {
		t.Fatal("an out-of-order heartbeat shortened the lease")
	}

	// A new controller seeds every registered broker with a full lease,
	// keeping epochs it knows.
	lt.Seed([]int32{1, 3}, at(5000))
	if lt.Fenced(1, at(5900)) || lt.Fenced(3, at(5900)) || !lt.Fenced(2, at(5900)) {
		t.Fatal("seeded leases")
	}
	if lt.Epoch(1) != e1 || lt.Epoch(3) == 0 {
		t.Fatalf("seed epochs %d %d", lt.Epoch(1), lt.Epoch(3))
	}
	lt.Unregister(3)
	if !lt.Fenced(3, at(5000)) || lt.Epoch(3) != 0 {
		t.Fatal("unregistered broker still leased")
	}
}

// TestLeaseUnreachable: a broker the quorum's transport cannot reach keeps
// its lease only half a session from its last heartbeat; one that still
// heartbeats is never fenced for it, and reachability restores the full
// session.
func TestLeaseUnreachable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	lt, _ := NewLeaseTable(800 * time.Millisecond)
	e1, _ := lt.Register(1, at(0))
	lt.Register(2, at(0))
	lt.SetUnreachable(map[int32]bool{1: true, 2: true})
	if _, err := lt.Heartbeat(1, e1, at(300)); err != nil {
		t.Fatal(err)
	}
	if live := lt.Live(at(400)); !live[1] || !live[2] {
		t.Fatalf("at 400 ms, half a session exactly: live %v", live)
	}
	if got := lt.Expiring(at(401)); !slices.Equal(got, []int32{2}) {
		t.Fatalf("at 401 ms: expiring %v, want [2] (1 heartbeated at 300)", got)
	}
	if _, err := lt.Heartbeat(1, e1, at(650)); err != nil {
		t.Fatal(err)
	}
	if !lt.Live(at(1000))[1] {
		t.Fatal("a heartbeating broker was fenced for being unreachable")
	}
	lt.SetUnreachable(nil)
	if live := lt.Live(at(500)); !live[2] {
		t.Fatal("reachable again: the full session does not apply")
	}
}

func TestLeaseBackdate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	lt, _ := NewLeaseTable(800 * time.Millisecond)
	lt.Seed([]int32{1, 2}, t0)
	lt.Backdate(1, t0.Add(-time.Second))
	lt.Backdate(2, t0.Add(time.Second)) // never forward
	if !lt.Fenced(1, t0) {
		t.Fatal("a lease backdated past the session is live")
	}
	if lt.Fenced(2, t0.Add(700*time.Millisecond)) || !lt.Fenced(2, t0.Add(900*time.Millisecond)) {
		t.Fatal("Backdate moved a lease forward")
	}
}
