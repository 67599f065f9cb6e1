package membership

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is a member on an ephemeral loopback port with failure
// detection shortened for tests.
func testConfig(id int32) Config {
	c := DefaultConfig()
	c.BindAddr = "127.0.0.1:0"
	c.Tags = Tags{NodeID: id, KafkaAddr: "127.0.0.1:9092", RaftAddr: "127.0.0.1:7947", Role: RoleVoter, Rack: "r1", Version: "test"}
	c.ProbeInterval = 100 * time.Millisecond
	c.ProbeTimeout = 50 * time.Millisecond
	c.SuspicionMult = 2
	c.GossipInterval = 20 * time.Millisecond
	c.JoinRetryMin = 20 * time.Millisecond
	c.JoinRetryMax = 200 * time.Millisecond
	c.Logger = quietLogger()
	return c
}

func start(t *testing.T, cfg Config) (*Member, *recorder) {
	t.Helper()
	m, err := Create(cfg)
	if err != nil {
		t.Fatalf("create node %d: %v", cfg.Tags.NodeID, err)
	}
	t.Cleanup(func() { _ = m.shutdown(false) })
	r := &recorder{}
	go r.run(m.Events())
	return m, r
}

// recorder keeps every event a member delivers.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) run(ch <-chan Event) {
	for ev := range ch {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
	}
}

func (r *recorder) saw(typ EventType, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range r.events {
		if ev.Type != typ {
			continue
		}
		for _, mi := range ev.Members {
			if mi.Name == name {
				return true
			}
		}
	}
	return false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func join(t *testing.T, m *Member, seeds ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Join(ctx, seeds); err != nil {
		t.Fatalf("%s join %v: %v", m.Name(), seeds, err)
	}
}

func aliveNames(m *Member) []string {
	var out []string
	for _, mi := range m.Members() {
		if mi.Status == StatusAlive {
			out = append(out, mi.Name)
		}
	}
	return out
}

func TestMembersSeeEachOtherAndTagsPropagate(t *testing.T) {
	var ms []*Member
	var rs []*recorder
	for id := int32(1); id <= 4; id++ {
		cfg := testConfig(id)
		cfg.Tags.Rack = "r" + string(rune('0'+id))
		m, r := start(t, cfg)
		ms, rs = append(ms, m), append(rs, r)
	}
	// Every node gets the same seed list, its own address included.
	seeds := []string{ms[0].Addr(), ms[1].Addr()}
	for _, m := range ms {
		join(t, m, seeds...)
	}
	want := []string{"node-1", "node-2", "node-3", "node-4"}
	for _, m := range ms {
		eventually(t, m.Name()+" sees all four", func() bool { return slices.Equal(aliveNames(m), want) })
	}
	for _, mi := range ms[3].Members() {
		if mi.Tags.NodeID < 1 || mi.Tags.Rack != "r"+string(rune('0'+mi.Tags.NodeID)) || mi.Tags.Role != RoleVoter || mi.Tags.KafkaAddr != "127.0.0.1:9092" {
			t.Errorf("member %s tags %+v", mi.Name, mi.Tags)
		}
	}
	for _, r := range rs[1:] {
		eventually(t, "join event for node-1", func() bool { return r.saw(EventJoin, "node-1") })
	}

	// A tag change reaches everyone as an update.
	if err := ms[1].SetClusterID("cluster-a"); err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		eventually(t, m.Name()+" sees node-2's cluster id", func() bool {
			for _, mi := range m.Members() {
				if mi.Name == "node-2" {
					return mi.Tags.ClusterID == "cluster-a"
				}
			}
			return false
		})
		if i != 1 {
			eventually(t, "update event", func() bool { return rs[i].saw(EventUpdate, "node-2") })
		}
	}
	if err := ms[1].SetTags(Tags{NodeID: 9, Role: RoleVoter}); !errors.Is(err, ErrBadTags) {
		t.Errorf("changing node id: got %v, want ErrBadTags", err)
	}
}

