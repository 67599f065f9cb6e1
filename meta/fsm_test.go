package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func mustEncode(t testing.TB, ct commandType, body any) []byte {
	t.Helper()
	b, err := encodeCommand(ct, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func validTopicJSON(name string, id byte) topicJSON {
	return topicToJSON(Topic{
		Name: name,
		ID:   [16]byte{id},
		Partitions: []Partition{
			{Index: 0, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}},
			{Index: 1, Leader: 2, Replicas: []int32{2, 1}, ISR: []int32{2}},
		},
	})
}

// seedCommands is one valid command of every type, in an order that
// applies cleanly from an empty state.
func seedCommands(t testing.TB) [][]byte {
	return [][]byte{
		mustEncode(t, cmdInitCluster, &initCluster{ClusterID: "abc"}),
		mustEncode(t, cmdRegisterBroker, &registerBroker{Broker: brokerJSON{ID: 1, Host: "h", Port: 9092}}),
		mustEncode(t, cmdRegisterBroker, &registerBroker{Broker: brokerJSON{ID: 2, Host: "h", Port: 9093}}),
		mustEncode(t, cmdCreateTopic, &createTopic{Topic: validTopicJSON("a", 1)}),
		mustEncode(t, cmdCreatePartitions, &createPartitions{Name: "a", Total: 3, Assignments: [][]int32{{1}}}),
		mustEncode(t, cmdSetTopicConfigs, &setTopicConfigs{Name: "a", Configs: map[string]string{"k": "v"}}),
		mustEncode(t, cmdSetClusterConfigs, &setClusterConfigs{Configs: map[string]string{"k": "v"}}),
		mustEncode(t, cmdUpdatePartition, &updatePartition{Topic: "a", Partition: 0, Leader: 2, ISR: []int32{2}}),
		mustEncode(t, cmdReassignPartition, &reassignPartition{Topic: "a", Partition: 0, Target: []int32{2}}),
		mustEncode(t, cmdDeleteTopic, &deleteTopic{Name: "a"}),
		mustEncode(t, cmdUnregisterBroker, &unregisterBroker{ID: 2}),
	}
}

func applyData(f *fsm, index uint64, data []byte) error {
	res := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
	if res == nil {
		return nil
	}
	return res.(error)
}

func TestFSMAppliesSeedCommands(t *testing.T) {
	f := newFSM(quietLogger(), newSubscribers())
	for i, c := range seedCommands(t) {
		if err := applyData(f, uint64(i+1), c); err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	f.read(func(st *state) {
		if st.clusterID != "abc" || len(st.topics) != 0 || len(st.topicIDs) != 0 || len(st.brokers) != 1 || st.version != 11 {
			t.Fatalf("final state: %+v", st)
		}
	})
}

func TestFSMRejectsMalformed(t *testing.T) {
	good := validTopicJSON("a", 1)
	mut := func(fn func(*topicJSON)) *createTopic {
		tj := validTopicJSON("b", 2)
		fn(&tj)
		return &createTopic{Topic: tj}
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{1}},
		{"bad version", append([]byte{9, byte(cmdDeleteTopic)}, `{"name":"a"}`...)},
		{"unknown type", append([]byte{commandVersion, 200}, `{}`...)},
		{"bad json", append([]byte{commandVersion, byte(cmdCreateTopic)}, `{"topic":`...)},
		{"wrong json type", append([]byte{commandVersion, byte(cmdCreateTopic)}, `{"topic":{"partitions":"x"}}`...)},
		{"null body", append([]byte{commandVersion, byte(cmdCreateTopic)}, `null`...)},
		{"empty cluster id", mustEncode(t, cmdInitCluster, &initCluster{})},
		{"broker no host", mustEncode(t, cmdRegisterBroker, &registerBroker{Broker: brokerJSON{ID: 3, Port: 1}})},
		{"topic exists", mustEncode(t, cmdCreateTopic, &createTopic{Topic: good})},
		{"topic id reused", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.ID = good.ID }))},
		{"zero topic id", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.ID = [16]byte{} }))},
		{"bad name", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.Name = "a b" }))},
		{"no partitions", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.Partitions = nil }))},
		{"index gap", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.Partitions[1].Index = 5 }))},
		{"no replicas", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.Partitions[0].Replicas = nil }))},
		{"negative replica", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.Partitions[0].Replicas = []int32{-5} }))},
		{"leader outside", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.Partitions[0].Leader = 7 }))},
		{"isr outside", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.Partitions[0].ISR = []int32{1, 2, 3} }))},
		{"isr duplicate", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.Partitions[0].ISR = []int32{1, 1} }))},
		{"negative epoch", mustEncode(t, cmdCreateTopic, mut(func(tj *topicJSON) { tj.Partitions[0].LeaderEpoch = -1 }))},
		{"delete unknown", mustEncode(t, cmdDeleteTopic, &deleteTopic{Name: "zzz"})},
		{"grow negative", mustEncode(t, cmdCreatePartitions, &createPartitions{Name: "a", Total: -1})},
		{"grow huge", mustEncode(t, cmdCreatePartitions, &createPartitions{Name: "a", Total: 1 << 30, Assignments: [][]int32{{1}}})},
		{"grow bad replica", mustEncode(t, cmdCreatePartitions, &createPartitions{Name: "a", Total: 3, Assignments: [][]int32{{1, 1}}})},
		{"grow count mismatch", mustEncode(t, cmdCreatePartitions, &createPartitions{Name: "a", Total: 4, Assignments: [][]int32{{1}}})},
		{"update out of range", mustEncode(t, cmdUpdatePartition, &updatePartition{Topic: "a", Partition: 2})},
		{"update bad replicas", mustEncode(t, cmdUpdatePartition, &updatePartition{Topic: "a", Leader: NoLeader, Replicas: []int32{1, 1}})},
	}
	f := newFSM(quietLogger(), newSubscribers())
	if err := applyData(f, 1, mustEncode(t, cmdCreateTopic, &createTopic{Topic: good})); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(f.mu.st.toSnapshot())
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := applyData(f, uint64(i+2), tc.data)
			if err == nil {
				t.Fatal("accepted")
			}
			var known bool
			for _, s := range []error{ErrInvalidCommand, ErrInvalidTopic, ErrInvalidPartitions, ErrInvalidReplicaAssignment, ErrInvalidBroker, ErrInvalidConfig, ErrTopicExists, ErrUnknownTopic, ErrUnknownPartition} {
				known = known || errors.Is(err, s)
			}
			if !known {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			got, _ := json.Marshal(f.mu.st.toSnapshot())
			if !bytes.Equal(got, want) {
				t.Fatalf("state changed:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestFSMIgnoresNonCommandEntries(t *testing.T) {
	f := newFSM(quietLogger(), newSubscribers())
	if res := f.Apply(&raft.Log{Index: 1, Type: raft.LogNoop, Data: []byte{0xff}}); res != nil {
		t.Fatalf("noop entry result %v", res)
	}
}

type memSink struct {
	bytes.Buffer
	canceled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.canceled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestSnapshotRoundTrip(t *testing.T) {
	src := newFSM(quietLogger(), newSubscribers())
	for i, c := range seedCommands(t)[:8] {
		if err := applyData(src, uint64(i+1), c); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	subs := newSubscribers()
	ch, cancel := subs.subscribe()
	defer cancel()
	dst := newFSM(quietLogger(), subs)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dst.mu.st, src.mu.st) {
		t.Fatalf("restored state differs:\n got %+v\nwant %+v", dst.mu.st, src.mu.st)
	}
	select {
	case <-ch:
	default:
		t.Fatal("restore did not notify")
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	f := newFSM(quietLogger(), newSubscribers())
	if err := applyData(f, 1, seedCommands(t)[0]); err != nil {
		t.Fatal(err)
	}
	dupTopics := snapshotJSON{Format: snapshotFormat, Topics: []topicJSON{validTopicJSON("a", 1), validTopicJSON("a", 2)}}
	dupIDs := snapshotJSON{Format: snapshotFormat, Topics: []topicJSON{validTopicJSON("a", 1), validTopicJSON("b", 1)}}
	badBroker := snapshotJSON{Format: snapshotFormat, Brokers: []brokerJSON{{ID: -1}}}
	badTopic := snapshotJSON{Format: snapshotFormat, Topics: []topicJSON{{Name: "x", ID: [16]byte{1}}}}
	for name, data := range map[string][]byte{
		"garbage":      []byte("not json"),
		"empty":        nil,
		"wrong format": []byte(`{"format":99}`),
		"dup topics":   mustJSON(t, dupTopics),
		"dup ids":      mustJSON(t, dupIDs),
		"bad broker":   mustJSON(t, badBroker),
		"bad topic":    mustJSON(t, badTopic),
	} {
		if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err == nil {
			t.Errorf("%s: restore accepted", name)
		}
		if f.mu.st.clusterID != "abc" {
			t.Fatalf("%s: failed restore replaced the state", name)
		}
	}
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzFSMApply feeds arbitrary entries to the state machine after a valid
// prefix: it must never panic, and whatever it accepts must leave a state
// that passes the snapshot checks.
func FuzzFSMApply(f *testing.F) {
	for _, c := range seedCommands(f) {
		f.Add(c)
	}
	f.Add([]byte{})
	f.Add([]byte{commandVersion, byte(cmdCreateTopic), '{', '}'})
	prefix := seedCommands(f)[:4]
	f.Fuzz(func(t *testing.T, data []byte) {
		fsm := newFSM(quietLogger(), newSubscribers())
		for i, c := range prefix {
			if err := applyData(fsm, uint64(i+1), c); err != nil {
				t.Fatal(err)
			}
		}
		_ = applyData(fsm, 100, data)
		snap := fsm.mu.st.toSnapshot()
		raw := mustJSON(t, snap)
		var back snapshotJSON
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if _, err := stateFromSnapshot(&back); err != nil {
			t.Fatalf("state after %q fails snapshot checks: %v", data, err)
		}
	})
}
