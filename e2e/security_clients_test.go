package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/xdg-go/scram"

	"github.com/stratalog/strata/node"
)

// Real Kafka clients other than franz-go authenticating with SCRAM over
// SASL_SSL: sarama (SCRAM-SHA-512, with xdg-go/scram as its SCRAM client),
// confluent-kafka (librdkafka), kafka-python and kafkajs (SCRAM-SHA-256).
// Each test starts a node whose only Kafka listener is SASL_SSL, with a
// certificate from a CA the test makes, and a bootstrap administrator; the
// client's user is created with AlterUserScramCredentials, and every check
// from Go goes through that same listener with franz-go as the
// administrator. Clients that are not installed are skipped the way the
// plaintext client tests skip them.

// scramBroker is a node with a single SASL_SSL listener.
type scramBroker struct {
	*testNode
	addr   string
	ca     *testCA
	caFile string
	admin  []kgo.Opt // franz-go options for the bootstrap administrator
}

const scramAdminPassword = "admin-secret"

func startSCRAMBroker(t *testing.T) *scramBroker {
	t.Helper()
	dir := t.TempDir()
	ca := newTestCA(t, "strata-clients-ca")
	f := ca.writeFiles(t, dir, "broker")
	pw := writeSecret(t, dir, "admin.pw", scramAdminPassword)
	n := startSecureNode(t, "", func(c *node.Config) {
		c.Security = node.SecurityConfig{Listeners: "SASL_SSL://127.0.0.1:0", TLSCertFile: f.cert, TLSKeyFile: f.key,
			SASLMechanisms: "SCRAM-SHA-256,SCRAM-SHA-512", BootstrapScramUser: "admin", BootstrapScramPasswordFile: pw}
		c.Settings = groupSettings()
	})
	return &scramBroker{testNode: n, addr: n.ListenerAddr("SASL_SSL"), ca: ca, caFile: f.ca, admin: []kgo.Opt{
		kgo.DialTLSConfig(clientTLS(t, ca, ca, "")), kgo.SASL(scramMech("admin", scramAdminPassword, true)),
	}}
}

func (b *scramBroker) adminClient(t *testing.T) *kadm.Client {
	return kadm.NewClient(newClient(t, b.addr, b.admin...))
}

// addUser gives user SCRAM-SHA-256 and SCRAM-SHA-512 credentials for pass.
func (b *scramBroker) addUser(t *testing.T, user, pass string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := b.adminClient(t).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: user, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: pass},
		{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: pass},
	})
	if err != nil || res[user].Err != nil {
		t.Fatalf("creating SCRAM user %s: %v %+v", user, err, res)
	}
}

