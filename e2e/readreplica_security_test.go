package e2e

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadReplicaKeepsItsOwnSecurity: a read replica serving SASL with
// the authorizer on, over a plaintext primary's bucket. Its users are its
// own — a user made on the primary cannot log in to it — its
// administrator reads what the primary wrote, and a user of its own is
// refused until the replica's ACLs let it read.
func TestReadReplicaKeepsItsOwnSecurity(t *testing.T) {
	bin := strataBinary(t)
	bucket := "file://" + filepath.Join(t.TempDir(), "bucket")
	primary := startProcNodeArgs(t, nil, []string{"--object-store", bucket}, bin, t.TempDir(), freeAddr(t), freeAddr(t),
		"remote.log.segment.upload.max.interval.ms=500", "remote.log.manager.task.interval.ms=100")
	createTopic(t, primary.kafkaAddr, "archive", 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pcl := newClient(t, primary.kafkaAddr, kgo.DefaultProduceTopic("archive"))
	for i := range 20 {
		if err := pcl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	padm := kadm.NewClient(pcl)
	if _, err := padm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "primary-user", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "pp"}}); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	pw := writeSecret(t, t.TempDir(), "reader.pw", "reader-pw")
	startProcNodeArgs(t, nil, []string{"--read-replica-of", bucket, "--listeners", "SASL_PLAINTEXT://" + addr,
		"--sasl-enabled-mechanisms", "SCRAM-SHA-512", "--bootstrap-scram-user", "reader", "--bootstrap-scram-password-file", pw,
		"--authorizer", "--super-users", "User:reader"}, bin, t.TempDir(), addr, freeAddr(t),
		"remote.log.read.replica.follow.interval.ms=300")
	as := func(user, pass string, opts ...kgo.Opt) *kgo.Client {
		return newClient(t, addr, append([]kgo.Opt{kgo.SASL(scramMech(user, pass, true)), kgo.RequestRetries(2), kgo.RetryTimeout(5 * time.Second)}, opts...)...)
	}
	if err := as("primary-user", "pp").Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("the primary's user on the replica: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	radm := kadm.NewClient(as("reader", "reader-pw"))
	if _, err := radm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "analyst", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "ap"}}); err != nil {
		t.Fatal(err)
	}
	readAll := func(cl *kgo.Client) (int, error) {
		n := 0
		for n < 20 {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				return n, err
			}
			n += fs.NumRecords()
		}
		return n, nil
	}
	// The administrator reads what the primary uploaded, once mirrored.
	reader := as("reader", "reader-pw", kgo.ConsumeTopics("archive"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if n, err := readAll(reader); err != nil {
		t.Fatalf("the replica's administrator read %d: %v", n, err)
	}
	analyst := func() *kgo.Client {
		return as("analyst", "ap", kgo.ConsumeTopics("archive"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	}
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	fs := analyst().PollFetches(actx)
	acancel()
	if err := fs.Err0(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("analyst without ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	res, err := radm.CreateACLs(ctx, kadm.NewACLs().Allow("User:analyst").Topics("archive").Operations(kadm.OpRead, kadm.OpDescribe))
	if err != nil || res[0].Err != nil {
		t.Fatalf("ACL on the replica: %v %+v", err, res)
	}
	if n, err := readAll(analyst()); err != nil {
		t.Fatalf("analyst with READ read %d: %v", n, err)
	}
}
