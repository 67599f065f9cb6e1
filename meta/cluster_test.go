package meta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"
	"time"
)

// clusterConfig is a cluster member on an ephemeral loopback raft port,
// with raft timing tuned for loopback: heartbeat and election timeouts of
// hb, leader lease hb/2.
func clusterConfig(t testing.TB, id int32, hb time.Duration) Config {
	cfg := testConfig(t, t.TempDir())
	cfg.NodeID = id
	cfg.BindAddr = "127.0.0.1:0"
	cfg.Bootstrap = false
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = hb, hb, hb/2
	return cfg
}

func openCluster(t testing.TB, n int, hb time.Duration) []*Store {
	t.Helper()
	return openClusterWith(t, n, hb, func(*Config) {})
}

// openClusterWith is openCluster with each member's config adjusted by
// mutate before it opens.
func openClusterWith(t testing.TB, n int, hb time.Duration, mutate func(*Config)) []*Store {
	t.Helper()
	var stores []*Store
	var servers []Server
	for id := int32(1); id <= int32(n); id++ {
		cfg := clusterConfig(t, id, hb)
		mutate(&cfg)
		st, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		stores = append(stores, st)
		servers = append(servers, Server{ID: id, Addr: st.Addr()})
	}
	// Every candidate bootstraps with the same list, as DecideBootstrap
	// gives it.
	for _, st := range stores {
		if err := st.BootstrapCluster(servers); err != nil {
			t.Fatal(err)
		}
	}
	return stores
}

func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leaderOf waits until one open store leads and is ready.
func leaderOf(t testing.TB, stores []*Store) *Store {
	t.Helper()
	var leader *Store
	poll(t, "a ready leader", func() bool {
		for _, st := range stores {
			if !st.closed.Load() && st.IsLeader() && st.ready() {
				leader = st
				return true
			}
		}
		return false
	})
	return leader
}