func (b *scramBroker) createTopic(t *testing.T, topic string, parts int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := b.adminClient(t).CreateTopic(ctx, parts, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
}

// checkLog reads topic over SASL_SSL as the administrator and checks the n
// records a script produced: record i on partition i%parts at offset
// i/parts with key k-i, the script's value and headers idx=i, src=src.
func (b *scramBroker) checkLog(t *testing.T, topic, src string, n, parts int) {
	t.Helper()
	recs := consumeN(t, b.addr, topic, n, b.admin...)
	seen := map[int]bool{}
	for _, r := range recs {
		var i int
		if _, err := fmt.Sscanf(string(r.Key), "k-%d", &i); err != nil {
			t.Fatalf("record key %q: %v", r.Key, err)
		}
		if i < 0 || i >= n || seen[i] {
			t.Fatalf("record %d outside [0,%d) or seen twice", i, n)
		}
		seen[i] = true
		if r.Partition != int32(i%parts) || r.Offset != int64(i/parts) || string(r.Value) != clientValue(src, i) {
			t.Fatalf("record %d at %d/%d: %q", i, r.Partition, r.Offset, r.Value)
		}
		if len(r.Headers) != 2 || r.Headers[0].Key != "idx" || string(r.Headers[0].Value) != fmt.Sprint(i) ||
			r.Headers[1].Key != "src" || string(r.Headers[1].Value) != src {
			t.Fatalf("record %d headers %+v", i, r.Headers)
		}
	}
}

// checkGroup checks over SASL_SSL that group committed want on topic and
// has no lag (checkGroupCaughtUp, through the secure listener).
func (b *scramBroker) checkGroup(t *testing.T, group, topic string, want map[int32]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lags, err := b.adminClient(t).Lag(ctx, group)
	if err != nil {
		t.Fatalf("lag %s: %v", group, err)
	}
	l := lags[group]
	if err := l.Error(); err != nil {
		t.Fatalf("lag %s: %v", group, err)
	}
	for p, off := range want {
		ml, ok := l.Lag.Lookup(topic, p)
		if !ok || ml.Err != nil || ml.Commit.At != off || ml.End.Offset != off || ml.Lag != 0 {
			t.Fatalf("group %s %s[%d]: %+v, want commit %d and no lag", group, topic, p, ml, off)
		}
	}
}

// scriptEnv is the environment a client script needs to reach b as user
// with mechanism over SASL_SSL, trusting only the test's CA.
func (b *scramBroker) scriptEnv(mechanism, user, pass string) []string {
	return []string{"BROKER=" + b.addr, "SECURITY_PROTOCOL=SASL_SSL", "SASL_MECHANISM=" + mechanism,
		"SASL_USERNAME=" + user, "SASL_PASSWORD=" + pass, "SSL_CA=" + b.caFile}
}

// runScriptRoundTrip has a client script, run through run with the user's
// credentials, produce count records to topic (parts partitions), checks
// them from Go, then has the script consume them in a group and commit, and
// checks the records it read (count, keys, values, headers, exactly once)
// and the group's commits.
func runScriptRoundTrip(t *testing.T, b *scramBroker, run func(phase string, extra ...string) []clientEvent,
	topic, group, src string, parts, count int) {
	t.Helper()
	ev := run("produce", fmt.Sprint("COUNT=", count), "FIRST=0")
	if acks := filterEvents(ev, "ack"); len(acks) == 0 {
		t.Fatalf("no delivery reports: %+v", ev)
	}
	b.checkLog(t, topic, src, count, parts)

	ev = run("consume", fmt.Sprint("EXPECT=", count), "GROUP="+group)
	checkClientRecords(t, filterEvents(ev, "record"), src, 0, count, parts)
	if c := filterEvents(ev, "consumed"); len(c) != 1 || c[0].Count != count {
		t.Fatalf("consume summary: %+v", c)
	}
	want := map[int32]int64{}
	for p := int32(0); p < int32(parts); p++ {
		want[p] = int64(count / parts)
	}
	checkCommittedEvents(t, ev, want)
	b.checkGroup(t, group, topic, want)
}

// checkLogins runs a client script's auth phase twice: with the right
// password (env good) it must get metadata, which shows the phase can
// succeed; with a wrong one (env bad) it must be refused, within 20 s, with
// an error whose name (the event's Key) is one of names.
func checkLogins(t *testing.T, good, bad []string, names []string, name string, args ...string) {
	t.Helper()
	if m := filterEvents(runClient(t, 45*time.Second, good, name, args...), "metadata"); len(m) != 1 {
		t.Fatalf("the right password: no metadata: %+v", m)
	}
	start := time.Now()
	ev := runClient(t, 45*time.Second, bad, name, args...)
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("wrong password: refused only after %v: %+v", took, ev)
	}
	for _, e := range ev {
		if e.Event == "metadata" {
			t.Fatalf("a wrong password was accepted: %+v", ev)
		}
	}
	for _, e := range filterEvents(ev, "refused") {
		for _, n := range names {
			if e.Key == n {
				t.Logf("wrong password refused: %s: %s", e.Key, e.Value)
				return
			}
		}
	}
	t.Fatalf("wrong password: got %+v, want a refusal with one of %v", ev, names)
}

