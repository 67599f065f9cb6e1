package security

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
)

// Protocol is a Kafka security protocol: what a listener speaks on the
// wire before the Kafka protocol itself.
type Protocol string

// The four security protocols, with Kafka's names.
const (
	Plaintext     Protocol = "PLAINTEXT"
	SSL           Protocol = "SSL"
	SASLPlaintext Protocol = "SASL_PLAINTEXT"
	SASLSSL       Protocol = "SASL_SSL"
)

// TLS reports whether the protocol runs inside TLS.
func (p Protocol) TLS() bool { return p == SSL || p == SASLSSL }

// SASL reports whether the protocol authenticates with SASL before any
// other request.
func (p Protocol) SASL() bool { return p == SASLPlaintext || p == SASLSSL }

func parseProtocol(s string) (Protocol, error) {
	switch p := Protocol(strings.ToUpper(strings.TrimSpace(s))); p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, nil
	}
	return "", fmt.Errorf("unknown security protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", s)
}

// Listener is one Kafka listener: a name, the protocol it speaks and the
// address it binds (Host empty: every interface).
type Listener struct {
	Name     string
	Protocol Protocol
	Host     string
	Port     int
}

// Addr is the host:port to bind or dial.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// String is the listener in Kafka's NAME://host:port form.
func (l Listener) String() string { return l.Name + "://" + l.Addr() }

var listenerName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ParseProtocolMap parses Kafka's listener.security.protocol.map,
// NAME:PROTOCOL[,NAME:PROTOCOL...]. Names are upper-cased, as Kafka does.
func ParseProtocolMap(spec string) (map[string]Protocol, error) {
	out := map[string]Protocol{}
	for _, item := range splitList(spec) {
		name, proto, ok := strings.Cut(item, ":")
		name = strings.ToUpper(strings.TrimSpace(name))
		if !ok || !listenerName.MatchString(name) {
			return nil, fmt.Errorf("listener-security-protocol-map: %q: want NAME:PROTOCOL", item)
		}
		p, err := parseProtocol(proto)
		if err != nil {
			return nil, fmt.Errorf("listener-security-protocol-map: %s: %w", name, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("listener-security-protocol-map: %s given twice", name)
		}
		out[name] = p
	}
	return out, nil
}

// ParseListeners parses Kafka's listeners form, NAME://host:port[,...].
// A name is mapped to its protocol by protocols; a name that is itself a
// protocol's name needs no entry there (PLAINTEXT://, SASL_SSL://, ...).
// Names and bound ports must be unique (port 0 may repeat).
func ParseListeners(what, spec string, protocols map[string]Protocol) ([]Listener, error) {
	var out []Listener
	names, ports := map[string]bool{}, map[int]bool{}
	for _, item := range splitList(spec) {
		name, addr, ok := strings.Cut(item, "://")
		name = strings.ToUpper(strings.TrimSpace(name))
		if !ok || !listenerName.MatchString(name) {
			return nil, fmt.Errorf("%s: %q: want NAME://host:port", what, item)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", what, name, err)
		}
		pn, err := strconv.Atoi(port)
		if err != nil || pn < 0 || pn > 65535 {
			return nil, fmt.Errorf("%s: %s: port %q is not 0-65535", what, name, port)
		}
		proto, ok := protocols[name]
		if !ok {
			if proto, err = parseProtocol(name); err != nil {
				return nil, fmt.Errorf("%s: listener %s has no protocol in listener-security-protocol-map", what, name)
			}
		}
		if names[name] {
			return nil, fmt.Errorf("%s: listener %s given twice", what, name)
		}
		if pn != 0 && ports[pn] {
			return nil, fmt.Errorf("%s: port %d used by two listeners", what, pn)
		}
		names[name], ports[pn] = true, true
		out = append(out, Listener{Name: name, Protocol: proto, Host: host, Port: pn})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no listener given", what)
	}
	return out, nil
}

// Advertise pairs each listener with the address clients are told to use
// for it: the advertised listener of the same name when given, otherwise
// the bound address (with hostname when it binds every interface).
// Advertised listeners must name bound listeners and may not advertise an
// unspecified host or port 0.
func Advertise(bound, advertised []Listener, hostname string) ([]Listener, error) {
	byName := map[string]Listener{}
	for _, a := range advertised {
		byName[a.Name] = a
	}
	out := make([]Listener, len(bound))
	for i, b := range bound {
		a, ok := byName[b.Name]
		delete(byName, b.Name)
		if !ok {
			a = b
			if a.Host == "" || net.ParseIP(a.Host).IsUnspecified() {
				a.Host = hostname
			}
		} else if a.Host == "" || net.ParseIP(a.Host).IsUnspecified() || a.Port == 0 {
			return nil, fmt.Errorf("advertised-listeners: %s: advertise a reachable host and a port, not %s", a.Name, a.Addr())
		}
		out[i] = a
	}
	for name := range byName {
		return nil, fmt.Errorf("advertised-listeners: %s is not one of the listeners", name)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
