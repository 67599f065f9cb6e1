package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	got, err := parseProperties([]byte("# comment\n! also\n\nsecurity.protocol = SASL_SSL\nsasl.password=a=b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got["security.protocol"] != "SASL_SSL" || got["sasl.password"] != "a=b" || len(got) != 2 {
		t.Fatalf("got %v", got)
	}
	if _, err := parseProperties([]byte("ok=1\nbroken\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a line without = is refused with its number: %v", err)
	}
}

func TestLoadCommandConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "client.properties")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		body    string
		opts    int
		wantErr string
	}{
		{"security.protocol=PLAINTEXT\n", 0, ""},
		{"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username=u\nsasl.password=p\n", 1, ""},
		{"security.protocol=sasl_plaintext\nsasl.mechanisms=SCRAM-SHA-256\nsasl.username=u\nsasl.password=p\n", 1, ""},
		{"security.protocol=SSL\n", 1, ""},
		{"security.protocol=SASL_SSL\nsasl.username=u\nsasl.password=p\n", 2, ""},
		{"security.protocol=KERBEROS\n", 0, "security.protocol"},
		{"security.protocol=SASL_SSL\n", 0, "sasl.username"},
		{"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\nsasl.username=u\n", 0, "GSSAPI"},
		{"security.protocol=SSL\nssl.ca.location=/nonexistent/ca.pem\n", 0, "ssl.ca.location"},
		{"security.protocol=SSL\nssl.certificate.location=/nonexistent/c.pem\n", 0, "ssl.certificate.location"},
	} {
		opts, err := loadCommandConfig(write(c.body))
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q: err %v, want one naming %s", c.body, err, c.wantErr)
			}
			continue
		}
		if err != nil || len(opts) != c.opts {
			t.Errorf("%q: %d options, %v; want %d", c.body, len(opts), err, c.opts)
		}
	}
	if _, err := loadCommandConfig(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing file is an error")
	}
}

func TestACLFlagsBuilder(t *testing.T) {
	for _, c := range []struct {
		f       aclFlags
		filter  bool
		wantErr string
	}{
		{aclFlags{Allow: []string{"User:a"}, Topics: []string{"t"}, Operations: "read,write", Pattern: "literal"}, false, ""},
		{aclFlags{Deny: []string{"User:a"}, Cluster: true, Operations: "idempotent-write", Pattern: "prefixed"}, false, ""},
		{aclFlags{Topics: []string{"t"}, Operations: "read", Pattern: "literal"}, false, "principal"},
		{aclFlags{Allow: []string{"User:a"}, Operations: "read", Pattern: "literal"}, false, "resource"},
		{aclFlags{Allow: []string{"User:a"}, Topics: []string{"t"}, Pattern: "literal"}, false, "operation"},
		{aclFlags{Allow: []string{"User:a"}, Topics: []string{"t"}, Operations: "any", Pattern: "literal"}, false, "operation"},
		{aclFlags{Allow: []string{"User:a"}, Topics: []string{"t"}, Operations: "read", Pattern: "match"}, false, "literal or prefixed"},
		{aclFlags{Allow: []string{"User:a"}, Topics: []string{"t"}, Operations: "fly", Pattern: "literal"}, false, "fly"},
		{aclFlags{Pattern: "any"}, true, ""},
		{aclFlags{Allow: []string{"User:a"}, Pattern: "match", Topics: []string{"t"}}, true, ""},
		{aclFlags{Pattern: "sideways"}, true, "--pattern"},
	} {
		b, err := c.f.builder(c.filter)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%+v: err %v, want one naming %s", c.f, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", c.f, err)
			continue
		}
		validate := b.ValidateCreate
		if c.filter {
			validate = b.ValidateFilter
		}
		if err := validate(); err != nil {
			t.Errorf("%+v: kadm refuses the builder: %v", c.f, err)
		}
	}
}
