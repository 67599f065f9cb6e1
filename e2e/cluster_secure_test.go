package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSecuredCluster follows docs/security.md's cluster: three nodes whose
// only Kafka listener is SASL_SSL, SCRAM with a bootstrap administrator,
// the authorizer on, mutual TLS on the raft address and encrypted gossip.
// Replication runs over the SASL_SSL listener as the administrator. A user
// with ACLs writes with acks=all while the leader of a partition is
// SIGKILLed; strangers are refused; and every acknowledged record is read
// back once, in order.
func TestSecuredCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	dir := t.TempDir()
	ca, clusterCA := newTestCA(t, "listeners-ca"), newTestCA(t, "cluster-ca")
	key := writeGossipKey(t)
	pw := writeSecret(t, dir, "admin.pw", "admin-pw-2c9e")
	bin := strataBinary(t)
	nodes := newClusterNodes(t, 3)
	join := joinList(nodes)
	for _, c := range nodes {
		lf := ca.writeFiles(t, t.TempDir(), "broker")
		cf := clusterCA.writeFiles(t, t.TempDir(), "node-"+strconv.Itoa(int(c.id)))
		c.args = []string{
			"--listeners", "SASL_SSL://" + c.kafka,
			"--tls-cert-file", lf.cert, "--tls-key-file", lf.key, "--tls-client-ca-file", lf.ca,
			"--sasl-enabled-mechanisms", "SCRAM-SHA-512,SCRAM-SHA-256",
			"--bootstrap-scram-user", "admin", "--bootstrap-scram-password-file", pw,
			"--authorizer", "--super-users", "User:admin",
			"--cluster-tls-cert-file", cf.cert, "--cluster-tls-key-file", cf.key, "--cluster-tls-ca-file", cf.ca,
			"--gossip-key-file", key,
		}
		c.start(t, bin, 3, join)
	}
	waitAllReady(t, nodes, 90*time.Second)
	if t.Failed() {
		return
	}
	tlsOpt := kgo.DialTLSConfig(clientTLS(t, ca, ca, ""))
	seeds := kgo.SeedBrokers(nodes[0].kafka, nodes[1].kafka, nodes[2].kafka)
	as := func(user, pass string, opts ...kgo.Opt) *kgo.Client {
		return newClient(t, nodes[0].kafka, append([]kgo.Opt{seeds, tlsOpt, kgo.SASL(scramMech(user, pass, true))}, opts...)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	adm := kadm.NewClient(as("admin", "admin-pw-2c9e"))
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "payments"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-pw"},
		{User: "eve", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "eve-pw"},
	}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:alice").Topics("payments").Operations(kadm.OpWrite, kadm.OpRead, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:alice").Groups("ledger").Operations(kadm.OpRead),
	} {
		res, err := adm.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
	// The ACLs are in the metadata every node applies; give them a moment
	// to reach the other nodes' authorizers before alice writes there.
	alice := as("alice", "alice-pw", kgo.DefaultProduceTopic("payments"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(1000), kgo.RetryTimeout(60*time.Second))
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := alice.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 150)

	// Strangers: no credentials, and a user without ACLs.
	anon := newClient(t, nodes[1].kafka, tlsOpt, kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))
	if err := anon.Ping(ctx); err == nil {
		t.Fatal("a client without credentials was served")
	}
	eve := as("eve", "eve-pw", kgo.DefaultProduceTopic("payments"), kgo.RecordRetries(0), kgo.RetryTimeout(5*time.Second))
	if err := eve.ProduceSync(ctx, kgo.StringRecord("eve")).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("eve's produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	eve.Close()
	anon.Close()

	// A consumer group reads what is there (the offsets topic is made
	// while all three brokers are up, as its replication factor of 3
	// needs).
	reader := as("alice", "alice-pw", kgo.ConsumeTopics("payments"), kgo.ConsumerGroup("ledger"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var recs []*kgo.Record
	consume := func(upTo int) {
		t.Helper()
		for len(recs) < upTo {
			fs := reader.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				// After the kill the group's coordinator may move: the
				// client finds the new one and carries on.
				if ctx.Err() != nil {
					t.Fatalf("consume after %d: %v", len(recs), err)
				}
				t.Logf("consume after %d: %v (retrying)", len(recs), err)
				continue
			}
			recs = append(recs, fs.Records()...)
		}
	}
	consume(150)

	// SIGKILL the leader of partition 0; writes carry on on the others.
	lead := leadersAs(t, ctx, adm, "payments")[0]
	var victim *clusterNode
	for _, c := range nodes {
		if c.id == lead {
			victim = c
		}
	}
	victim.signal(t, syscall.SIGKILL)
	produce(150, 300)

	// Everything acknowledged, once, in order per partition.
	consume(300)
	checkOncePerValue(t, recs, 300)
	checkOrderPerPartition(t, recs)

	// A node holding the cluster's certificates but a wrong password for
	// the inter-broker user joins, yet cannot replicate: its fetches are
	// refused, it never enters the ISR, and the reassignment onto it
	// does not complete.
	intruder := newClusterNodes(t, 1)[0]
	intruder.id, intruder.store = 4, nodes[0].store
	lf := ca.writeFiles(t, t.TempDir(), "broker")
	cf := clusterCA.writeFiles(t, t.TempDir(), "node-4")
	intruder.args = []string{
		"--listeners", "SASL_SSL://" + intruder.kafka,
		"--tls-cert-file", lf.cert, "--tls-key-file", lf.key, "--tls-client-ca-file", lf.ca,
		"--sasl-enabled-mechanisms", "SCRAM-SHA-512,SCRAM-SHA-256",
		"--inter-broker-user", "admin", "--inter-broker-password-file", writeSecret(t, dir, "wrong.pw", "not-the-password"),
		"--authorizer", "--super-users", "User:admin",
		"--cluster-tls-cert-file", cf.cert, "--cluster-tls-key-file", cf.key, "--cluster-tls-ca-file", cf.ca,
		"--gossip-key-file", key,
	}
	intruder.start(t, bin, 0, join)
	intruder.waitReady(t, 60*time.Second)
	var survivors []int32
	for _, c := range nodes {
		if c != victim {
			survivors = append(survivors, c.id)
		}
	}
	moved := leadersAs(t, ctx, adm, "payments")
	var part int32 = -1
	for p, l := range moved {
		if l != victim.id && l >= 0 {
			part = p
			break
		}
	}
	if part < 0 {
		t.Fatalf("no partition led by a survivor: %v", moved)
	}
	var target []int32
	target = append(target, moved[part])
	for _, id := range survivors {
		if id != moved[part] {
			target = append(target, id)
		}
	}
	target = append(target, 4)
	req := kadm.AlterPartitionAssignmentsReq{}
	req.Assign("payments", part, target)
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res.Error() != nil {
		t.Fatalf("reassign onto node 4: %v %v", err, res.Error())
	}
	// Its own clients are refused (by its own listener first, which
	// checks the cluster's credentials like any other), and they redial a
	// few times a second, not in a loop.
	time.Sleep(10 * time.Second)
	refused := strings.Count(intruder.log(t), `msg="authentication failed" node=4 log=audit reason="invalid credentials"`)
	if refused == 0 {
		t.Fatalf("node 4's clients were never refused; its log:\n%.4000s", intruder.log(t))
	}
	if refused > 100 {
		t.Fatalf("node 4's clients redialled %d times in about 10 s", refused)
	}
	t.Logf("node 4's clients refused %d times in about 10 s", refused)
	td, err := adm.ListTopics(ctx, "payments")
	if err != nil {
		t.Fatal(err)
	}
	if isr := td["payments"].Partitions[part].ISR; slices.Contains(isr, 4) {
		t.Fatalf("node 4 entered the ISR of partition %d without credentials: %v", part, isr)
	}
}

// leadersAs maps each partition of topic to its leader through adm.
func leadersAs(t testing.TB, ctx context.Context, adm *kadm.Client, topic string) map[int32]int32 {
	t.Helper()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int32{}
	for _, p := range td[topic].Partitions {
		out[p.Partition] = p.Leader
	}
	return out
}