// saramaSCRAM is sarama's SCRAMClient on xdg-go/scram, the way sarama's
// own examples do it. The conversation checks the server's final message,
// so the broker proves it holds the user's ServerKey.
type saramaSCRAM struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *saramaSCRAM) Begin(user, pass, authzID string) error {
	c, err := s.hash.NewClient(user, pass, authzID)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *saramaSCRAM) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *saramaSCRAM) Done() bool                            { return s.conv.Done() }

// saramaSCRAMConfig is saramaConfig over SASL_SSL with SCRAM-SHA-512.
func saramaSCRAMConfig(t *testing.T, b *scramBroker, user, pass string) *sarama.Config {
	cfg := saramaConfig()
	cfg.ClientID = "strata-e2e-sarama-scram"
	cfg.Net.TLS.Enable = true
	cfg.Net.TLS.Config = clientTLS(t, b.ca, b.ca, "")
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
	cfg.Net.SASL.User, cfg.Net.SASL.Password = user, pass
	cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: scram.SHA512} }
	cfg.Net.DialTimeout = 5 * time.Second
	return cfg
}

// saramaCollector is a consumer group handler that records every message
// it is given, marks it consumed, and signals once it has seen want.
type saramaCollector struct {
	mu   sync.Mutex
	got  []*sarama.ConsumerMessage
	want int
	done chan struct{}
}

func (c *saramaCollector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (c *saramaCollector) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (c *saramaCollector) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		s.MarkMessage(m, "")
		c.mu.Lock()
		c.got = append(c.got, m)
		if len(c.got) == c.want {
			close(c.done)
		}
		c.mu.Unlock()
	}
	return nil
}