// writeUntilCommitted registers a broker through whichever store leads,
// retrying retriable errors, and returns when it is committed.
func writeUntilCommitted(t testing.TB, stores []*Store, id int32) {
	t.Helper()
	b := Broker{ID: id, Host: "h", Port: 9092}
	var last error
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, st := range stores {
			if st.closed.Load() || !st.IsLeader() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			last = st.RegisterBroker(ctx, b)
			cancel()
			if last == nil {
				return
			}
			if !Retriable(last) {
				t.Fatalf("write: %v", last)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no write committed: %v", last)
}

func hasBroker(st *Store, id int32) bool { _, ok := st.Broker(id); return ok }

func TestClusterQuorumFailoverNonvoterMinority(t *testing.T) {
	stores := openCluster(t, 3, 100*time.Millisecond)
	leader := leaderOf(t, stores)
	ctx := context.Background()
	registerBrokers(t, leader, 1, 2, 3)
	tp, err := leader.CreateTopic(ctx, TopicSpec{Name: "orders", NumPartitions: 3, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range stores {
		poll(t, fmt.Sprintf("node %d applies the topic", st.cfg.NodeID), func() bool {
			got, ok := st.Topic("orders")
			return ok && got.ID == tp.ID && len(st.Brokers()) == 3 && st.ClusterID() == leader.ClusterID()
		})
	}

	// A follower's own raft apply refuses the write and points at the
	// leader (the public write forwards it there: forward_test.go).
	for _, st := range stores {
		if st == leader {
			continue
		}
		err := st.registerBroker(ctx, Broker{ID: 9, Host: "h", Port: 1})
		var nl *NotLeaderError
		if !errors.As(err, &nl) || !errors.Is(err, ErrNotLeader) || nl.LeaderID != leader.cfg.NodeID || nl.LeaderAddr != leader.Addr() {
			t.Fatalf("follower write: %v, want NotLeaderError naming node %d at %s", err, leader.cfg.NodeID, leader.Addr())
		}
		if errors.Is(err, ErrNoQuorum) || !Retriable(err) {
			t.Fatalf("follower write with a leader known: %v", err)
		}
		if err := st.AddVoter(ctx, 9, "127.0.0.1:1"); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("AddVoter on a follower: %v", err)
		}
		if err := st.BootstrapCluster([]Server{{ID: st.cfg.NodeID, Addr: st.Addr()}}); !errors.Is(err, ErrAlreadyBootstrapped) {
			t.Fatalf("second bootstrap: %v", err)
		}
	}
	ls := leader.Stats()
	if ls.State != "Leader" || ls.Term == 0 || ls.AppliedIndex == 0 || ls.LeaderID != leader.cfg.NodeID {
		t.Fatalf("leader stats %+v", ls)
	}

	// A fourth node joins as a non-voter and applies the log.
	nv, err := Open(clusterConfig(t, 4, 100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nv.Close() })
	if err := leader.AddNonvoter(ctx, 4, nv.Addr()); err != nil {
		t.Fatal(err)
	}
	poll(t, "non-voter applies the log", func() bool { _, ok := nv.Topic("orders"); return ok && len(nv.Brokers()) == 3 })
	if err := nv.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	servers, err := leader.Servers()
	if err != nil {
		t.Fatal(err)
	}
	want := []Suffrage{Voter, Voter, Voter, Nonvoter}
	for i, srv := range servers {
		if srv.ID != int32(i+1) || srv.Suffrage != want[i] {
			t.Fatalf("servers %+v", servers)
		}
	}
	if st := nv.Stats(); st.LastContact.IsZero() || st.State != "Follower" {
		t.Fatalf("non-voter stats %+v", st)
	}

	// Kill the leader (no leave): a new one is elected and writes resume.
	killed := leader.cfg.NodeID
	t0 := time.Now()
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	writeUntilCommitted(t, stores, 10)
	t.Logf("leader shutdown to next committed write: %v (heartbeat/election timeout 100ms)", time.Since(t0))
	leader = leaderOf(t, stores)
	if leader.cfg.NodeID == killed {
		t.Fatal("closed store still leads")
	}
	all := append(slices.Clone(stores), nv)
	for _, st := range all {
		if st.cfg.NodeID != killed {
			poll(t, fmt.Sprintf("node %d applies the write after failover", st.cfg.NodeID), func() bool { return hasBroker(st, 10) })
		}
	}

	// Kill a second voter: the last one has no quorum, and its writes fail
	// with a retriable error before the caller's deadline.
	var last *Store
	for _, st := range stores {
		if st.cfg.NodeID != killed && st != leader {
			last = st
		}
	}
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		start := time.Now()
		err := last.RegisterBroker(ctx, Broker{ID: int32(20 + i), Host: "h", Port: 1})
		cancel()
		if err == nil || !Retriable(err) {
			t.Fatalf("minority write %d: %v, want a retriable error", i, err)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Fatalf("minority write took %v", d)
		}
		t.Logf("minority write %d: %v", i, err)
	}
	poll(t, "the minority voter to know it has no leader", func() bool { id, _ := last.Leader(); return id == NoLeader })
	err = last.RegisterBroker(ctx, Broker{ID: 30, Host: "h", Port: 1})
	if !errors.Is(err, ErrNoQuorum) || !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write without quorum: %v, want ErrNoQuorum", err)
	}
	if hasBroker(last, 20) || hasBroker(nv, 20) {
		t.Fatal("a write without quorum was applied")
	}
}

func TestMembershipChangesValidated(t *testing.T) {
	st := openReady(t, testConfig(t, t.TempDir()))
	ctx := context.Background()
	if err := st.AddVoter(ctx, 2, ""); !errors.Is(err, ErrInvalidServers) {
		t.Errorf("AddVoter without address: %v", err)
	}
	if err := st.BootstrapCluster(nil); !errors.Is(err, ErrInvalidServers) {
		t.Errorf("empty bootstrap: %v", err)
	}
	if err := st.BootstrapCluster([]Server{{ID: 1, Addr: "a"}, {ID: 1, Addr: "b"}}); !errors.Is(err, ErrInvalidServers) {
		t.Errorf("duplicate bootstrap: %v", err)
	}
	if err := st.BootstrapCluster([]Server{{ID: 2, Addr: "a"}}); !errors.Is(err, ErrInvalidServers) {
		t.Errorf("bootstrap without self: %v", err)
	}
	if err := st.BootstrapCluster([]Server{{ID: 1, Addr: "a"}}); !errors.Is(err, ErrAlreadyBootstrapped) {
		t.Errorf("bootstrap of a bootstrapped node: %v", err)
	}
	// The single-node path is unchanged: one voter, this node, leading.
	servers, err := st.Servers()
	if err != nil || len(servers) != 1 || servers[0].ID != 1 || servers[0].Suffrage != Voter {
		t.Errorf("single-node servers %+v %v", servers, err)
	}
	if id, _ := st.Leader(); id != 1 {
		t.Errorf("single-node leader %d", id)
	}
	// raft refuses to remove the last voter.
	if err := st.RemoveServer(ctx, 1); err == nil || errors.Is(err, ErrNotLeader) {
		t.Errorf("removing the only server: %v", err)
	}
}

// TestFailoverTimes measures leader shutdown to the next committed write
// over several fresh 3-voter clusters, for two raft timings. STRATA_SOAK=1.
func TestFailoverTimes(t *testing.T) {
	if os.Getenv("STRATA_SOAK") == "" {
		t.Skip("set STRATA_SOAK=1 to measure failover times")
	}
	for _, hb := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond} {
		var times []time.Duration
		for range 10 {
			stores := openCluster(t, 3, hb)
			leader := leaderOf(t, stores)
			writeUntilCommitted(t, stores, 1)
			t0 := time.Now()
			_ = leader.Close()
			writeUntilCommitted(t, stores, 2)
			times = append(times, time.Since(t0))
			for _, st := range stores {
				_ = st.Close()
			}
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		t.Logf("heartbeat=election=%v lease=%v: failover min %v median %v max %v over %d runs",
			hb, hb/2, times[0], times[len(times)/2], times[len(times)-1], len(times))
	}
}
