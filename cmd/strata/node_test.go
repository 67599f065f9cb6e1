package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratalog/strata/internal/testjwt"
	"github.com/stratalog/strata/node"
)

func resolveFor(t *testing.T, args []string, env map[string]string) (string, error) {
	t.Helper()
	cmd := newNodeCmd()
	if err := cmd.ParseFlags(args); err != nil {
		return "", err
	}
	f := &nodeFlags{}
	// Re-bind: newNodeCmd keeps its own flag targets; read them back.
	fs := cmd.Flags()
	f.config, _ = fs.GetString("config")
	f.nodeID, _ = fs.GetInt32("node-id")
	f.dataDir, _ = fs.GetString("data-dir")
	f.kafkaAddr, _ = fs.GetString("kafka-addr")
	f.advAddr, _ = fs.GetString("advertised-kafka-addr")
	f.httpAddr, _ = fs.GetString("http-addr")
	f.logLevel, _ = fs.GetString("log-level")
	f.logFormat, _ = fs.GetString("log-format")
	f.set, _ = fs.GetStringArray("set")
	cfg, level, format, _, err := resolveNodeConfig(fs, f, func(k string) string { return env[k] })
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(cfg.DataDir + "|" + cfg.KafkaAddr + "|" + cfg.HTTPAddr + "|" + level + "|" + format)
	for _, k := range []string{"num.partitions", "log.retention.ms", "log.segment.bytes"} {
		b.WriteString("|" + k + "=" + cfg.Settings[k])
	}
	return b.String(), nil
}

func TestNodeConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "strata.yaml")
	yaml := "data-dir: /from/file\nkafka-addr: 127.0.0.1:7000\nlog-level: debug\nset:\n  num.partitions: \"4\"\n  log.retention.ms: \"1000\"\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := resolveFor(t, []string{"--config", file, "--kafka-addr", "127.0.0.1:7002", "--set", "log.segment.bytes=1048576"},
		map[string]string{"STRATA_KAFKA_ADDR": "127.0.0.1:7001", "STRATA_HTTP_ADDR": "127.0.0.1:7100", "STRATA_SET": "num.partitions=6"})
	if err != nil {
		t.Fatal(err)
	}
	want := "/from/file|127.0.0.1:7002|127.0.0.1:7100|debug|text|num.partitions=6|log.retention.ms=1000|log.segment.bytes=1048576"
	if got != want {
		t.Fatalf("resolved\n %s\nwant\n %s", got, want)
	}
}

func TestNodeConfigRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(badYAML, []byte("data-dri: /x\n"), 0o644)
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--set", "no.such.key=1"}, nil, "no.such.key"},
		{[]string{"--set", "log.segment.bytes=tiny"}, nil, "log.segment.bytes"},
		{[]string{"--set", "noequals"}, nil, "key=value"},
		{[]string{"--config", badYAML}, nil, "data-dri"},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, nil, "missing.yaml"},
		{nil, map[string]string{"STRATA_SET": "auto.create.topics.enable=maybe"}, "auto.create.topics.enable"},
		{nil, map[string]string{"STRATA_NODE_ID": "x"}, "STRATA_NODE_ID"},
		{[]string{"--kafka-addr", "nonsense"}, nil, "kafka-addr"},
		{[]string{"--log-format", "xml"}, nil, "log-format"},
	}
	for _, c := range cases {
		_, err := resolveFor(t, c.args, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: error %v, want one naming %q", c.args, c.env, err, c.want)
		}
	}
}

// TestNodeConfigOAuthBearer: the OAUTHBEARER flags come from the file,
// the environment and the flags alike, and enabling the mechanism
// without a key set is refused naming the flag.
func TestNodeConfigOAuthBearer(t *testing.T) {
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	testjwt.WriteJWKS(t, jwks, testjwt.NewEC(t, "k1"))
	file := filepath.Join(dir, "strata.yaml")
	yaml := "sasl-enabled-mechanisms: OAUTHBEARER,SCRAM-SHA-512\nsasl-oauthbearer-jwks-file: " + jwks +
		"\nsasl-oauthbearer-expected-issuer: https://file\nsasl-oauthbearer-sub-claim-name: client_id\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	resolve := func(args []string, env map[string]string) (node.SecurityConfig, error) {
		cmd := newNodeCmd()
		if err := cmd.ParseFlags(args); err != nil {
			return node.SecurityConfig{}, err
		}
		f := &nodeFlags{}
		fs := cmd.Flags()
		f.config, _ = fs.GetString("config")
		for _, sf := range securityFlags(&f.sec, &nodeFile{}) {
			*sf.dst, _ = fs.GetString(sf.name)
		}
		cfg, _, _, _, err := resolveNodeConfig(fs, f, func(k string) string { return env[k] })
		return cfg.Security, err
	}
	sc, err := resolve([]string{"--config", file, "--sasl-oauthbearer-expected-issuer", "https://flag"},
		map[string]string{"STRATA_SASL_OAUTHBEARER_EXPECTED_AUDIENCE": "strata,kafka", "STRATA_SASL_OAUTHBEARER_CLOCK_SKEW": "10s",
			"STRATA_SASL_OAUTHBEARER_SUB_CLAIM_NAME": "azp"})
	if err != nil {
		t.Fatal(err)
	}
	if sc.OAuthBearerJWKSFile != jwks || sc.OAuthBearerExpectedIssuer != "https://flag" || sc.OAuthBearerExpectedAudience != "strata,kafka" ||
		sc.OAuthBearerClockSkew != "10s" || sc.OAuthBearerSubClaimName != "azp" {
		t.Fatalf("resolved %+v", sc)
	}
	_, err = resolve([]string{"--sasl-enabled-mechanisms", "OAUTHBEARER"}, nil)
	if err == nil || !strings.Contains(err.Error(), "--sasl-oauthbearer-jwks-file") {
		t.Fatalf("OAUTHBEARER without a key set: %v", err)
	}
}