// TestSecurityClientsSaramaSCRAM: sarama authenticates with SCRAM-SHA-512
// over SASL_SSL as a user made with AlterUserScramCredentials, produces
// keyed records with headers (acks=all), and a sarama consumer group reads
// each exactly once and commits; franz-go sees the same log and the
// commits. A wrong password and an unknown user get
// SASL_AUTHENTICATION_FAILED promptly, not a hang.
func TestSecurityClientsSaramaSCRAM(t *testing.T) {
	b := startSCRAMBroker(t)
	b.addUser(t, "sarama-user", "sarama-pw")
	const topic, group, parts, count = "sarama-scram", "sarama-scram-group", 3, 150
	b.createTopic(t, topic, parts)

	cfg := saramaSCRAMConfig(t, b, "sarama-user", "sarama-pw")
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = sarama.CompressionZSTD
	prod, err := sarama.NewSyncProducer([]string{b.addr}, cfg)
	if err != nil {
		t.Fatalf("sarama producer over SASL_SSL with SCRAM-SHA-512: %v", err)
	}
	var msgs []*sarama.ProducerMessage
	for i := range count {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % parts),
			Key: sarama.StringEncoder(fmt.Sprint("k-", i)), Value: sarama.StringEncoder(clientValue("sarama", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("idx"), Value: []byte(fmt.Sprint(i))}, {Key: []byte("src"), Value: []byte("sarama")}}})
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatalf("send over SASL_SSL: %v", err)
	}
	for i, m := range msgs {
		if m.Partition != int32(i%parts) || m.Offset != int64(i/parts) {
			t.Fatalf("record %d acknowledged at %d/%d", i, m.Partition, m.Offset)
		}
	}
	if err := prod.Close(); err != nil {
		t.Fatal(err)
	}
	b.checkLog(t, topic, "sarama", count, parts)

	ccfg := saramaSCRAMConfig(t, b, "sarama-user", "sarama-pw")
	ccfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	ccfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	ccfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{b.addr}, group, ccfg)
	if err != nil {
		t.Fatalf("sarama consumer group over SASL_SSL: %v", err)
	}
	h := &saramaCollector{want: count, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	select {
	case <-h.done:
	case err := <-errc:
		cancel()
		t.Fatalf("sarama consumer group: %v", err)
	case err := <-cg.Errors():
		cancel()
		t.Fatalf("sarama consumer group: %v", err)
	case <-time.After(45 * time.Second):
		cancel()
		h.mu.Lock()
		n := len(h.got)
		h.mu.Unlock()
		t.Fatalf("sarama consumer group read %d of %d records", n, count)
	}
	time.Sleep(500 * time.Millisecond) // a duplicate, if any, would arrive now
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	if err := cg.Close(); err != nil { // commits the marked offsets
		t.Fatalf("closing the sarama consumer group: %v", err)
	}
	h.mu.Lock()
	got := h.got
	h.mu.Unlock()
	if len(got) != count {
		t.Fatalf("sarama consumed %d records, want %d", len(got), count)
	}
	seen := map[int]bool{}
	for _, m := range got {
		var i int
		if _, err := fmt.Sscanf(string(m.Key), "k-%d", &i); err != nil || i < 0 || i >= count || seen[i] {
			t.Fatalf("record key %q unexpected or seen twice (%v)", m.Key, err)
		}
		seen[i] = true
		if m.Partition != int32(i%parts) || m.Offset != int64(i/parts) || string(m.Value) != clientValue("sarama", i) ||
			len(m.Headers) != 2 || string(m.Headers[0].Value) != fmt.Sprint(i) || string(m.Headers[1].Value) != "sarama" {
			t.Fatalf("record %d consumed as %d/%d %q headers %v", i, m.Partition, m.Offset, m.Value, m.Headers)
		}
	}
	want := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		want[p] = count / parts
	}
	b.checkGroup(t, group, topic, want)

	// Refusals: sarama's client bootstraps by asking a seed broker for
	// metadata; its error must carry the broker's
	// SASL_AUTHENTICATION_FAILED, and come back well within the dial and
	// read timeouts rather than after them.
	for _, c := range []struct{ what, user, pass string }{
		{"wrong password", "sarama-user", "not-the-password"},
		{"unknown user", "nobody", "sarama-pw"},
	} {
		bad := saramaSCRAMConfig(t, b, c.user, c.pass)
		bad.Metadata.Retry.Max = 0
		bad.Net.ReadTimeout = 20 * time.Second
		start := time.Now()
		cl, err := sarama.NewClient([]string{b.addr}, bad)
		took := time.Since(start)
		if err == nil {
			cl.Close()
			t.Fatalf("%s: sarama connected", c.what)
		}
		if !errors.Is(err, sarama.ErrSASLAuthenticationFailed) {
			t.Fatalf("%s: %v, want %v", c.what, err, sarama.ErrSASLAuthenticationFailed)
		}
		if took > 10*time.Second {
			t.Fatalf("%s: refused only after %v", c.what, took)
		}
		t.Logf("%s: refused in %v: %v", c.what, took.Round(time.Millisecond), err)
	}
}

// TestSecurityClientsConfluentKafkaSCRAM: confluent-kafka (librdkafka)
// authenticates with SCRAM-SHA-256 over SASL_SSL, verifying the broker's
// certificate against the test's CA and its 127.0.0.1 address, produces
// idempotently with zstd, consumes in a group and commits; a wrong
// password is refused with librdkafka's authentication error.
func TestSecurityClientsConfluentKafkaSCRAM(t *testing.T) {
	py := pythonWith(t, "confluent_kafka", "python3-confluent-kafka")
	script := clientScript(t, "py_confluent.py")
	b := startSCRAMBroker(t)
	b.addUser(t, "confluent-user", "confluent-pw")
	const topic, parts, count = "confluent-scram", 3, 150
	b.createTopic(t, topic, parts)
	env := append(b.scriptEnv("SCRAM-SHA-256", "confluent-user", "confluent-pw"), "TOPIC="+topic, fmt.Sprint("PARTITIONS=", parts))
	run := func(phase string, extra ...string) []clientEvent {
		return runClient(t, 60*time.Second, append(append([]string{}, env...), extra...), py, script, phase)
	}
	runScriptRoundTrip(t, b, run, topic, "confluent-scram-group", "confluent", parts, count)

	bad := append(b.scriptEnv("SCRAM-SHA-256", "confluent-user", "wrong-pw"), "TOPIC="+topic)
	checkLogins(t, env, bad, []string{"_AUTHENTICATION"}, py, script, "auth")
}

