package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// commandConfigEnv names a default --command-config file.
const commandConfigEnv = "STRATA_COMMAND_CONFIG"

// parseProperties reads key=value lines (# and ! start comments), as
// Java properties and librdkafka config files hold them.
func parseProperties(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want key=value", n)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, sc.Err()
}

// loadCommandConfig turns a properties file into kgo options: TLS for
// security.protocol SSL and SASL_SSL, SASL PLAIN or SCRAM for SASL_*.
func loadCommandConfig(path string) ([]kgo.Opt, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--command-config: %w", err)
	}
	props, err := parseProperties(raw)
	if err != nil {
		return nil, fmt.Errorf("--command-config %s: %w", path, err)
	}
	get := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := props[k]; ok {
				return v
			}
		}
		return ""
	}
	proto := strings.ToUpper(get("security.protocol"))
	var opts []kgo.Opt
	switch proto {
	case "", "PLAINTEXT", "SASL_PLAINTEXT":
	case "SSL", "SASL_SSL":
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if ca := get("ssl.ca.location"); ca != "" {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, fmt.Errorf("ssl.ca.location: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ssl.ca.location %s: no PEM certificate", ca)
			}
		}
		if cert, key := get("ssl.certificate.location"), get("ssl.key.location"); cert != "" || key != "" {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("ssl.certificate.location/ssl.key.location: %w", err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	default:
		return nil, fmt.Errorf("security.protocol %q: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", proto)
	}
	if strings.HasPrefix(proto, "SASL_") {
		user, pass := get("sasl.username"), get("sasl.password")
		if user == "" {
			return nil, fmt.Errorf("security.protocol %s needs sasl.username and sasl.password", proto)
		}
		switch mech := strings.ToUpper(get("sasl.mechanism", "sasl.mechanisms")); mech {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		case "", "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
		default:
			return nil, fmt.Errorf("sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mech)
		}
	}
	return opts, nil
}
