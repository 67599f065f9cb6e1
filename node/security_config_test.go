package node

import (
	"strings"
	"testing"
)

// TestSecurityConfigRefusals: security flags that cannot work together
// are refused at start with the flag names, before anything binds.
func TestSecurityConfigRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"SSL listener without a certificate", func(c *Config) { c.Security.Listeners = "SSL://127.0.0.1:0" }, "tls-cert-file"},
		{"bootstrap user without password", func(c *Config) { c.Security.BootstrapScramUser = "admin" }, "bootstrap-scram-password-file"},
		{"client auth without CA", func(c *Config) {
			c.Security.TLSClientAuth = "required"
		}, "tls-client-ca-file"},
		{"cluster TLS incomplete", func(c *Config) {
			c.Security.ClusterTLSCertFile = "a.pem"
			c.Cluster.Join = []string{"127.0.0.1:7946"}
		}, "go together"},
		{"cluster TLS on a lone node", func(c *Config) {
			c.Security.ClusterTLSCertFile, c.Security.ClusterTLSKeyFile, c.Security.ClusterTLSCAFile = "a.pem", "a.key", "ca.pem"
		}, "clustered"},
		{"SASL inter-broker listener without credentials", func(c *Config) {
			c.Security.Listeners = "SASL_PLAINTEXT://127.0.0.1:0"
		}, "inter-broker-user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir = t.TempDir()
			c.mut(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: %v, want an error naming %s", err, c.want)
			}
		})
	}
}
