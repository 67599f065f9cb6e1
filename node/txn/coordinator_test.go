package txn

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// memEnv keeps what a node would write: the persisted records in order and
// the markers per partition.
type memEnv struct {
	mu        sync.Mutex
	nextPID   int64
	persisted []Metadata
	deleted   []string
	markers   []marker
	failMarks error
}

type marker struct {
	pid    int64
	epoch  int16
	commit bool
	part   Partition
}

func (e *memEnv) NewProducerID(context.Context) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextPID++
	return e.nextPID, nil
}

func (e *memEnv) Persist(_ context.Context, m Metadata, deleted bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if deleted {
		e.deleted = append(e.deleted, m.TransactionalID)
		return nil
	}
	e.persisted = append(e.persisted, m.Clone())
	return nil
}

func (e *memEnv) WriteMarkers(_ context.Context, m Metadata, commit bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failMarks != nil {
		return e.failMarks
	}
	for _, p := range m.SortedPartitions() {
		e.markers = append(e.markers, marker{m.ProducerID, m.Epoch, commit, p})
	}
	return nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newCoord(t *testing.T) (*Coordinator, *memEnv, *clock) {
	t.Helper()
	env := &memEnv{}
	clk := &clock{t: time.UnixMilli(1_000_000)}
	cfg := DefaultConfig()
	cfg.Now = clk.now
	c, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	return c, env, clk
}

var ctx = context.Background()

func TestCommitAndAbort(t *testing.T) {
	c, env, _ := newCoord(t)
	pid, epoch, err := c.InitProducerID(ctx, "a", 60000, -1, -1)
	if err != nil || pid != 1 || epoch != 0 {
		t.Fatalf("init: %d %d %v", pid, epoch, err)
	}
	if err := c.EndTxn(ctx, "a", pid, epoch, true); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("commit with no transaction: %v", err)
	}
	parts := []Partition{{"t", 0}, {"t", 1}}
	if err := c.AddPartitions(ctx, "a", pid, epoch, parts); err != nil {
		t.Fatal(err)
	}
	if err := c.AddOffsets(ctx, "a", pid, epoch, "g", 7); err != nil {
		t.Fatal(err)
	}
	if err := c.InTxn("a", pid, epoch, "g"); err != nil {
		t.Fatalf("group not in txn: %v", err)
	}
	if err := c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatal(err)
	}
	if len(env.markers) != 3 || !env.markers[0].commit {
		t.Fatalf("markers %+v", env.markers)
	}
	// A retried commit succeeds; an abort now is invalid.
	if err := c.EndTxn(ctx, "a", pid, epoch, true); err != nil {
		t.Fatalf("retried commit: %v", err)
	}
	if err := c.EndTxn(ctx, "a", pid, epoch, false); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("abort after commit: %v", err)
	}
	m, _ := c.Describe("a")
	if m.State != CompleteCommit || len(m.Partitions) != 0 {
		t.Fatalf("after commit: %+v", m)
	}
	// States went Empty, Ongoing, Ongoing (+group), PrepareCommit, CompleteCommit.
	var states []State
	for _, p := range env.persisted {
		states = append(states, p.State)
	}
	want := []State{Empty, Ongoing, Ongoing, PrepareCommit, CompleteCommit}
	if len(states) != len(want) {
		t.Fatalf("persisted states %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("persisted states %v, want %v", states, want)
		}
	}
}

func TestFencing(t *testing.T) {
	c, env, _ := newCoord(t)
	pid, e0, _ := c.InitProducerID(ctx, "a", 60000, -1, -1)
	if err := c.AddPartitions(ctx, "a", pid, e0, []Partition{{"t", 0}}); err != nil {
		t.Fatal(err)
	}
	// A second producer with the same ID aborts the open transaction and
	// fences the first.
	pid2, e1, err := c.InitProducerID(ctx, "a", 60000, -1, -1)
	if err != nil || pid2 != pid || e1 <= e0+1 {
		t.Fatalf("second init: %d %d %v", pid2, e1, err)
	}
	if len(env.markers) != 1 || env.markers[0].commit || env.markers[0].epoch != e0+1 {
		t.Fatalf("fencing abort markers %+v", env.markers)
	}
	for _, err := range []error{
		c.AddPartitions(ctx, "a", pid, e0, []Partition{{"t", 1}}),
		c.EndTxn(ctx, "a", pid, e0, true),
	} {
		if !errors.Is(err, kerr.ProducerFenced) {
			t.Fatalf("old producer: %v, want PRODUCER_FENCED", err)
		}
	}
	if err := c.AddPartitions(ctx, "a", pid+100, e1, nil); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("wrong producer id: %v", err)
	}
	if err := c.AddPartitions(ctx, "nope", pid, e1, nil); !errors.Is(err, kerr.InvalidProducerIDMapping) {
		t.Fatalf("unknown transactional id: %v", err)
	}
	if _, _, err := c.InitProducerID(ctx, "a", 1<<30, -1, -1); !errors.Is(err, kerr.InvalidTransactionTimeout) {
		t.Fatalf("huge timeout: %v", err)
	}
}

