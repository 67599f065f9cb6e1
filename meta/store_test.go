package meta

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	raftboltdb "github.com/hashicorp/raft-boltdb"
)

// testConfig is a single-node config with fast raft timing.
func testConfig(t testing.TB, dir string) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NodeID = 1
	cfg.Dir = dir
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.ApplyTimeout = 5 * time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return cfg
}

func openReady(t testing.TB, cfg Config) *Store {
	t.Helper()
	st, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	return st
}

func registerBrokers(t testing.TB, st *Store, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		b := Broker{ID: id, Host: "host-" + strconv.Itoa(int(id)), Port: 9092, Rack: "r" + strconv.Itoa(int(id%2))}
		if err := st.RegisterBroker(context.Background(), b); err != nil {
			t.Fatalf("RegisterBroker(%d): %v", id, err)
		}
	}
}

func TestBootstrapAndReopen(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, t.TempDir())
	st := openReady(t, cfg)

	if !st.IsLeader() {
		t.Fatal("single node is not leader after WaitReady")
	}
	if got := st.ControllerID(); got != cfg.NodeID {
		t.Fatalf("ControllerID = %d, want %d", got, cfg.NodeID)
	}
	clusterID := st.ClusterID()
	if len(clusterID) != 22 {
		t.Fatalf("cluster id %q: want 22 characters", clusterID)
	}
	v0 := st.Version()
	registerBrokers(t, st, 1, 2, 3)
	if st.Version() <= v0 {
		t.Fatalf("version did not advance: %d -> %d", v0, st.Version())
	}
	created, err := st.CreateTopic(ctx, TopicSpec{Name: "orders", NumPartitions: 4, ReplicationFactor: 2, Configs: map[string]string{"retention.ms": "1000"}})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if _, err := st.CreateTopic(ctx, TopicSpec{Name: "__consumer_offsets", NumPartitions: 2, ReplicationFactor: 1, Internal: true}); err != nil {
		t.Fatalf("CreateTopic internal: %v", err)
	}
	if err := st.SetClusterConfigs(ctx, map[string]string{"log.retention.ms": "5"}); err != nil {
		t.Fatalf("SetClusterConfigs: %v", err)
	}
	wantTopics := st.Topics()
	wantBrokers := st.Brokers()
	wantVersion := st.Version()
	if len(wantTopics) != 2 || wantTopics[0].Name != "__consumer_offsets" || wantTopics[1].Name != "orders" {
		t.Fatalf("Topics() = %+v", wantTopics)
	}
	if !reflect.DeepEqual(wantTopics[1], created) {
		t.Fatalf("stored topic %+v differs from returned %+v", wantTopics[1], created)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	st2 := openReady(t, cfg)
	if got := st2.ClusterID(); got != clusterID {
		t.Fatalf("cluster id after reopen = %q, want %q", got, clusterID)
	}
	if got := st2.Topics(); !reflect.DeepEqual(got, wantTopics) {
		t.Fatalf("topics after reopen:\n got %+v\nwant %+v", got, wantTopics)
	}
	if got := st2.Brokers(); !reflect.DeepEqual(got, wantBrokers) {
		t.Fatalf("brokers after reopen:\n got %+v\nwant %+v", got, wantBrokers)
	}
	if got := st2.ClusterConfigs(); got["log.retention.ms"] != "5" || len(got) != 1 {
		t.Fatalf("cluster configs after reopen = %v", got)
	}
	if got := st2.Version(); got != wantVersion {
		t.Fatalf("version after reopen = %d, want %d", got, wantVersion)
	}
	byID, ok := st2.TopicByID(created.ID)
	if !ok || byID.Name != "orders" {
		t.Fatalf("TopicByID after reopen = %+v, %v", byID, ok)
	}
}

