package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSecurityThroughput measures, on one process node with a PLAINTEXT,
// an SSL and a SASL_SSL listener, produce and consume MB/s and the
// broker's CPU seconds per GB over each; SCRAM-SHA-512 authentications
// per second; and produce over SASL_PLAINTEXT with the authorizer off and
// on with 10,000 ACLs. Run with `make bench-security`
// (STRATA_SECURITY_BENCH=1); figures go to docs/benchmarks.md.
func TestSecurityThroughput(t *testing.T) {
	if os.Getenv("STRATA_SECURITY_BENCH") == "" {
		t.Skip("set STRATA_SECURITY_BENCH=1 (make bench-security)")
	}
	bin := strataBinary(t)
	dir := t.TempDir()
	ca := newTestCA(t, "bench-ca")
	f := ca.writeFiles(t, dir, "broker")
	pw := writeSecret(t, dir, "admin.pw", "bench-pw")
	run := func(t *testing.T, authorizer bool) (map[string]string, *procNode) {
		ports := map[string]string{"PLAINTEXT": freeAddr(t), "SSL": freeAddr(t), "SASL_SSL": freeAddr(t), "SASL_PLAINTEXT": freeAddr(t)}
		var ls []string
		for _, name := range []string{"SASL_PLAINTEXT", "PLAINTEXT", "SSL", "SASL_SSL"} {
			ls = append(ls, name+"://"+ports[name])
		}
		extra := []string{"--listeners", strings.Join(ls, ","), "--tls-cert-file", f.cert, "--tls-key-file", f.key,
			"--bootstrap-scram-user", "admin", "--bootstrap-scram-password-file", pw, "--sasl-enabled-mechanisms", "SCRAM-SHA-512"}
		if authorizer {
			extra = append(extra, "--authorizer", "--super-users", "User:admin", "--set", "allow.everyone.if.no.acl.found=false")
		}
		n := startProcNodeArgs(t, nil, extra, bin, t.TempDir(), "", freeAddr(t))
		return ports, n
	}
	tlsOpt := kgo.DialTLSConfig(clientTLS(t, ca, ca, ""))
	saslOpt := kgo.SASL(scramMech("admin", "bench-pw", true))
	const total = 512 << 20
	// Incompressible: each record a distinct slice of 64 MiB of random
	// bytes, sent uncompressed.
	const recSize = 1024
	bank := make([]byte, 64<<20)
	if _, err := rand.Read(bank); err != nil {
		t.Fatal(err)
	}
	value := func(i int) []byte { o := (i * recSize) % len(bank); return bank[o : o+recSize] }
	cpu := func(n *procNode) float64 {
		s := metricSamples(t, n.httpAddr, "process_cpu_seconds_total")
		if len(s) == 0 {
			t.Fatal("no process_cpu_seconds_total")
		}
		return s[0]
	}
	produce := func(t *testing.T, addr, topic string, opts ...kgo.Opt) float64 {
		cl := newClient(t, addr, append(opts, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond),
			kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<16), kgo.ProducerBatchCompression(kgo.NoCompression()))...)
		start := time.Now()
		var wg sync.WaitGroup
		var failed error
		var mu sync.Mutex
		for i := 0; i < total/recSize; i++ {
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Value: value(i)}, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
				wg.Done()
			})
		}
		wg.Wait()
		if failed != nil {
			t.Fatal(failed)
		}
		return float64(total) / (1 << 20) / time.Since(start).Seconds()
	}
	consume := func(t *testing.T, addr, topic string, opts ...kgo.Opt) float64 {
		cl := newClient(t, addr, append(opts, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(64<<20))...)
		start := time.Now()
		got := 0
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for got < total/recSize {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d", got)
			}
			got += fs.NumRecords()
		}
		return float64(total) / (1 << 20) / time.Since(start).Seconds()
	}

	t.Run("listeners", func(t *testing.T) {
		ports, n := run(t, false)
		for _, c := range []struct {
			name string
			opts []kgo.Opt
		}{{"PLAINTEXT", nil}, {"SSL", []kgo.Opt{tlsOpt}}, {"SASL_SSL", []kgo.Opt{tlsOpt, saslOpt}}} {
			topic := "bench-" + strings.ToLower(c.name)
			createTopicAuth(t, ports["SASL_PLAINTEXT"], topic, 1, saslOpt)
			c0 := cpu(n)
			pmb := produce(t, ports[c.name], topic, c.opts...)
			c1 := cpu(n)
			cmb := consume(t, ports[c.name], topic, c.opts...)
			c2 := cpu(n)
			gb := float64(total) / (1 << 30)
			t.Logf("%-9s produce %6.1f MB/s (broker %.2f CPU s/GB)  consume %6.1f MB/s (broker %.2f CPU s/GB)",
				c.name, pmb, (c1-c0)/gb, cmb, (c2-c1)/gb)
		}
		// SCRAM-SHA-512 handshakes: a fresh connection each.
		start, count := time.Now(), 0
		for time.Since(start) < 5*time.Second {
			cl, err := kgo.NewClient(kgo.SeedBrokers(ports["SASL_SSL"]), tlsOpt, saslOpt)
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			cl.Close()
			count++
		}
		t.Logf("SASL_SSL connect + TLS handshake + SCRAM-SHA-512 + ApiVersions/Metadata, one client at a time: %.0f/s", float64(count)/time.Since(start).Seconds())
	})

	t.Run("authorizer", func(t *testing.T) {
		for _, on := range []bool{false, true} {
			ports, _ := run(t, on)
			addr := ports["SASL_PLAINTEXT"]
			createTopicAuth(t, addr, "bench-acl", 1, saslOpt)
			adm := kadm.NewClient(newClient(t, addr, saslOpt))
			if _, err := adm.AlterUserSCRAMs(context.Background(), nil, []kadm.UpsertSCRAM{{User: "bench", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "b"}}); err != nil {
				t.Fatal(err)
			}
			if on {
				// The producer's own ACL among 10,000 others.
				if _, err := adm.CreateACLs(context.Background(), kadm.NewACLs().Allow("User:bench").ResourcePatternType(kadm.ACLPatternLiteral).
					Topics("bench-acl").Operations(kadm.OpWrite)); err != nil {
					t.Fatal(err)
				}
				b := kadm.NewACLs().ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite)
				var topics []string
				for i := 0; i < 10000; i++ {
					topics = append(topics, fmt.Sprintf("other-%05d", i))
				}
				b.Allow("User:someone").Topics(topics...)
				if _, err := adm.CreateACLs(context.Background(), b); err != nil {
					t.Fatal(err)
				}
				if d, err := adm.DescribeACLs(context.Background(), kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny)); err != nil || len(d[0].Described) < 10001 {
					t.Fatalf("ACLs stored: %v", err)
				}
			}
			mb := produce(t, addr, "bench-acl", kgo.SASL(scramMech("bench", "b", true)))
			t.Logf("authorizer %-5v produce over SASL_PLAINTEXT %6.1f MB/s", on, mb)
		}
	})
}

func createTopicAuth(t *testing.T, addr, topic string, partitions int32, opts ...kgo.Opt) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr, opts...))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
}
