package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/node"
)

// TestCLIUsersAndACLs drives `strata user` and `strata acl` with a
// --command-config file against a SASL_SSL node with the authorizer on:
// the administrator creates a user, who is refused until an ACL created
// from the CLI lets it write, and refused again once the ACL and then the
// user are deleted.
func TestCLIUsersAndACLs(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "strata-cli-ca")
	f := ca.writeFiles(t, dir, "broker")
	n := startSecureNode(t, "", func(c *node.Config) {
		c.Security = node.SecurityConfig{Listeners: "SASL_SSL://127.0.0.1:0", TLSCertFile: f.cert, TLSKeyFile: f.key,
			SASLMechanisms: "SCRAM-SHA-256,SCRAM-SHA-512", BootstrapScramUser: "admin",
			BootstrapScramPasswordFile: writeSecret(t, dir, "admin.pw", "root-pw"), Authorizer: true, SuperUsers: "User:admin"}
	})
	addr := n.ListenerAddr("SASL_SSL")
	props := filepath.Join(dir, "admin.properties")
	if err := os.WriteFile(props, []byte(fmt.Sprintf("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=admin\nsasl.password=root-pw\nssl.ca.location=%s\n", f.ca)), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		cmd := exec.Command(strataBinary(t), append(args, "--bootstrap", addr, "--timeout", "20s")...)
		cmd.Env = append(os.Environ(), "STRATA_COMMAND_CONFIG="+props)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	// Without credentials the CLI is refused with the broker's reason.
	plain := exec.Command(strataBinary(t), "topic", "list", "--bootstrap", addr, "--timeout", "5s")
	plain.Env = append(os.Environ(), "STRATA_COMMAND_CONFIG=")
	if out, err := plain.CombinedOutput(); err == nil {
		t.Fatalf("topic list without TLS or SASL succeeded:\n%s", out)
	}

	must("topic", "create", "orders", "--partitions", "1")
	must("user", "create", "alice", "--password-file", writeSecret(t, dir, "alice.pw", "alice-pw"))
	if out := must("user", "list"); !strings.Contains(out, "alice") || !strings.Contains(out, "SCRAM-SHA-256") || !strings.Contains(out, "SCRAM-SHA-512") || !strings.Contains(out, "admin") {
		t.Fatalf("user list:\n%s", out)
	}
	if out, err := cli("user", "create", "bob"); err == nil || !strings.Contains(out, "--password-file") {
		t.Fatalf("user create without a password file: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	alice := newClient(t, addr, kgo.DialTLSConfig(clientTLS(t, ca, ca, "")), kgo.SASL(scramMech("alice", "alice-pw", false)),
		kgo.RequestRetries(1), kgo.RetryTimeout(3*time.Second))
	produce := func() error {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		defer pcancel()
		return alice.ProduceSync(pctx, &kgo.Record{Topic: "orders", Value: []byte("v")}).FirstErr()
	}
	if err := produce(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice without ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	out := must("acl", "create", "--allow", "User:alice", "--operation", "write,describe", "--topic", "orders")
	if strings.Count(out, "created:") != 2 {
		t.Fatalf("acl create made %q", out)
	}
	if out, err := cli("acl", "create", "--allow", "User:alice", "--topic", "orders"); err == nil || !strings.Contains(out, "--operation") {
		t.Fatalf("acl create without operations: %v\n%s", err, out)
	}
	if err := produce(); err != nil {
		t.Fatalf("alice with WRITE on orders: %v", err)
	}
	out = must("acl", "list", "--topic", "orders")
	for _, want := range []string{"User:alice", "WRITE", "DESCRIBE", "ALLOW", "LITERAL"} {
		if !strings.Contains(out, want) {
			t.Fatalf("acl list lacks %s:\n%s", want, out)
		}
	}
	if out := must("acl", "list", "--allow", "User:nobody"); strings.Contains(out, "alice") {
		t.Fatalf("a principal filter matched alice's ACLs:\n%s", out)
	}
	if out, err := cli("acl", "delete", "--allow", "User:alice"); err == nil || !strings.Contains(out, "resource") {
		t.Fatalf("acl delete without a resource: %v\n%s", err, out)
	}
	if out := must("acl", "delete", "--topic", "orders", "--allow", "User:alice"); !strings.Contains(out, "deleted 2 ACLs") {
		t.Fatalf("acl delete:\n%s", out)
	}
	if err := produce(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice after her ACLs were deleted: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	must("user", "delete", "alice")
	if out := must("user", "list"); strings.Contains(out, "alice") {
		t.Fatalf("alice still listed:\n%s", out)
	}
	fresh := newClient(t, addr, kgo.DialTLSConfig(clientTLS(t, ca, ca, "")), kgo.SASL(scramMech("alice", "alice-pw", false)),
		kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))
	if err := fresh.Ping(ctx); err == nil || !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("deleted user connects: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
}
