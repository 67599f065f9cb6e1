package group

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/record"
)

// memLog is an in-memory __consumer_offsets partition: it assigns offsets
// like the broker's log and keeps the batches, so a second coordinator can
// load what the first wrote.
type memLog struct {
	mu      sync.Mutex
	batches [][]byte
	next    int64
}

func (l *memLog) Append(batch []byte, done func(error)) error {
	if _, err := record.Validate(batch, 1<<20); err != nil {
		return err
	}
	b := append([]byte(nil), batch...)
	l.mu.Lock()
	record.SetBaseOffset(b, l.next)
	h, _ := record.ParseHeader(b)
	l.next = h.NextOffset()
	l.batches = append(l.batches, b)
	l.mu.Unlock()
	go done(nil)
	return nil
}

func (l *memLog) Scan(fn func([]byte) error) error {
	l.mu.Lock()
	bs := append([][]byte(nil), l.batches...)
	l.mu.Unlock()
	for _, b := range bs {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// appendMarker writes a control batch as the transaction coordinator does.
func (l *memLog) appendMarker(pid int64, commit bool) {
	typ := kmsg.ControlRecordKeyTypeAbort
	if commit {
		typ = kmsg.ControlRecordKeyTypeCommit
	}
	key := kmsg.ControlRecordKey{Version: 0, Type: typ}
	val := kmsg.EndTxnMarker{Version: 0}
	b := buildBatch([]kv{{key.AppendTo(nil), val.AppendTo(nil)}}, time.Now(), batchOpts{producerID: pid, producerEpoch: 0, transactional: true})
	binary.BigEndian.PutUint16(b[21:], uint16(binary.BigEndian.Uint16(b[21:])|1<<5))
	h, _ := record.ParseHeader(b)
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b, h))
	l.mu.Lock()
	record.SetBaseOffset(b, l.next)
	l.next += 1
	l.batches = append(l.batches, b)
	l.mu.Unlock()
}

type memBackend struct {
	logs   map[int32]*memLog
	topics map[string]int32
}

func (b *memBackend) OffsetsLog(p int32) (OffsetsLog, error) {
	if l := b.logs[p]; l != nil {
		return l, nil
	}
	return nil, ErrNotCoordinator
}
func (b *memBackend) LedPartitions() []int32 {
	var out []int32
	for p := range b.logs {
		out = append(out, p)
	}
	return out
}
func (b *memBackend) PartitionExists(t string, p int32) bool {
	n, ok := b.topics[t]
	return ok && p < n
}
func (b *memBackend) Subscribe() (<-chan struct{}, func()) { return make(chan struct{}), func() {} }

func startCoordinator(t *testing.T, be *memBackend) *Coordinator {
	t.Helper()
	cfg := DefaultConfig()
	cfg.NumPartitions = 4
	cfg.InitialRebalanceDelay = 0
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := New(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	t.Cleanup(c.Close)
	return c
}

func commitSync(t *testing.T, c *Coordinator, group, topic string, part int32, off int64) {
	t.Helper()
	done := make(chan int16, 1)
	c.Commit(CommitRequest{Group: group, Generation: -1, Offsets: map[string]map[int32]OffsetCommit{topic: {part: {Offset: off, LeaderEpoch: -1}}}},
		func(code int16, codes map[TopicPartition]int16) {
			if code == 0 {
				code = codes[TopicPartition{topic, part}]
			}
			done <- code
		})
	if code := <-done; code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
}

func fetchSync(c *Coordinator, group string, stable bool) map[TopicPartition]FetchedOffset {
	var topics map[string][]int32
	if stable {
		topics = map[string][]int32{"t": {0, 1, 2, 3}}
	}
	done := make(chan []FetchedOffset, 1)
	c.Fetch(group, topics, stable, func(_ int16, fo []FetchedOffset) { done <- fo })
	out := map[TopicPartition]FetchedOffset{}
	for _, f := range <-done {
		out[f.TopicPartition] = f
	}
	return out
}

// TestLoadRebuildsState: a coordinator started on the log another one wrote
// has the same offsets and groups, tombstones applied, and transactional
// offsets applied only after their commit marker.
func TestLoadRebuildsState(t *testing.T) {
	be := &memBackend{logs: map[int32]*memLog{}, topics: map[string]int32{"t": 4}}
	for p := int32(0); p < 4; p++ {
		be.logs[p] = &memLog{}
	}
	c := startCoordinator(t, be)
	commitSync(t, c, "g1", "t", 0, 10)
	commitSync(t, c, "g1", "t", 1, 11)
	commitSync(t, c, "g1", "t", 0, 12) // later commit wins
	commitSync(t, c, "g2", "t", 2, 20)

	// Two transactions on g1: one commits, one aborts, one still open.
	ctx := context.Background()
	for pid, off := range map[int64]int64{100: 30, 101: 31, 102: 32} {
		res, err := c.TxnOffsetCommit(ctx, "g1", pid, 0, -1, "", nil, map[string]map[int32]OffsetCommit{"t": {3: {Offset: off, LeaderEpoch: -1}}})
		if err != nil || res["t"][3] != nil {
			t.Fatalf("txn commit %d: %v %v", pid, err, res)
		}
	}
	if f := fetchSync(c, "g1", true)[TopicPartition{"t", 3}]; f.Err != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("staged offset with RequireStable: %+v", f)
	}
	part := c.OffsetsPartition("g1")
	be.logs[part].appendMarker(100, true)
	c.CompleteTxnInPartition(part, 100, true)
	be.logs[part].appendMarker(101, false)
	c.CompleteTxnInPartition(part, 101, false)
	if f := fetchSync(c, "g1", false)[TopicPartition{"t", 3}]; f.Offset != 30 {
		t.Fatalf("after commit marker: %+v", f)
	}

	// Delete g2 (empty): tombstones.
	delDone := make(chan map[string]int16, 1)
	c.Delete([]string{"g2"}, func(m map[string]int16) { delDone <- m })
	if codes := <-delDone; codes["g2"] != 0 {
		t.Fatalf("delete g2: %v", kerr.ErrorForCode(codes["g2"]))
	}
	c.Close()

	c2 := startCoordinator(t, be)
	got := fetchSync(c2, "g1", false)
	for tp, want := range map[TopicPartition]int64{{"t", 0}: 12, {"t", 1}: 11, {"t", 3}: 30} {
		if got[tp].Offset != want {
			t.Errorf("%v after reload: %d, want %d", tp, got[tp].Offset, want)
		}
	}
	if f := fetchSync(c2, "g1", true)[TopicPartition{"t", 3}]; f.Err != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("producer 102's open transaction is no longer staged after reload: %+v", f)
	}
	c2.CompleteTxnInPartition(part, 102, true)
	if f := fetchSync(c2, "g1", true)[TopicPartition{"t", 3}]; f.Err != 0 || f.Offset != 32 {
		t.Fatalf("after completing the reloaded transaction: %+v", f)
	}
	if g2 := fetchSync(c2, "g2", false); len(g2) != 0 {
		t.Fatalf("deleted group has offsets after reload: %+v", g2)
	}
	descDone := make(chan Description, 1)
	c2.Describe("g2", func(d Description) { descDone <- d })
	if d := <-descDone; d.State != "Dead" {
		t.Fatalf("deleted group is %s after reload", d.State)
	}
}

