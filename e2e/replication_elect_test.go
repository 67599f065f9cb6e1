package e2e

import (
	"context"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestElectLeaders drives Kafka's ElectLeaders API through kadm, as
// kafka-leader-election does. With auto.leader.rebalance.enable off, a
// preferred replica that returns after a crash stays a follower until a
// preferred election moves leadership back (the other partitions answer
// ELECTION_NOT_NEEDED, and an election over every partition lists none).
// A partition whose only in-sync replica is dead answers
// PREFERRED_LEADER_NOT_AVAILABLE to a preferred election and is given to
// its live out-of-sync replica by an unclean one, which takes writes at
// once; the old leader, back, truncates what the new one never had.
func TestElectLeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestClusterWith(t, 3, map[string]string{"auto.leader.rebalance.enable": "false"})
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	bin := strataBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	md, err := newAdmin(t, nodes[0].kafka).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ctrl *clusterNode
	var others []*clusterNode
	for _, c := range nodes {
		if c.id == md.Controller {
			ctrl = c
		} else {
			others = append(others, c)
		}
	}
	a, b := others[0], others[1]
	adm := newAdmin(t, ctrl.kafka)

	// Preferred: a leads partition 0 of "pref" and crashes.
	createAssigned(t, ctrl.kafka, "pref", 3, func(p int32) []int32 {
		return [][]int32{{a.id, b.id, ctrl.id}, {b.id, ctrl.id, a.id}, {ctrl.id, a.id, b.id}}[p]
	})
	cl := newClient(t, ctrl.kafka, kgo.DefaultProduceTopic("pref"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for p := range int32(3) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	a.signal(t, syscall.SIGKILL)
	a.waitExit(t, 5*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for leaders(t, ctrl.kafka, "pref")[0] == a.id {
		if time.Now().After(deadline) {
			t.Fatal("partition 0 still led by the dead broker")
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.start(t, bin, 3, joinList(nodes))
	a.waitReady(t, 60*time.Second)
	awaitFullISR(t, ctrl.kafka, "pref", 3, 60*time.Second)
	time.Sleep(time.Second) // a reconcile step or more, in which nothing moves
	if l := leaders(t, ctrl.kafka, "pref")[0]; l == a.id {
		t.Fatal("leadership moved back with auto.leader.rebalance.enable=false")
	}
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"pref": {0: {}, 1: {}, 2: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]error{0: nil, 1: kerr.ElectionNotNeeded, 2: kerr.ElectionNotNeeded} {
		if got := res["pref"][p].Err; !errors.Is(got, want) {
			t.Fatalf("partition %d: preferred election %v, want %v (%+v)", p, got, want, res)
		}
	}
	if l := leaders(t, ctrl.kafka, "pref")[0]; l != a.id {
		t.Fatalf("partition 0 led by %d after a preferred election, want %d", l, a.id)
	}
	if all, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil); err != nil || len(all) != 0 {
		t.Fatalf("election over every partition: %v %+v, want nothing to do", err, all)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("y")}).FirstErr(); err != nil {
		t.Fatalf("produce to the elected leader: %v", err)
	}
	if res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"nope": {0: {}}}); err != nil || !errors.Is(res["nope"][0].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("election on an unknown topic: %v %+v", err, res)
	}

	// Unclean: "forced" lives on a and b; b falls out of sync, a dies.
	createAssigned(t, ctrl.kafka, "forced", 1, func(int32) []int32 { return []int32{a.id, b.id} })
	produce := func(v string) error {
		cl := newClient(t, ctrl.kafka, kgo.DefaultProduceTopic("forced"), kgo.RecordDeliveryTimeout(10*time.Second))
		return cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr()
	}
	if err := produce("both"); err != nil {
		t.Fatal(err)
	}
	b.signal(t, syscall.SIGKILL)
	b.waitExit(t, 5*time.Second)
	if err := produce("a-only"); err != nil {
		t.Fatal(err)
	}
	a.signal(t, syscall.SIGKILL)
	a.waitExit(t, 5*time.Second)
	b.start(t, bin, 3, joinList(nodes))
	b.waitReady(t, 60*time.Second)
	deadline = time.Now().Add(20 * time.Second)
	for leaders(t, ctrl.kafka, "forced")[0] != -1 {
		if time.Now().After(deadline) {
			t.Fatalf("forced partition not leaderless: %v", leaders(t, ctrl.kafka, "forced"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	set := kadm.TopicsSet{"forced": {0: {}}}
	if res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set); err != nil || !errors.Is(res["forced"][0].Err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred election with the preferred replica dead: %v %+v", err, res)
	}
	if res, err := adm.ElectLeaders(ctx, kadm.ElectLiveReplica, set); err != nil || res["forced"][0].Err != nil {
		t.Fatalf("unclean election: %v %+v", err, res)
	}
	if l := leaders(t, ctrl.kafka, "forced")[0]; l != b.id {
		t.Fatalf("forced partition led by %d after an unclean election, want %d", l, b.id)
	}
	if res, err := adm.ElectLeaders(ctx, kadm.ElectLiveReplica, set); err != nil || !errors.Is(res["forced"][0].Err, kerr.ElectionNotNeeded) {
		t.Fatalf("second unclean election: %v %+v", err, res)
	}
	logs := keepLogs(t, nodes)
	if !strings.Contains(logs, "unclean leader election requested") {
		t.Fatal("the unclean election was not logged")
	}
	if err := produce("b-leads"); err != nil {
		t.Fatalf("produce after the unclean election: %v", err)
	}
	a.start(t, bin, 3, joinList(nodes))
	a.waitReady(t, 60*time.Second)
	awaitFullISR(t, ctrl.kafka, "forced", 2, 30*time.Second)
	var got []string
	for _, r := range consumeN(t, ctrl.kafka, "forced", 2) {
		got = append(got, string(r.Value))
	}
	if want := []string{"both", "b-leads"}; !slices.Equal(got, want) {
		t.Fatalf("forced partition reads %v, want %v", got, want)
	}
}