func TestKIP360Recovery(t *testing.T) {
	c, _, _ := newCoord(t)
	pid, e0, _ := c.InitProducerID(ctx, "a", 60000, -1, -1)
	// The producer bumps its own epoch after an abortable error.
	p1, e1, err := c.InitProducerID(ctx, "a", 60000, pid, e0)
	if err != nil || p1 != pid || e1 != e0+1 {
		t.Fatalf("bump: %d %d %v", p1, e1, err)
	}
	// Its retry of the same request gets the same answer.
	p2, e2, err := c.InitProducerID(ctx, "a", 60000, pid, e0)
	if err != nil || p2 != p1 || e2 != e1 {
		t.Fatalf("retried bump: %d %d %v", p2, e2, err)
	}
	// A zombie with an older epoch is fenced.
	if _, _, err := c.InitProducerID(ctx, "a", 60000, pid, e0-1); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("zombie: %v", err)
	}
}

func TestTimeoutAbortsAndExpiry(t *testing.T) {
	c, env, clk := newCoord(t)
	pid, e0, _ := c.InitProducerID(ctx, "a", 1000, -1, -1)
	c.AddPartitions(ctx, "a", pid, e0, []Partition{{"t", 0}})
	clk.t = clk.t.Add(500 * time.Millisecond)
	if n := c.AbortTimedOut(ctx); n != 0 {
		t.Fatalf("aborted %d before the timeout", n)
	}
	clk.t = clk.t.Add(time.Second)
	if n := c.AbortTimedOut(ctx); n != 1 {
		t.Fatalf("aborted %d after the timeout", n)
	}
	if len(env.markers) != 1 || env.markers[0].commit {
		t.Fatalf("timeout markers %+v", env.markers)
	}
	if err := c.EndTxn(ctx, "a", pid, e0, true); !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("commit after timeout: %v", err)
	}
	clk.t = clk.t.Add(8 * 24 * time.Hour)
	c.AbortTimedOut(ctx)
	if _, ok := c.Describe("a"); ok || len(env.deleted) != 1 {
		t.Fatal("idle transactional id not expired")
	}
}

func TestLoadAndRecover(t *testing.T) {
	c, env, _ := newCoord(t)
	pid, e0, _ := c.InitProducerID(ctx, "a", 60000, -1, -1)
	c.AddPartitions(ctx, "a", pid, e0, []Partition{{"t", 0}})
	env.failMarks = errors.New("disk gone")
	if err := c.EndTxn(ctx, "a", pid, e0, true); err == nil {
		t.Fatal("EndTxn succeeded without markers")
	}
	// A new coordinator replays what was persisted and finishes the commit.
	env.failMarks = nil
	c2, _ := New(c.cfg, env)
	for _, m := range env.persisted {
		c2.Load(m, false)
	}
	if m, _ := c2.Describe("a"); m.State != PrepareCommit {
		t.Fatalf("loaded state %v", m.State)
	}
	if err := c2.Recover(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if m, _ := c2.Describe("a"); m.State != CompleteCommit || len(env.markers) != 1 || !env.markers[0].commit {
		t.Fatalf("after recover: %v markers %+v", m.State, env.markers)
	}
}

func TestUnloadDropsOnlySelectedIDs(t *testing.T) {
	c, env, _ := newCoord(t)
	pa, ea, _ := c.InitProducerID(ctx, "a", 60000, -1, -1)
	c.AddPartitions(ctx, "a", pa, ea, []Partition{{"t", 0}})
	pb, eb, _ := c.InitProducerID(ctx, "b", 60000, -1, -1)
	if n := c.Unload(func(id string) bool { return id == "a" }); n != 1 {
		t.Fatalf("unloaded %d IDs, want 1", n)
	}
	if _, ok := c.Describe("a"); ok {
		t.Fatal("unloaded ID still described")
	}
	// The kept ID works as before; the dropped one is unknown here now,
	// and the other coordinator that loads it finishes its transaction.
	if err := c.AddPartitions(ctx, "b", pb, eb, []Partition{{"t", 1}}); err != nil {
		t.Fatal(err)
	}
	if err := c.EndTxn(ctx, "a", pa, ea, true); err == nil {
		t.Fatal("EndTxn on an unloaded ID succeeded")
	}
	c2, _ := New(c.cfg, env)
	for _, m := range env.persisted {
		if m.TransactionalID == "a" {
			c2.Load(m, false)
		}
	}
	if err := c2.EndTxn(ctx, "a", pa, ea, true); err != nil {
		t.Fatalf("EndTxn on the coordinator that loaded it: %v", err)
	}
	if len(env.markers) != 1 || env.markers[0].part != (Partition{"t", 0}) || !env.markers[0].commit {
		t.Fatalf("markers %+v", env.markers)
	}
}