// TestSecurityClientsKafkaPythonSCRAM: kafka-python authenticates with
// SCRAM-SHA-256 over SASL_SSL (checking the certificate against the
// test's CA), produces gzip batches, consumes in a group and commits; a
// wrong password gets the connection closed during the SCRAM exchange.
func TestSecurityClientsKafkaPythonSCRAM(t *testing.T) {
	py := pythonWith(t, "kafka", "python3-kafka")
	script := clientScript(t, "py_kafka_python.py")
	b := startSCRAMBroker(t)
	b.addUser(t, "kafka-python-user", "kafka-python-pw")
	const topic, parts, count = "kafka-python-scram", 3, 150
	b.createTopic(t, topic, parts)
	env := append(b.scriptEnv("SCRAM-SHA-256", "kafka-python-user", "kafka-python-pw"), "TOPIC="+topic, fmt.Sprint("PARTITIONS=", parts))
	run := func(phase string, extra ...string) []clientEvent {
		return runClient(t, 60*time.Second, append(append([]string{}, env...), extra...), py, script, phase)
	}
	runScriptRoundTrip(t, b, run, topic, "kafka-python-scram-group", "kafka-python", parts, count)

	bad := append(b.scriptEnv("SCRAM-SHA-256", "kafka-python-user", "wrong-pw"), "TOPIC="+topic)
	// kafka-python speaks SaslHandshake v0, after which a broker refuses a
	// login only by closing the connection (as Kafka does): the script
	// reports that the close came in the SCRAM exchange, past TLS and the
	// mechanism handshake, and that no login succeeded.
	checkLogins(t, env, bad, []string{"ClosedDuringSCRAM"}, py, script, "auth")
}

// TestSecurityClientsKafkajsSCRAM: kafkajs authenticates with
// SCRAM-SHA-256 over SASL_SSL (trusting only the test's CA), creates the
// topic with its admin client, produces idempotently with gzip, consumes
// in a group and commits; a wrong password is refused with
// KafkaJSSASLAuthenticationError.
func TestSecurityClientsKafkajsSCRAM(t *testing.T) {
	nodeBin, jsEnv := kafkajsEnv(t)
	script := clientScript(t, "kafkajs.js")
	b := startSCRAMBroker(t)
	b.addUser(t, "kafkajs-user", "kafkajs-pw")
	const topic, parts, count = "kafkajs-scram", 3, 150
	env := append(append(jsEnv, b.scriptEnv("SCRAM-SHA-256", "kafkajs-user", "kafkajs-pw")...),
		"TOPIC="+topic, fmt.Sprint("PARTITIONS=", parts))
	run := func(phase string, extra ...string) []clientEvent {
		return runClient(t, 60*time.Second, append(append([]string{}, env...), extra...), nodeBin, script, phase)
	}
	if c := filterEvents(run("admin"), "created"); len(c) != 1 || c[0].Count != parts || c[0].Value != "true" {
		t.Fatalf("kafkajs admin over SASL_SSL: %+v", c)
	}
	runScriptRoundTrip(t, b, run, topic, "kafkajs-scram-group", "kafkajs", parts, count)

	bad := append(append(jsEnv, b.scriptEnv("SCRAM-SHA-256", "kafkajs-user", "wrong-pw")...), "TOPIC="+topic)
	checkLogins(t, env, bad, []string{"KafkaJSSASLAuthenticationError"}, nodeBin, script, "auth")
}
