package security

import (
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
)

// Principal is who a connection acts as, in Kafka's TYPE:NAME form. Only
// the User type exists (as in Kafka's default principal builder).
type Principal string

// Anonymous is the principal of a connection that did not authenticate:
// PLAINTEXT, or SSL without a client certificate.
const Anonymous Principal = "User:ANONYMOUS"

// User is the principal of a user name.
func User(name string) Principal { return Principal("User:" + name) }

// Name is the principal without its type.
func (p Principal) Name() string {
	_, name, _ := strings.Cut(string(p), ":")
	return name
}

// ParsePrincipal checks Kafka's TYPE:NAME form; the type must be User.
func ParsePrincipal(s string) (Principal, error) {
	typ, name, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || name == "" {
		return "", fmt.Errorf("principal %q: want User:NAME", s)
	}
	if typ != "User" {
		return "", fmt.Errorf("principal %q: type %q is not supported (only User)", s, typ)
	}
	return Principal("User:" + name), nil
}

// ParseSuperUsers parses Kafka's super.users, User:a;User:b (commas are
// accepted too, as principals cannot hold either).
func ParseSuperUsers(s string) ([]Principal, error) {
	var out []Principal
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == ',' }) {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		p, err := ParsePrincipal(item)
		if err != nil {
			return nil, fmt.Errorf("super-users: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// MappingRules turn a client certificate's subject into a user name, as
// Kafka's ssl.principal.mapping.rules: a list of
// RULE:pattern/replacement/[LU] tried in order against the subject's
// distinguished name (RFC 2253, e.g. "CN=alice,OU=eng,O=Example"), the
// first whose pattern matches the whole name wins; DEFAULT (and the end of
// the list) gives the subject's common name, or the whole name when it has
// none.
type MappingRules struct {
	rules []mappingRule
}

type mappingRule struct {
	def         bool
	re          *regexp.Regexp
	replacement string
	fold        byte // 'L', 'U' or 0
}

// ParseMappingRules parses the rules; the empty string is DEFAULT alone.
func ParseMappingRules(s string) (MappingRules, error) {
	var mr MappingRules
	rest := strings.TrimSpace(s)
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, "DEFAULT"):
			mr.rules = append(mr.rules, mappingRule{def: true})
			rest = rest[len("DEFAULT"):]
		case strings.HasPrefix(rest, "RULE:"):
			rest = rest[len("RULE:"):]
			pattern, after, ok := cutUnescaped(rest)
			if !ok {
				return MappingRules{}, fmt.Errorf("tls-principal-mapping-rules: rule %q: want RULE:pattern/replacement/[LU]", "RULE:"+rest)
			}
			replacement, after, ok := cutUnescaped(after)
			if !ok {
				return MappingRules{}, fmt.Errorf("tls-principal-mapping-rules: rule %q: want RULE:pattern/replacement/[LU]", "RULE:"+rest)
			}
			re, err := regexp.Compile("^(?:" + pattern + ")$")
			if err != nil {
				return MappingRules{}, fmt.Errorf("tls-principal-mapping-rules: pattern %q: %w", pattern, err)
			}
			r := mappingRule{re: re, replacement: replacement}
			if after != "" && (after[0] == 'L' || after[0] == 'U') {
				r.fold, after = after[0], after[1:]
			}
			mr.rules = append(mr.rules, r)
			rest = after
		default:
			return MappingRules{}, fmt.Errorf("tls-principal-mapping-rules: unexpected %q (want RULE:... or DEFAULT)", rest)
		}
		rest = strings.TrimSpace(rest)
		if rest != "" {
			if rest[0] != ',' {
				return MappingRules{}, fmt.Errorf("tls-principal-mapping-rules: unexpected %q after a rule (rules are separated by commas)", rest)
			}
			rest = strings.TrimSpace(rest[1:])
		}
	}
	return mr, nil
}

// cutUnescaped splits s at its first '/' not preceded by a backslash,
// unescaping "\/" in the part before it.
func cutUnescaped(s string) (before, after string, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '/':
			b.WriteByte('/')
			i++
		case s[i] == '/':
			return b.String(), s[i+1:], true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", false
}

// Principal maps a verified client certificate to its principal.
func (mr MappingRules) Principal(cert *x509.Certificate) Principal {
	return User(mr.Map(cert.Subject.String(), cert.Subject.CommonName))
}

// Map applies the rules to a distinguished name whose common name is cn.
func (mr MappingRules) Map(dn, cn string) string {
	for _, r := range mr.rules {
		if r.def {
			break
		}
		m := r.re.FindStringSubmatchIndex(dn)
		if m == nil {
			continue
		}
		out := string(r.re.ExpandString(nil, r.replacement, dn, m))
		switch r.fold {
		case 'L':
			out = strings.ToLower(out)
		case 'U':
			out = strings.ToUpper(out)
		}
		return out
	}
	if cn != "" {
		return cn
	}
	return dn
}
