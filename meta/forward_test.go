package meta

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

func followerOf(t testing.TB, stores []*Store, leader *Store) *Store {
	t.Helper()
	for _, st := range stores {
		if st != leader && !st.closed.Load() {
			poll(t, "the follower to know the leader", func() bool { id, _ := st.Leader(); return id == leader.cfg.NodeID })
			return st
		}
	}
	t.Fatal("no follower")
	return nil
}

func TestForwardEveryWriteFromFollower(t *testing.T) {
	stores := openCluster(t, 3, 100*time.Millisecond)
	leader := leaderOf(t, stores)
	f := followerOf(t, stores, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for id := int32(1); id <= 3; id++ {
		if err := f.RegisterBroker(ctx, Broker{ID: id, Host: "h", Port: 9092 + id}); err != nil {
			t.Fatalf("RegisterBroker(%d): %v", id, err)
		}
		if b, ok := f.Broker(id); !ok || b.Port != 9092+id {
			t.Fatalf("broker %d not visible on the follower on return: %+v", id, b)
		}
	}
	if err := f.SetBrokerFenced(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := f.Broker(2); !b.Fenced {
		t.Fatal("fence not visible on return")
	}
	tp, err := f.CreateTopic(ctx, TopicSpec{Name: "orders", NumPartitions: 2, ReplicationFactor: 2, Configs: map[string]string{"retention.ms": "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	got, ok := f.Topic("orders")
	if !ok || got.ID != tp.ID || len(got.Partitions) != 2 || got.Configs["retention.ms"] != "1000" {
		t.Fatalf("created topic %+v, visible %+v %v", tp, got, ok)
	}
	if lt, _ := leader.Topic("orders"); lt.ID != tp.ID {
		t.Fatalf("leader has topic id %x, follower was told %x", lt.ID, tp.ID)
	}
	if err := f.CreatePartitions(ctx, "orders", 4, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Topic("orders"); len(got.Partitions) != 4 {
		t.Fatalf("partitions %d after CreatePartitions", len(got.Partitions))
	}
	if err := f.SetTopicConfigs(ctx, "orders", map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Topic("orders"); got.Configs["cleanup.policy"] != "compact" || len(got.Configs) != 1 {
		t.Fatalf("topic configs %v", got.Configs)
	}
	if err := f.SetClusterConfigs(ctx, map[string]string{"log.retention.ms": "5"}); err != nil {
		t.Fatal(err)
	}
	if f.ClusterConfigs()["log.retention.ms"] != "5" {
		t.Fatalf("cluster configs %v", f.ClusterConfigs())
	}
	p := got.Partitions[0]
	newLeader := p.Replicas[len(p.Replicas)-1]
	if err := f.UpdatePartition(ctx, PartitionUpdate{Topic: "orders", Partition: 0, ExpectedLeaderEpoch: p.LeaderEpoch, Leader: newLeader, ISR: []int32{newLeader}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Topic("orders"); got.Partitions[0].Leader != newLeader || got.Partitions[0].LeaderEpoch != p.LeaderEpoch+1 {
		t.Fatalf("partition after update %+v", got.Partitions[0])
	}
	blk, err := f.AllocateProducerIDs(ctx, 3, 100)
	if err != nil {
		t.Fatal(err)
	}
	blk2, err := f.AllocateProducerIDs(ctx, 3, 10)
	if err != nil || blk.Count != 100 || blk2.First != blk.First+100 || f.NextProducerID() != blk2.First+10 {
		t.Fatalf("producer id blocks %+v %+v next %d: %v", blk, blk2, f.NextProducerID(), err)
	}
	if err := f.DeleteTopic(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Topic("orders"); ok {
		t.Fatal("deleted topic still visible on return")
	}
	if err := f.UnregisterBroker(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if hasBroker(f, 3) {
		t.Fatal("unregistered broker still visible on return")
	}
}

func TestForwardSentinelErrors(t *testing.T) {
	stores := openCluster(t, 3, 100*time.Millisecond)
	leader := leaderOf(t, stores)
	f := followerOf(t, stores, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	registerBrokers(t, f, 1, 2)
	if _, err := f.CreateTopic(ctx, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 2}); err != nil {
		t.Fatal(err)
	}
	// Validation the leader does (the follower's copy may be stale, so it
	// decides nothing itself) comes back as the same sentinel.
	_, err := f.CreateTopic(ctx, TopicSpec{Name: "t", NumPartitions: 1, ReplicationFactor: 1})
	checkSentinel(t, "CreateTopic existing", err, ErrTopicExists)
	_, err = f.CreateTopic(ctx, TopicSpec{Name: "u", NumPartitions: 1, ReplicationFactor: 3})
	checkSentinel(t, "CreateTopic rf 3 on 2 brokers", err, ErrNotEnoughBrokers)
	checkSentinel(t, "DeleteTopic unknown", f.DeleteTopic(ctx, "nope"), ErrUnknownTopic)
	checkSentinel(t, "UnregisterBroker unknown", f.UnregisterBroker(ctx, 77), ErrUnknownBroker)
	checkSentinel(t, "SetBrokerFenced unknown", f.SetBrokerFenced(ctx, 77, true), ErrUnknownBroker)
	checkSentinel(t, "CreatePartitions shrink", f.CreatePartitions(ctx, "t", 1, nil), ErrInvalidPartitions)
	checkSentinel(t, "UpdatePartition stale", f.UpdatePartition(ctx, PartitionUpdate{Topic: "t", Partition: 0, ExpectedLeaderEpoch: 9, Leader: 1, ISR: []int32{1}}), ErrStaleEpoch)
	checkSentinel(t, "UpdatePartition unknown partition", f.UpdatePartition(ctx, PartitionUpdate{Topic: "t", Partition: 5, Leader: 1, ISR: []int32{1}}), ErrUnknownPartition)
	checkSentinel(t, "SetTopicConfigs unknown", f.SetTopicConfigs(ctx, "nope", nil), ErrUnknownTopic)
	_, err = f.AllocateProducerIDs(ctx, 1, -1)
	checkSentinel(t, "AllocateProducerIDs negative", err, ErrInvalidCommand)
	checkSentinel(t, "RegisterBroker invalid", f.RegisterBroker(ctx, Broker{ID: -5}), ErrInvalidBroker)
}

func checkSentinel(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	} else if Retriable(err) {
		t.Errorf("%s: %v is retriable", what, err)
	}
}

func TestForwardHeartbeat(t *testing.T) {
	stores := openCluster(t, 3, 100*time.Millisecond)
	leader := leaderOf(t, stores)
	f := followerOf(t, stores, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	req := HeartbeatRequest{BrokerID: 2, BrokerEpoch: 7, Broker: Broker{ID: 2, Host: "h2", Port: 9092}, AppliedVersion: 42, WantShutdown: true}
	// Before the controller sets a handler the answer is retriable.
	_, err := f.Heartbeat(ctx, req)
	if !errors.Is(err, ErrNoHeartbeatHandler) || !Retriable(err) {
		t.Fatalf("heartbeat without handler: %v", err)
	}
	var calls atomic.Int64
	for _, st := range stores {
		st.SetHeartbeatHandler(func(_ context.Context, got HeartbeatRequest) (HeartbeatResponse, error) {
			if st != leader {
				t.Errorf("heartbeat handled on node %d, not the leader", st.cfg.NodeID)
			}
			if !reflect.DeepEqual(got, req) {
				t.Errorf("handler got %+v, want %+v", got, req)
			}
			calls.Add(1)
			return HeartbeatResponse{BrokerEpoch: got.BrokerEpoch + 1, Fenced: true, ShouldShutdown: got.WantShutdown, MinAppliedVersion: 40}, nil
		})
	}
	dials := f.fwd.dials.Load()
	const n = 20
	for range n {
		resp, err := f.Heartbeat(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if want := (HeartbeatResponse{BrokerEpoch: 8, Fenced: true, ShouldShutdown: true, MinAppliedVersion: 40}); resp != want {
			t.Fatalf("heartbeat response %+v, want %+v", resp, want)
		}
	}
	if d := f.fwd.dials.Load() - dials; d > 1 {
		t.Errorf("%d heartbeats dialed %d connections, want pooled reuse", n, d)
	}
	if resp, err := leader.Heartbeat(ctx, req); err != nil || resp.BrokerEpoch != 8 {
		t.Fatalf("local heartbeat on the leader: %+v %v", resp, err)
	}
	if c := calls.Load(); c != n+1 {
		t.Fatalf("handler ran %d times, want %d", c, n+1)
	}
	// A handler's error reaches the caller with its sentinel.
	leader.SetHeartbeatHandler(func(context.Context, HeartbeatRequest) (HeartbeatResponse, error) {
		return HeartbeatResponse{}, fmt.Errorf("broker: %w", ErrUnknownBroker)
	})
	if _, err := f.Heartbeat(ctx, req); !errors.Is(err, ErrUnknownBroker) {
		t.Fatalf("handler error: %v", err)
	}
}

func TestForwardLeaderClosedWritesResume(t *testing.T) {
	stores := openCluster(t, 3, 100*time.Millisecond)
	leader := leaderOf(t, stores)
	f := followerOf(t, stores, leader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var committed, afterClose atomic.Int64
	var closedLeader atomic.Bool
	done := make(chan error, 1)
	go func() {
		for id := int32(100); ; id++ {
			if ctx.Err() != nil {
				done <- ctx.Err()
				return
			}
			wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
			err := f.RegisterBroker(wctx, Broker{ID: id, Host: "h", Port: 1})
			wcancel()
			switch {
			case err == nil:
				if !hasBroker(f, id) {
					done <- fmt.Errorf("broker %d not visible on return", id)
					return
				}
				committed.Add(1)
				if closedLeader.Load() && afterClose.Add(1) >= 20 {
					done <- nil
					return
				}
			case !Retriable(err):
				done <- fmt.Errorf("write %d: non-retriable %w", id, err)
				return
			}
		}
	}()
	poll(t, "writes through the first leader", func() bool { return committed.Load() >= 5 })
	if err := leader.Close(); err != nil {
		t.Fatal(err)
	}
	closedLeader.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	next := leaderOf(t, stores)
	if next == leader {
		t.Fatal("closed store leads")
	}
}

func TestForwardPortRefusesGarbage(t *testing.T) {
	stores := openCluster(t, 3, 100*time.Millisecond)
	leader := leaderOf(t, stores)
	f := followerOf(t, stores, leader)

	oversized := make([]byte, 5)
	oversized[0] = connForward
	binary.BigEndian.PutUint32(oversized[1:], maxForwardFrame+1)
	lying := make([]byte, 5, 15)
	lying[0] = connForward
	binary.BigEndian.PutUint32(lying[1:], 1<<20)
	lying = append(lying, "0123456789"...)
	notJSON := append([]byte{connForward, 0, 0, 0, 3}, "{{{"...)
	unknown := append([]byte{connForward, 0, 0, 0, 17}, `{"method":"Nope"}`...)
	badArgs := append([]byte{connForward, 0, 0, 0, 44}, `{"method":"RegisterBroker","args":"a string"}`...)
	inputs := map[string][]byte{
		"http":           []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"zeros":          make([]byte, 64),
		"oversized":      oversized,
		"lying length":   lying,
		"not json":       notJSON,
		"unknown method": unknown,
		"bad args":       badArgs,
		"raft garbage":   append([]byte{connRaft}, bytes.Repeat([]byte{0xff}, 64)...),
		"type only":      {connForward},
	}
	for name, in := range inputs {
		for _, st := range []*Store{leader, f} {
			c, err := net.DialTimeout("tcp", st.Addr(), 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(in); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			// The store answers a decodable frame with an error, or closes.
			if body, err := readFrame(c); err == nil {
				resp, err := decodeResponse(body)
				if err != nil || !errors.Is(decodeError(resp), ErrBadFrame) {
					t.Errorf("%s: answer %+v %v, want ErrBadFrame", name, resp, err)
				}
			}
			_ = c.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.RegisterBroker(ctx, Broker{ID: 1, Host: "h", Port: 1}); err != nil {
		t.Fatalf("write after garbage: %v", err)
	}
	for _, st := range stores {
		poll(t, "every node applies the write", func() bool { return hasBroker(st, 1) })
	}

	// A peer that never sends its type byte is closed by Close.
	silent, err := net.DialTimeout("tcp", f.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	poll(t, "the silent connection to be accepted", func() bool {
		f.fwd.mu.Lock()
		defer f.fwd.mu.Unlock()
		return len(f.fwd.mu.serving) > 0
	})
	t0 := time.Now()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close with a silent peer connected took %v (type-byte timeout %v)", time.Since(t0), connTypeTimeout)
	_ = silent.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatal("silent connection still open after Close")
	}
}

func TestWaitApplied(t *testing.T) {
	st := openReady(t, testConfig(t, t.TempDir()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.WaitApplied(ctx, st.Version()); err != nil {
		t.Fatal(err)
	}
	short, scancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer scancel()
	if err := st.WaitApplied(short, st.Version()+1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a future version: %v", err)
	}
	want := st.Version() + 1
	errc := make(chan error, 1)
	go func() { errc <- st.WaitApplied(ctx, want) }()
	registerBrokers(t, st, 1)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func FuzzForwardFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add(append([]byte{0, 0, 0, 37}, `{"method":"DeleteTopic","args":"t"}`...))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 1, 0, 'x'})
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := readFrame(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(body) > maxForwardFrame || len(body)+4 > len(data) {
			t.Fatalf("frame of %d bytes from %d input bytes", len(body), len(data))
		}
		if req, err := decodeRequest(body); err == nil {
			if req.Method == "" {
				t.Fatal("request without a method accepted")
			}
			again, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := decodeRequest(again); err != nil || back.Method != req.Method || back.TimeoutMS != req.TimeoutMS {
				t.Fatalf("request %+v did not survive re-encoding: %+v %v", req, back, err)
			}
		}
		if resp, err := decodeResponse(body); err == nil && (resp.Code != "" || resp.Error != "") {
			_ = decodeError(resp).Error()
		}
	})
}
