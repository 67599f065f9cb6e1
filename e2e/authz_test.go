package e2e

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestAuthorizerEnforcesACLs: with --authorizer, a principal does what its
// ACLs allow and nothing else, each refusal with Kafka's error code, an
// audit line, and no change to the data; super users bypass ACLs; ACLs
// are managed with CreateAcls/DescribeAcls/DeleteAcls.
func TestAuthorizerEnforcesACLs(t *testing.T) {
	dir := t.TempDir()
	pw := writeSecret(t, dir, "admin.pw", "root-pw")
	audit := &syncBuffer{}
	n := startSecureNode(t, "", func(c *node.Config) {
		c.Security = node.SecurityConfig{Listeners: "SASL_PLAINTEXT://127.0.0.1:0", BootstrapScramUser: "admin",
			BootstrapScramPasswordFile: pw, Authorizer: true, SuperUsers: "User:admin"}
		c.AuditLogger = slog.New(slog.NewTextHandler(audit, nil))
	})
	addr := n.ListenerAddr("SASL_PLAINTEXT")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	as := func(user, pass string, opts ...kgo.Opt) *kgo.Client {
		return newClient(t, addr, append([]kgo.Opt{kgo.SASL(scramMech(user, pass, true)), kgo.RequestRetries(1), kgo.RetryTimeout(3 * time.Second)}, opts...)...)
	}
	admin := kadm.NewClient(as("admin", "root-pw"))
	for _, topic := range []string{"orders", "audit"} {
		if _, err := admin.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatalf("super user creates %s: %v", topic, err)
		}
	}
	if _, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "a-pw"},
		{User: "eve", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "e-pw"},
	}); err != nil {
		t.Fatal(err)
	}
	acls := kadm.NewACLs().Allow("User:alice").ResourcePatternType(kadm.ACLPatternLiteral).
		Topics("orders").Operations(kadm.OpWrite, kadm.OpRead)
	groups := kadm.NewACLs().Allow("User:alice").ResourcePatternType(kadm.ACLPatternPrefixed).
		Groups("g-").Operations(kadm.OpRead)
	txn := kadm.NewACLs().Allow("User:alice").ResourcePatternType(kadm.ACLPatternLiteral).
		TransactionalIDs("tx-alice").Operations(kadm.OpWrite)
	for _, b := range []*kadm.ACLBuilder{acls, groups, txn} {
		res, err := admin.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create ACL: %v", r.Err)
			}
		}
	}
	described, err := admin.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil || len(described) != 1 || len(described[0].Described) != 4 {
		t.Fatalf("describe ACLs: %v %+v", err, described)
	}

	// alice: idempotent produce to orders, consume it in group g-1 and
	// commit; a transaction under tx-alice.
	alice := as("alice", "a-pw", kgo.DefaultProduceTopic("orders"))
	for i := 0; i < 5; i++ {
		if err := alice.ProduceSync(ctx, &kgo.Record{Value: []byte{byte('0' + i)}}).FirstErr(); err != nil {
			t.Fatalf("alice produces to orders: %v", err)
		}
	}
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "audit", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces to audit: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	cons := as("alice", "a-pw", kgo.ConsumerGroup("g-1"), kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit())
	var got int
	for got < 5 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("alice consumed %d of 5", got)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("alice fetch: %v", err) })
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("alice commits in g-1: %v", err)
	}
	tx := as("alice", "a-pw", kgo.TransactionalID("tx-alice"), kgo.DefaultProduceTopic("orders"))
	if err := tx.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tx.ProduceSync(ctx, &kgo.Record{Value: []byte("in txn")}).FirstErr(); err != nil {
		t.Fatalf("transactional produce: %v", err)
	}
	if err := tx.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit (markers written by the inter-broker client): %v", err)
	}
	if end := endOffset(t, as("admin", "root-pw"), "orders", true); end != 7 {
		t.Fatalf("orders committed end %d, want 7 (5 + record + marker)", end)
	}

	// eve: no ACLs at all.
	eveCl := as("eve", "e-pw")
	eve := kadm.NewClient(eveCl)
	if md, err := eve.Metadata(ctx); err != nil || len(md.Topics) != 0 {
		t.Fatalf("eve lists topics: %v %v", err, md.Topics.Names())
	}
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("orders")
	mreq.Topics = append(mreq.Topics, mt)
	if mresp, err := mreq.RequestWith(ctx, eveCl); err != nil || len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("eve asks for orders: %v %+v", err, mresp)
	}
	raw := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := eveCl.Request(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
		}
		return resp
	}
	want := func(what string, code int16, wantErr error) {
		t.Helper()
		if got := kerr.ErrorForCode(code); !errors.Is(got, wantErr) {
			t.Errorf("eve %s: %v, want %v", what, got, wantErr)
		}
	}
	want("produces", rawProduce(t, eveCl, "orders", idemBatch(-1, -1, -1, 1, false)).ErrorCode, kerr.TopicAuthorizationFailed)

	fetch := kmsg.NewPtrFetchRequest()
	fetch.ReplicaID, fetch.MaxBytes = -1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "orders"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	md, err := admin.Metadata(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	ft.TopicID = md.Topics["orders"].ID
	fetch.Topics = append(fetch.Topics, ft)
	want("fetches", raw(fetch).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)

	ct := kmsg.NewPtrCreateTopicsRequest()
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "eves", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	ctResp := raw(ct).(*kmsg.CreateTopicsResponse)
	if len(ctResp.Topics) != 1 {
		t.Fatalf("create topics answer: %+v", ctResp)
	}
	want("creates a topic", ctResp.Topics[0].ErrorCode, kerr.TopicAuthorizationFailed)

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"orders"}
	dtt := kmsg.NewDeleteTopicsRequestTopic()
	dtt.Topic = kmsg.StringPtr("orders")
	dt.Topics = append(dt.Topics, dtt)
	want("deletes orders", raw(dt).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode, kerr.TopicAuthorizationFailed)

	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group, jg.ProtocolType, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis = "g-1", "consumer", 10000, 10000
	jp := kmsg.NewJoinGroupRequestProtocol()
	jp.Name = "range"
	jg.Protocols = append(jg.Protocols, jp)
	// kgo returns a coordinator's error itself for group and transaction
	// requests; either way the error must be want.
	expect := func(what string, req kmsg.Request, code func(kmsg.Response) int16, want error) {
		t.Helper()
		resp, err := eveCl.Request(ctx, req)
		if err == nil {
			err = kerr.ErrorForCode(code(resp))
		}
		if !errors.Is(err, want) {
			t.Errorf("eve %s: %v, want %v", what, err, want)
		}
	}
	groupErr := func(what string, req kmsg.Request, code func(kmsg.Response) int16) {
		t.Helper()
		expect(what, req, code, kerr.GroupAuthorizationFailed)
	}
	groupErr("joins g-1", jg, func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode })

	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = "g-1"
	ofg := kmsg.NewOffsetFetchRequestGroup()
	ofg.Group = "g-1"
	of.Groups = append(of.Groups, ofg)
	groupErr("fetches g-1's offsets", of, func(r kmsg.Response) int16 {
		if or := r.(*kmsg.OffsetFetchResponse); len(or.Groups) > 0 {
			return or.Groups[0].ErrorCode
		} else {
			return or.ErrorCode
		}
	})

	dc := kmsg.NewPtrDescribeConfigsRequest()
	dcr := kmsg.NewDescribeConfigsRequestResource()
	dcr.ResourceType, dcr.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
	dc.Resources = append(dc.Resources, dcr)
	want("describes broker configs", raw(dc).(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode, kerr.ClusterAuthorizationFailed)

	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionTimeoutMillis = 10000
	ipCode := func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }
	expect("inits an idempotent producer", ip, ipCode, kerr.ClusterAuthorizationFailed)
	ip2 := kmsg.NewPtrInitProducerIDRequest()
	ip2.TransactionTimeoutMillis, ip2.TransactionalID = 10000, kmsg.StringPtr("tx-alice")
	expect("inits alice's transactional id", ip2, ipCode, kerr.TransactionalIDAuthorizationFailed)

	ca := kmsg.NewPtrCreateACLsRequest()
	cac := kmsg.NewCreateACLsRequestCreation()
	cac.ResourceType, cac.ResourceName, cac.ResourcePatternType = kmsg.ACLResourceTypeTopic, "audit", kmsg.ACLResourcePatternTypeLiteral
	cac.Principal, cac.Host, cac.Operation, cac.PermissionType = "User:eve", "*", kmsg.ACLOperationAll, kmsg.ACLPermissionTypeAllow
	ca.Creations = append(ca.Creations, cac)
	if resp, err := ca.RequestWith(ctx, eveCl); err == nil && len(resp.Results) > 0 && resp.Results[0].ErrorCode == 0 {
		t.Error("eve granted herself an ACL")
	}
	want("alters SCRAM credentials", func() int16 {
		r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
		d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
		d.Name, d.Mechanism = "admin", 2
		r.Deletions = append(r.Deletions, d)
		resp, err := r.RequestWith(ctx, eveCl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Results[0].ErrorCode
	}(), kerr.ClusterAuthorizationFailed)

	dq := kmsg.NewPtrDescribeClientQuotasRequest()
	want("describes client quotas", raw(dq).(*kmsg.DescribeClientQuotasResponse).ErrorCode, kerr.ClusterAuthorizationFailed)
	aq := kmsg.NewPtrAlterClientQuotasRequest()
	aqe := kmsg.NewAlterClientQuotasRequestEntry()
	aqe.Entity = []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: kmsg.StringPtr("eve")}}
	aqe.Ops = []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 1 << 40}}
	aq.Entries = append(aq.Entries, aqe)
	aqResp := raw(aq).(*kmsg.AlterClientQuotasResponse)
	if len(aqResp.Entries) != 1 {
		t.Fatalf("alter client quotas answer: %+v", aqResp)
	}
	want("alters her own quota", aqResp.Entries[0].ErrorCode, kerr.ClusterAuthorizationFailed)
	if qs, err := admin.DescribeClientQuotas(ctx, false, nil); err != nil || len(qs) != 0 {
		t.Fatalf("quotas after eve's attempt: %v %v", qs, err)
	}

	// Nothing eve tried changed anything.
	adminCl := as("admin", "root-pw")
	if end := endOffset(t, adminCl, "orders", false); end != 7 {
		t.Fatalf("orders end %d after eve's attempts, want 7", end)
	}
	if md, _ := admin.Metadata(ctx); !md.Topics.Has("orders") || md.Topics.Has("eves") {
		t.Fatalf("topics after eve's attempts: %v", md.Topics.Names())
	}
	if _, ok := admin.DescribeUserSCRAMs(ctx, "admin"); ok != nil {
		t.Fatalf("admin's credentials after eve's attempt: %v", ok)
	}
	log := audit.String()
	for _, w := range []string{`principal=User:eve`, `operation=WRITE`, `api=CreateTopics`, `api=FindCoordinator`, `api=AlterUserSCRAMCredentials`} {
		if !strings.Contains(log, w) {
			t.Errorf("audit log lacks %q", w)
		}
	}

	// Revoking alice's WRITE stops her producing at once.
	del, err := admin.DeleteACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().ResourcePatternType(kadm.ACLPatternLiteral).
		Topics("orders").Operations(kadm.OpWrite))
	if err != nil || len(del) != 1 || len(del[0].Deleted) != 1 {
		t.Fatalf("delete ACL: %v %+v", err, del)
	}
	fresh := as("alice", "a-pw", kgo.DefaultProduceTopic("orders"), kgo.DisableIdempotentWrite())
	if err := fresh.ProduceSync(ctx, &kgo.Record{Value: []byte("after revoke")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produces after her WRITE was deleted: %v", err)
	}
}