func TestReadsReturnCopies(t *testing.T) {
	st := openReady(t, testConfig(t, t.TempDir()))
	registerBrokers(t, st, 1)
	if _, err := st.CreateTopic(context.Background(), TopicSpec{Name: "a", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Topic("a")
	got.Configs["k"] = "changed"
	got.Partitions[0].Replicas[0] = 99
	got.Partitions[0].ISR = nil
	again, _ := st.Topic("a")
	if again.Configs["k"] != "v" || again.Partitions[0].Replicas[0] != 1 || len(again.Partitions[0].ISR) != 1 {
		t.Fatalf("mutating a read changed the store: %+v", again)
	}
	cc := st.ClusterConfigs()
	cc["x"] = "y"
	if len(st.ClusterConfigs()) != 0 {
		t.Fatal("mutating ClusterConfigs() changed the store")
	}
}

func TestSnapshotRestore(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, t.TempDir())
	cfg.SnapshotThreshold = 8
	cfg.SnapshotInterval = 20 * time.Millisecond
	cfg.TrailingLogs = 2
	st := openReady(t, cfg)
	registerBrokers(t, st, 1, 2)
	for i := range 20 {
		if _, err := st.CreateTopic(ctx, TopicSpec{Name: "t" + strconv.Itoa(i), NumPartitions: 2, ReplicationFactor: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteTopic(ctx, "t3"); err != nil {
		t.Fatal(err)
	}
	if err := st.CreatePartitions(ctx, "t4", 5, nil); err != nil {
		t.Fatal(err)
	}
	// The threshold alone triggers snapshots; wait for one to exist.
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, _ := os.ReadDir(filepath.Join(cfg.Dir, "snapshots"))
		if len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no snapshot taken by threshold")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := st.SetTopicConfigs(ctx, "t5", map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Snapshot(); err != nil {
		t.Fatalf("forced snapshot: %v", err)
	}
	want := st.Topics()
	wantID := st.ClusterID()
	wantVersion := st.Version()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// The log must have been truncated behind the snapshot, so what
	// reopening shows can only come from Restore.
	bs, err := raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	first, err := bs.FirstIndex()
	_ = bs.Close()
	if err != nil {
		t.Fatal(err)
	}
	if first <= 10 {
		t.Fatalf("log first index %d: log was not truncated", first)
	}

	st2 := openReady(t, cfg)
	if got := st2.Topics(); !reflect.DeepEqual(got, want) {
		t.Fatalf("topics after restore:\n got %+v\nwant %+v", got, want)
	}
	if st2.ClusterID() != wantID || st2.Version() != wantVersion {
		t.Fatalf("cluster id %q version %d after restore, want %q %d", st2.ClusterID(), st2.Version(), wantID, wantVersion)
	}
	if len(st2.Brokers()) != 2 {
		t.Fatalf("brokers after restore: %+v", st2.Brokers())
	}
	if _, ok := st2.Topic("t3"); ok {
		t.Fatal("deleted topic came back after restore")
	}
	if tp, _ := st2.Topic("t4"); len(tp.Partitions) != 5 {
		t.Fatalf("t4 has %d partitions after restore, want 5", len(tp.Partitions))
	}
	// Writes keep working on top of the restored state.
	if _, err := st2.CreateTopic(ctx, TopicSpec{Name: "t0", NumPartitions: 1, ReplicationFactor: 1}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("recreating restored topic: %v, want ErrTopicExists", err)
	}
}

func TestConcurrentCreateTopicOneWins(t *testing.T) {
	st := openReady(t, testConfig(t, t.TempDir()))
	registerBrokers(t, st, 1, 2, 3)
	const n = 16
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		wins   []Topic
		others []error
	)
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tp, err := st.CreateTopic(context.Background(), TopicSpec{Name: "race", NumPartitions: 3, ReplicationFactor: 3})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins = append(wins, tp)
			} else {
				others = append(others, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(wins) != 1 {
		t.Fatalf("%d creations won, want exactly 1", len(wins))
	}
	for _, err := range others {
		if !errors.Is(err, ErrTopicExists) {
			t.Fatalf("losing creation: %v, want ErrTopicExists", err)
		}
	}
	got, ok := st.Topic("race")
	if !ok || got.ID != wins[0].ID {
		t.Fatalf("stored topic id %x, winner's %x", got.ID, wins[0].ID)
	}
}

func TestSubscribeFires(t *testing.T) {
	st := openReady(t, testConfig(t, t.TempDir()))
	ch, cancel := st.Subscribe()
	drain(ch)
	registerBrokers(t, st, 1)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no signal after RegisterBroker")
	}
	// Several changes while not reading coalesce into one pending signal.
	registerBrokers(t, st, 2, 3, 4)
	select {
	case <-ch:
	default:
		t.Fatal("no signal pending after three changes")
	}
	select {
	case <-ch:
		t.Fatal("signals did not coalesce")
	default:
	}
	// Re-registering an identical broker is not a change.
	v := st.Version()
	registerBrokers(t, st, 4)
	if st.Version() != v {
		t.Fatalf("identical registration moved version %d -> %d", v, st.Version())
	}
	cancel()
	cancel()
	drain(ch)
	registerBrokers(t, st, 5)
	select {
	case <-ch:
		t.Fatal("signal after cancel")
	default:
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestTCPTransport(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	cfg := testConfig(t, t.TempDir())
	cfg.BindAddr = addr
	st := openReady(t, cfg)
	if st.Addr() != addr {
		t.Fatalf("Addr() = %q, want %q", st.Addr(), addr)
	}
	registerBrokers(t, st, 1)
	tp, err := st.CreateTopic(context.Background(), TopicSpec{Name: "tcp", NumPartitions: 2, ReplicationFactor: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// The port is free again once closed, and the node comes back on it.
	st2 := openReady(t, cfg)
	if got, ok := st2.TopicByID(tp.ID); !ok || got.Name != "tcp" {
		t.Fatalf("topic after reopen over tcp: %+v %v", got, ok)
	}
	if st2.ControllerID() != cfg.NodeID {
		t.Fatalf("ControllerID = %d", st2.ControllerID())
	}
}

func TestNotLeaderWithoutBootstrap(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	cfg.Bootstrap = false
	st, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := st.WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady without a cluster: %v, want deadline exceeded", err)
	}
	if st.IsLeader() || st.ControllerID() != NoLeader {
		t.Fatalf("leader=%v controller=%d on an unbootstrapped node", st.IsLeader(), st.ControllerID())
	}
	if err := st.RegisterBroker(context.Background(), Broker{ID: 1, Host: "h", Port: 1}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write on non-leader: %v, want ErrNotLeader", err)
	}
}

func TestClosedStore(t *testing.T) {
	st := openReady(t, testConfig(t, t.TempDir()))
	registerBrokers(t, st, 1)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := st.RegisterBroker(context.Background(), Broker{ID: 2, Host: "h", Port: 1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v, want ErrClosed", err)
	}
	if err := st.WaitReady(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitReady after close: %v", err)
	}
	if len(st.Brokers()) != 1 {
		t.Fatal("reads after close lost state")
	}
}

func TestSecondOpenOfSameDirFails(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	_ = openReady(t, cfg)
	if st, err := Open(cfg); err == nil {
		_ = st.Close()
		t.Fatal("second Open of a directory in use succeeded")
	}
}

func TestCanceledContext(t *testing.T) {
	st := openReady(t, testConfig(t, t.TempDir()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := st.RegisterBroker(ctx, Broker{ID: 1, Host: "h", Port: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("write with canceled ctx: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := testConfig(t, "/tmp/x")
	if err := good.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"negative node":   func(c *Config) { c.NodeID = -1 },
		"no dir":          func(c *Config) { c.Dir = "" },
		"no timeout":      func(c *Config) { c.ApplyTimeout = 0 },
		"lease > hb":      func(c *Config) { c.LeaderLeaseTimeout = time.Second },
		"zero threshold":  func(c *Config) { c.SnapshotThreshold = 0 },
		"zero retain":     func(c *Config) { c.SnapshotRetain = 0 },
		"advertise only":  func(c *Config) { c.AdvertiseAddr = "1.2.3.4:5" },
		"tiny heartbeat":  func(c *Config) { c.HeartbeatTimeout = time.Millisecond },
		"tiny interval":   func(c *Config) { c.SnapshotInterval = 0 },
		"tiny election":   func(c *Config) { c.ElectionTimeout = 0 },
		"tiny lease zero": func(c *Config) { c.LeaderLeaseTimeout = 0 },
	} {
		c := good
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
		if _, err := Open(c); err == nil {
			t.Errorf("%s: Open accepted an invalid config", name)
		}
	}
}

func TestReopenUnderOtherNodeIDWarns(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	st := openReady(t, cfg)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	cfg.NodeID = 2
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st2, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = st2.WaitReady(ctx)
	_ = st2.Close()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady under a foreign node id: %v", err)
	}
	if !strings.Contains(logs.String(), "not in its stored raft configuration") {
		t.Fatalf("no warning about the foreign node id in:\n%s", logs.String())
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
