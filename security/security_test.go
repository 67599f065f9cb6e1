package security

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/xdg-go/pbkdf2"
)

func TestParseListeners(t *testing.T) {
	pm, err := ParseProtocolMap("internal:SASL_SSL, EXT:ssl")
	if err != nil {
		t.Fatal(err)
	}
	ls, err := ParseListeners("listeners", "PLAINTEXT://127.0.0.1:9092,INTERNAL://:9093,ext://[::1]:9094", pm)
	if err != nil {
		t.Fatal(err)
	}
	want := []Listener{{"PLAINTEXT", Plaintext, "127.0.0.1", 9092}, {"INTERNAL", SASLSSL, "", 9093}, {"EXT", SSL, "::1", 9094}}
	for i := range want {
		if ls[i] != want[i] {
			t.Fatalf("listener %d: %+v, want %+v", i, ls[i], want[i])
		}
	}
	if got := ls[2].String(); got != "EXT://[::1]:9094" {
		t.Fatalf("String: %s", got)
	}
	for _, bad := range []string{"", "127.0.0.1:9092", "FOO://127.0.0.1:9092", "PLAINTEXT://127.0.0.1", "PLAINTEXT://h:99999",
		"PLAINTEXT://a:1,PLAINTEXT://b:2", "PLAINTEXT://a:1,SSL://b:1", "BAD NAME://a:1"} {
		if _, err := ParseListeners("listeners", bad, pm); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := ParseProtocolMap("A:TLS"); err == nil {
		t.Error("unknown protocol accepted")
	}
	if _, err := ParseListeners("listeners", "SSL://:0,SASL_SSL://:0", nil); err != nil {
		t.Errorf("two listeners on port 0 refused: %v", err)
	}
}

func TestAdvertise(t *testing.T) {
	bound := []Listener{{"A", Plaintext, "", 9092}, {"B", SSL, "10.0.0.1", 9093}}
	got, err := Advertise(bound, []Listener{{"B", SSL, "b.example", 19093}}, "host1")
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Addr() != "host1:9092" || got[1].Addr() != "b.example:19093" {
		t.Fatalf("advertised %v", got)
	}
	if _, err := Advertise(bound, []Listener{{"C", SSL, "c", 1}}, "h"); err == nil {
		t.Error("advertised listener without a bound one accepted")
	}
	if _, err := Advertise(bound, []Listener{{"A", Plaintext, "0.0.0.0", 9092}}, "h"); err == nil {
		t.Error("unspecified advertised host accepted")
	}
}

func TestPrincipalsAndMappingRules(t *testing.T) {
	if p, err := ParsePrincipal("User:alice"); err != nil || p != User("alice") || p.Name() != "alice" {
		t.Fatalf("ParsePrincipal: %v %v", p, err)
	}
	for _, bad := range []string{"alice", "User:", "Group:x"} {
		if _, err := ParsePrincipal(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	su, err := ParseSuperUsers("User:a; User:b,User:c")
	if err != nil || len(su) != 3 || su[2] != "User:c" {
		t.Fatalf("super users %v %v", su, err)
	}
	mr, err := ParseMappingRules(`RULE:^CN=([^,]+),OU=ServiceUsers,.*$/svc-$1/L, RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/, DEFAULT`)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dn, cn, want string }{
		{"CN=Kafka,OU=ServiceUsers,O=Example", "Kafka", "svc-kafka"},
		{"CN=bob,OU=eng,O=Example", "bob", "bob@eng"},
		{"CN=carol,O=Example", "carol", "carol"},
		{"O=Example", "", "O=Example"},
	} {
		if got := mr.Map(c.dn, c.cn); got != c.want {
			t.Errorf("Map(%q) = %q, want %q", c.dn, got, c.want)
		}
	}
	if def, _ := ParseMappingRules(""); def.Map("CN=x,O=y", "x") != "x" {
		t.Error("the default rule is not the common name")
	}
	if esc, err := ParseMappingRules(`RULE:^CN=(.*)$/a\/$1/U`); err != nil || esc.Map("CN=z", "z") != "A/Z" {
		t.Errorf("escaped slash: %v", err)
	}
	for _, bad := range []string{"RULE:x", "RULE:(/y/", "FOO", "DEFAULT DEFAULT"} {
		if _, err := ParseMappingRules(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

type creds map[string]ScramCredential

func (c creds) lookup(user, mech string) (ScramCredential, bool) {
	v, ok := c[user+"/"+mech]
	return v, ok
}

func TestScramExchangeWithARealClient(t *testing.T) {
	store := creds{}
	for _, mech := range ScramMechanisms {
		c, err := NewScramCredential(mech, "alice", "s3cret", DefaultScramIterations)
		if err != nil {
			t.Fatal(err)
		}
		store["alice/"+mech] = c
	}
	for _, mech := range ScramMechanisms {
		h, _ := hashOf(mech)
		for _, tc := range []struct {
			user, pass string
			ok         bool
		}{{"alice", "s3cret", true}, {"alice", "wrong", false}, {"mallory", "s3cret", false}} {
			cl, _ := h.NewClient(tc.user, tc.pass, "")
			conv := cl.NewConversation()
			ex, err := NewExchange(mech, store.lookup)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := conv.Step("")
			var failed error
			for !conv.Done() && failed == nil {
				out, err := ex.Step([]byte(msg))
				if err != nil {
					failed = err
					break
				}
				msg, err = conv.Step(string(out))
				if err != nil {
					failed = err
				}
			}
			if tc.ok && (failed != nil || !ex.Done() || ex.User() != "alice" || !conv.Valid()) {
				t.Fatalf("%s %s: failed %v done %v", mech, tc.user, failed, ex.Done())
			}
			if !tc.ok && (failed == nil || ex.Done()) {
				t.Fatalf("%s %s/%s authenticated", mech, tc.user, tc.pass)
			}
		}
	}
}

func TestPlainChecksTheStoredCredential(t *testing.T) {
	c, _ := NewScramCredential(MechScramSHA256, "bob", "pw", MinScramIterations)
	store := creds{"bob/" + MechScramSHA256: c}
	for _, tc := range []struct {
		msg string
		ok  bool
	}{{"\x00bob\x00pw", true}, {"bob\x00bob\x00pw", true}, {"\x00bob\x00nope", false}, {"eve\x00bob\x00pw", false},
		{"\x00carl\x00pw", false}, {"bob\x00pw", false}, {"", false}} {
		ex, _ := NewExchange(MechPlain, store.lookup)
		_, err := ex.Step([]byte(tc.msg))
		if (err == nil) != tc.ok || ex.Done() != tc.ok {
			t.Errorf("PLAIN %q: err %v", tc.msg, err)
		}
	}
}

func TestSaltedPasswordMatchesDerivation(t *testing.T) {
	salt := []byte("0123456789abcdef")
	want, err := DeriveScramCredential(MechScramSHA256, "u", "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	salted := pbkdf2.Key([]byte("pencil"), salt, 4096, sha256.Size, sha256.New)
	got, err := ScramFromSaltedPassword(MechScramSHA256, salt, salted, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !hmac.Equal(got.StoredKey, want.StoredKey) || !hmac.Equal(got.ServerKey, want.ServerKey) {
		t.Fatal("credential from the salted password differs from the derived one")
	}
	if _, err := ScramFromSaltedPassword(MechScramSHA256, salt, salted[:5], 4096); err == nil {
		t.Error("short salted password accepted")
	}
	if _, err := ScramFromSaltedPassword(MechScramSHA256, salt, salted, 100); err == nil {
		t.Error("100 iterations accepted")
	}
}

func TestParseMechanisms(t *testing.T) {
	if m, _ := ParseMechanisms(""); strings.Join(m, ",") != "SCRAM-SHA-256,SCRAM-SHA-512" {
		t.Fatalf("default mechanisms %v", m)
	}
	if m, err := ParseMechanisms("plain, SCRAM-SHA-512,PLAIN"); err != nil || strings.Join(m, ",") != "PLAIN,SCRAM-SHA-512" {
		t.Fatalf("%v %v", m, err)
	}
	if _, err := ParseMechanisms("GSSAPI"); err == nil {
		t.Fatal("GSSAPI accepted")
	}
}

func FuzzParsers(f *testing.F) {
	for _, s := range []string{"PLAINTEXT://127.0.0.1:9092", "A:SSL,B:SASL_SSL", `RULE:^CN=(.*)$/$1/L,DEFAULT`, "User:a;User:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pm, _ := ParseProtocolMap(s)
		_, _ = ParseListeners("listeners", s, pm)
		if mr, err := ParseMappingRules(s); err == nil {
			_ = mr.Map(s, s)
		}
		_, _ = ParseSuperUsers(s)
		_, _ = ParsePrincipal(s)
		_, _ = ParseMechanisms(s)
	})
}

// FuzzExchange feeds arbitrary client messages to every mechanism: an
// exchange may fail, never panic, and never authenticate without the
// password.
func FuzzExchange(f *testing.F) {
	c256, _ := NewScramCredential(MechScramSHA256, "u", "p", MinScramIterations)
	c512, _ := NewScramCredential(MechScramSHA512, "u", "p", MinScramIterations)
	store := creds{"u/" + MechScramSHA256: c256, "u/" + MechScramSHA512: c512}
	f.Add("n,,n=u,r=abc", "c=biws,r=abc,p=AAAA", uint8(0))
	f.Add("\x00u\x00x", "", uint8(2))
	f.Fuzz(func(t *testing.T, first, second string, which uint8) {
		mech := []string{MechScramSHA256, MechScramSHA512, MechPlain}[int(which)%3]
		ex, _ := NewExchange(mech, store.lookup)
		if _, err := ex.Step([]byte(first)); err != nil {
			return
		}
		_, _ = ex.Step([]byte(second))
		if ex.Done() && mech != MechPlain {
			t.Fatalf("%s authenticated from fuzzed messages %q %q", mech, first, second)
		}
		if ex.Done() && mech == MechPlain && !strings.HasSuffix(first, "\x00p") {
			t.Fatalf("PLAIN authenticated %q", first)
		}
	})
}
