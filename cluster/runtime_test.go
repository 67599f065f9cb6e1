package cluster

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stratalog/strata/meta"
)

type testMember struct {
	store *meta.Store
	rt    *Runtime
}

func startMembers(t *testing.T, n int) []*testMember {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out []*testMember
	var seeds []string
	for i := range n {
		mc := meta.DefaultConfig()
		mc.NodeID = int32(i + 1)
		mc.Dir = t.TempDir()
		mc.Bootstrap = false
		mc.BindAddr = "127.0.0.1:0"
		mc.HeartbeatTimeout, mc.ElectionTimeout, mc.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
		mc.Logger = log
		s, err := meta.Open(mc)
		if err != nil {
			t.Fatal(err)
		}
		cc := DefaultConfig()
		cc.NodeID = mc.NodeID
		cc.GossipAddr = "127.0.0.1:0"
		cc.RaftAddr = s.Addr()
		cc.KafkaAddr = "127.0.0.1:9092"
		cc.BootstrapExpect = n
		cc.Join = append([]string(nil), seeds...)
		cc.ShutdownTimeout = 5 * time.Second
		cc.Logger = log
		m := &testMember{store: s}
		rt, err := Start(cc, s, func() uint64 { return m.store.Version() })
		if err != nil {
			t.Fatal(err)
		}
		m.rt = rt
		seeds = append(seeds, rt.GossipAddr())
		out = append(out, m)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = m.rt.Close(ctx)
			_ = m.store.Close()
		})
	}
	return out
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Three runtimes bootstrap one quorum, unfence the brokers that register
// fenced, place a replicated topic over all three, and fence a broker
// that shuts down after moving its leaderships away.
func TestRuntimeFormsFencesAndShutsDown(t *testing.T) {
	ms := startMembers(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := m.store.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	servers, err := ms[0].store.Servers()
	if err != nil || len(servers) != 3 {
		t.Fatalf("raft servers %v (%v), want 3 voters", servers, err)
	}
	for _, m := range ms {
		id := m.rt.cfg.NodeID
		if err := m.store.RegisterBroker(ctx, meta.Broker{ID: id, Host: "127.0.0.1", Port: 9000 + id, Fenced: true}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all brokers unfenced and ready", 10*time.Second, func() bool {
		for _, m := range ms {
			if !m.rt.Ready() {
				return false
			}
		}
		for _, b := range ms[0].store.Brokers() {
			if b.Fenced {
				return false
			}
		}
		return true
	})
	topic, err := ms[1].store.CreateTopic(ctx, meta.TopicSpec{Name: "t", NumPartitions: 6, ReplicationFactor: 3})
	if err != nil {
		t.Fatal(err)
	}
	lead := map[int32]int{}
	for _, p := range topic.Partitions {
		lead[p.Leader]++
	}
	if len(lead) != 3 || lead[1] != 2 || lead[2] != 2 || lead[3] != 2 {
		t.Fatalf("leaders %v, want 2 on each broker", lead)
	}
	if err := ms[2].rt.WaitApplied(ctx, ms[1].store.Version()); err != nil {
		t.Fatal(err)
	}

	// Controlled shutdown of a broker that is not the raft leader.
	var victim *testMember
	for _, m := range ms {
		if !m.store.IsLeader() {
			victim = m
			break
		}
	}
	id := victim.rt.cfg.NodeID
	if err := victim.rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	other := ms[0]
	if other == victim {
		other = ms[1]
	}
	tp, _ := other.store.Topic("t")
	for _, p := range tp.Partitions {
		if p.Leader == id {
			t.Fatalf("partition %d still led by %d after its controlled shutdown", p.Index, id)
		}
	}
	b, _ := other.store.Broker(id)
	if !b.Fenced {
		t.Fatalf("broker %d not fenced after shutting down", id)
	}
}
