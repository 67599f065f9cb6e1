package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/stratalog/strata/node"
)

// TestSecretsNeverLeave: the passwords and keys a node is given (from
// files) appear in none of its answers — DescribeConfigs of the broker
// with every config, DescribeUserScramCredentials, /metrics — nor in its
// log at debug level, through start, authentication (good and bad) and
// user changes.
func TestSecretsNeverLeave(t *testing.T) {
	dir := t.TempDir()
	const bootPW, interPW, userPW = "boot-S3cret-7f3a", "inter-S3cret-91bc", "alice-S3cret-0d2e"
	ca := newTestCA(t, "secrets-ca")
	f := ca.writeFiles(t, dir, "broker")
	keyPEM, err := os.ReadFile(f.key)
	if err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(string(keyPEM), "\n")[1] // a line of the key's base64
	logs := &syncBuffer{}
	n := startSecureNode(t, "", func(c *node.Config) {
		c.Security = node.SecurityConfig{Listeners: "SASL_SSL://127.0.0.1:0", TLSCertFile: f.cert, TLSKeyFile: f.key,
			SASLMechanisms: "SCRAM-SHA-512,PLAIN", BootstrapScramUser: "admin", BootstrapScramPasswordFile: writeSecret(t, dir, "boot.pw", bootPW),
			InterBrokerUser: "admin", InterBrokerPasswordFile: writeSecret(t, dir, "inter.pw", bootPW)}
		c.Settings = map[string]string{"connections.max.reauth.ms": "60000"}
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.AuditLogger = c.Logger
	})
	addr := n.ListenerAddr("SASL_SSL")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tlsOpt := kgo.DialTLSConfig(clientTLS(t, ca, ca, ""))
	adm := kadm.NewClient(newClient(t, addr, tlsOpt, kgo.SASL(scramMech("admin", bootPW, true))))
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: userPW}}); err != nil {
		t.Fatal(err)
	}
	// A wrong password, and PLAIN with the right one and a wrong one.
	for _, m := range []kgo.Opt{kgo.SASL(scramMech("alice", interPW, true)), kgo.SASL(plain.Auth{User: "alice", Pass: userPW}.AsMechanism()), kgo.SASL(plain.Auth{User: "alice", Pass: interPW}.AsMechanism())} {
		cl := newClient(t, addr, tlsOpt, m, kgo.RequestRetries(0), kgo.RetryTimeout(2*time.Second))
		_ = cl.Ping(ctx)
		cl.Close()
	}
	var answers strings.Builder
	configs, err := adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range configs {
		for _, c := range rc.Configs {
			answers.WriteString(c.Key + "=" + c.MaybeValue() + "\n")
			for _, s := range c.Synonyms {
				if s.Value != nil {
					answers.WriteString(*s.Value + "\n")
				}
			}
		}
	}
	users, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	answers.WriteString(formatUsers(users))
	resp, err := http.Get("http://" + n.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	answers.Write(body)
	if !strings.Contains(answers.String(), "sasl.server.max.receive.size") {
		t.Fatalf("DescribeConfigs did not list the broker's configs:\n%.2000s", answers.String())
	}
	for name, secret := range map[string]string{"bootstrap password": bootPW, "user password": userPW, "wrong password": interPW, "TLS key": keyBody} {
		if strings.Contains(answers.String(), secret) {
			t.Errorf("the %s is in the node's answers", name)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the %s is in the node's log", name)
		}
	}
	if !strings.Contains(logs.String(), "authentication failed") {
		t.Fatal("the log holds no failed authentication: the test did not exercise it")
	}
}

func formatUsers(users kadm.DescribedUserSCRAMs) string {
	var b strings.Builder
	for name, u := range users {
		b.WriteString(name)
		for _, ci := range u.CredInfos {
			b.WriteString(" " + ci.Mechanism.String())
		}
		b.WriteString("\n")
	}
	return b.String()
}