func TestFailedAndLeaveAreReported(t *testing.T) {
	m1, r1 := start(t, testConfig(1))
	m2, _ := start(t, testConfig(2))
	m3, _ := start(t, testConfig(3))
	join(t, m2, m1.Addr())
	join(t, m3, m1.Addr())
	eventually(t, "three members", func() bool { return len(aliveNames(m1)) == 3 })

	// Shut down without leaving: the others detect a failure.
	if err := m3.shutdown(false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node-3 failed", func() bool { return r1.saw(EventFailed, "node-3") })
	if r1.saw(EventLeave, "node-3") {
		t.Error("a crashed member was reported as leaving")
	}
	// Leave gracefully: reported as a leave, not a failure.
	if err := m2.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node-2 left", func() bool { return r1.saw(EventLeave, "node-2") })
	if r1.saw(EventFailed, "node-2") {
		t.Error("a graceful leave was reported as a failure")
	}
	for _, mi := range m1.Members() {
		switch mi.Name {
		case "node-2":
			if mi.Status != StatusLeft {
				t.Errorf("node-2 status %s, want left", mi.Status)
			}
		case "node-3":
			if mi.Status != StatusFailed {
				t.Errorf("node-3 status %s, want failed", mi.Status)
			}
		}
	}
	if err := m2.Join(context.Background(), []string{m1.Addr()}); !errors.Is(err, ErrClosed) {
		t.Errorf("join after close: %v, want ErrClosed", err)
	}
}

func keyFile(t *testing.T, key []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGossipKey(t *testing.T) {
	keyA := []byte("0123456789abcdef0123456789abcdef")
	keyB := []byte("fedcba9876543210fedcba9876543210")
	ka, err := LoadGossipKey(keyFile(t, keyA))
	if err != nil || string(ka) != string(keyA) {
		t.Fatalf("load key: %q %v", ka, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.key")
	_ = os.WriteFile(bad, []byte("not base64!"), 0o600)
	if _, err := LoadGossipKey(bad); !errors.Is(err, ErrBadGossipKey) {
		t.Errorf("bad key file: %v", err)
	}
	if _, err := LoadGossipKey(keyFile(t, []byte("short"))); !errors.Is(err, ErrBadGossipKey) {
		t.Errorf("short key: %v", err)
	}

	c1, c2, c3, c4 := testConfig(1), testConfig(2), testConfig(3), testConfig(4)
	c1.GossipKey, c2.GossipKey, c3.GossipKey = keyA, keyA, keyB
	m1, _ := start(t, c1)
	m2, _ := start(t, c2)
	m3, _ := start(t, c3)
	m4, _ := start(t, c4) // no key at all
	join(t, m2, m1.Addr())
	eventually(t, "same-key members see each other", func() bool { return len(aliveNames(m1)) == 2 })

	for _, m := range []*Member{m3, m4} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := m.Join(ctx, []string{m1.Addr()})
		cancel()
		if !errors.Is(err, ErrGossipKeyMismatch) {
			t.Errorf("%s with another key joined: %v", m.Name(), err)
		}
		t.Logf("%s: %v", m.Name(), err)
		if n := len(aliveNames(m)); n != 1 {
			t.Errorf("%s sees %d members", m.Name(), n)
		}
	}
	if got := aliveNames(m1); !slices.Equal(got, []string{"node-1", "node-2"}) {
		t.Errorf("keyed cluster members %v", got)
	}
}

func TestDuplicateNodeIDRefused(t *testing.T) {
	m1, _ := start(t, testConfig(1))
	m2, _ := start(t, testConfig(2))
	join(t, m2, m1.Addr())
	eventually(t, "two members", func() bool { return len(aliveNames(m2)) == 2 })

	dup, _ := start(t, testConfig(1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := dup.Join(ctx, []string{m2.Addr()})
	if !errors.Is(err, ErrDuplicateNodeID) {
		t.Fatalf("duplicate join: %v, want ErrDuplicateNodeID", err)
	}
	t.Logf("refusal: %v", err)
	// The established node-1 is untouched.
	time.Sleep(300 * time.Millisecond)
	for _, m := range []*Member{m1, m2} {
		for _, mi := range m.Members() {
			if mi.Name == "node-1" && (mi.Addr != m1.Addr() || mi.Status != StatusAlive) {
				t.Errorf("%s sees node-1 at %s %s, want %s alive", m.Name(), mi.Addr, mi.Status, m1.Addr())
			}
		}
	}
}

func TestClusterIDMismatchRefused(t *testing.T) {
	c1, c2, c3 := testConfig(1), testConfig(2), testConfig(3)
	c1.Tags.ClusterID, c2.Tags.ClusterID = "cluster-a", "cluster-b"
	m1, _ := start(t, c1)
	m2, _ := start(t, c2)
	m3, _ := start(t, c3) // no cluster id yet: welcome
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m2.Join(ctx, []string{m1.Addr()}); !errors.Is(err, ErrClusterIDMismatch) {
		t.Fatalf("join across clusters: %v, want ErrClusterIDMismatch", err)
	}
	join(t, m3, m1.Addr())
	eventually(t, "node-3 in cluster-a", func() bool { return len(aliveNames(m1)) == 2 })
	if got := aliveNames(m1); slices.Contains(got, "node-2") {
		t.Errorf("cluster-a members %v include node-2", got)
	}
}

func TestJoinRetriesUntilSeedIsUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seed := l.Addr().String()
	_ = l.Close()

	m2, _ := start(t, testConfig(2))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		done <- m2.Join(ctx, []string{seed, m2.Addr()})
	}()
	time.Sleep(300 * time.Millisecond)
	c1 := testConfig(1)
	c1.BindAddr = seed
	m1, _ := start(t, c1)
	if err := <-done; err != nil {
		t.Fatalf("join with late seed: %v", err)
	}
	eventually(t, "two members", func() bool { return len(aliveNames(m1)) == 2 })

	// Only our own address: nothing to join, no error.
	if err := m1.Join(context.Background(), []string{m1.Addr()}); err != nil {
		t.Errorf("join self: %v", err)
	}
}

func TestConfigAndTags(t *testing.T) {
	tags := Tags{NodeID: 7, KafkaAddr: "h:9092", RaftAddr: "h:7947", Rack: "a", Region: "eu", Role: RoleVoter, Version: "1.2", ClusterID: "c", BootstrapExpect: 3}
	got, err := decodeTags(tags.encode())
	if err != nil || got != tags {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for _, bad := range []map[string]string{
		{"role": "voter"}, {"id": "x", "role": "voter"}, {"id": "1", "role": "king"}, {"id": "1", "role": "voter", "expect": "-1"},
	} {
		if _, err := decodeTags(bad); !errors.Is(err, ErrBadTags) {
			t.Errorf("decode %v: %v", bad, err)
		}
	}
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	c.BindAddr, c.Tags.Role, c.GossipKey = "nope", "", []byte("short")
	c.Tags.BootstrapExpect = 3
	err = c.Validate()
	if !errors.Is(err, ErrBadConfig) || !errors.Is(err, ErrBadTags) || !errors.Is(err, ErrBadGossipKey) {
		t.Errorf("bad config: %v", err)
	}
}

func TestFailedMemberIsReaped(t *testing.T) {
	c1 := testConfig(1)
	c1.ReapInterval, c1.ReconnectTimeout = 100*time.Millisecond, 300*time.Millisecond
	m1, r1 := start(t, c1)
	m2, _ := start(t, testConfig(2))
	join(t, m2, m1.Addr())
	eventually(t, "two members", func() bool { return len(aliveNames(m1)) == 2 })
	if err := m2.shutdown(false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node-2 failed", func() bool { return r1.saw(EventFailed, "node-2") })
	eventually(t, "node-2 reaped", func() bool { return r1.saw(EventReap, "node-2") })
	for _, mi := range m1.Members() {
		if mi.Name == "node-2" {
			t.Fatalf("reaped member still listed: %+v", mi)
		}
	}
}