// TestLoadRestoresMembers: a Stable group is restored with its members,
// generation and assignments; members that never heartbeat again expire.
func TestLoadRestoresMembers(t *testing.T) {
	be := &memBackend{logs: map[int32]*memLog{}, topics: map[string]int32{"t": 1}}
	for p := int32(0); p < 4; p++ {
		be.logs[p] = &memLog{}
	}
	c := startCoordinator(t, be)
	jr := make(chan JoinResult, 1)
	req := JoinRequest{MemberID: "", ClientID: "c", SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second,
		ProtocolType: "consumer", Protocols: protos("range"), InstanceID: "static-1"}
	c.Join("g", req, func(r JoinResult) { jr <- r })
	j := <-jr
	sr := make(chan SyncResult, 1)
	c.Sync("g", SyncRequest{MemberID: j.MemberID, InstanceID: "static-1", Generation: j.Generation, Assignments: map[string][]byte{j.MemberID: []byte("A")}}, func(r SyncResult) { sr <- r })
	if s := <-sr; s.Err != 0 || string(s.Assignment) != "A" {
		t.Fatalf("sync: %+v", s)
	}
	c.Close()
	c2 := startCoordinator(t, be)
	dd := make(chan Description, 1)
	c2.Describe("g", func(d Description) { dd <- d })
	d := <-dd
	if d.State != "Stable" || len(d.Members) != 1 || d.Members[0].MemberID != j.MemberID || d.Members[0].InstanceID != "static-1" || string(d.Members[0].Assignment) != "A" {
		t.Fatalf("restored group: %+v", d)
	}
	hb := make(chan int16, 1)
	c2.Heartbeat("g", j.MemberID, "static-1", j.Generation, func(code int16) { hb <- code })
	if code := <-hb; code != 0 {
		t.Fatalf("heartbeat of the restored member: %v", kerr.ErrorForCode(code))
	}
}

// TestMarkerCompletesOnlyItsPartition: a transaction marker on one
// __consumer_offsets partition completes the producer's staged offsets of
// the groups in that partition and no other.
func TestMarkerCompletesOnlyItsPartition(t *testing.T) {
	be := &memBackend{logs: map[int32]*memLog{}, topics: map[string]int32{"t": 1}}
	for p := int32(0); p < 4; p++ {
		be.logs[p] = &memLog{}
	}
	c := startCoordinator(t, be)
	other := ""
	for i := 0; other == ""; i++ {
		if g := fmt.Sprint("g", i); c.OffsetsPartition(g) != c.OffsetsPartition("a") {
			other = g
		}
	}
	ctx := context.Background()
	for _, g := range []string{"a", other} {
		if _, err := c.TxnOffsetCommit(ctx, g, 7, 0, -1, "", nil, map[string]map[int32]OffsetCommit{"t": {0: {Offset: 5, LeaderEpoch: -1}}}); err != nil {
			t.Fatal(err)
		}
	}
	c.CompleteTxnInPartition(c.OffsetsPartition("a"), 7, true)
	if f := fetchSync(c, "a", true)[TopicPartition{"t", 0}]; f.Err != 0 || f.Offset != 5 {
		t.Fatalf("group in the marked partition: %+v", f)
	}
	if f := fetchSync(c, other, true)[TopicPartition{"t", 0}]; f.Err != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("group in another partition completed too: %+v", f)
	}
}
