package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/stratalog/strata/cluster"
	"github.com/stratalog/strata/node"
)

func init() { rootCmd.AddCommand(newNodeCmd()) }

// nodeFile is the YAML config file: the same names as the flags.
type nodeFile struct {
	NodeID              *int32            `yaml:"node-id"`
	DataDir             *string           `yaml:"data-dir"`
	KafkaAddr           *string           `yaml:"kafka-addr"`
	AdvertisedKafkaAddr *string           `yaml:"advertised-kafka-addr"`
	HTTPAddr            *string           `yaml:"http-addr"`
	ObjectStore         *string           `yaml:"object-store"`
	LogLevel            *string           `yaml:"log-level"`
	LogFormat           *string           `yaml:"log-format"`
	Set                 map[string]string `yaml:"set"`
	GossipAddr          *string           `yaml:"gossip-addr"`
	RaftAddr            *string           `yaml:"raft-addr"`
	Join                []string          `yaml:"join"`
	BootstrapExpect     *int              `yaml:"bootstrap-expect"`
	Rack                *string           `yaml:"rack"`
	Region              *string           `yaml:"region"`
	GossipKeyFile       *string           `yaml:"gossip-key-file"`
	ClaimBucket         *bool             `yaml:"claim-bucket"`
	ReadReplicaOf       *string           `yaml:"read-replica-of"`
	RestoreFromBucket   *bool             `yaml:"restore-from-bucket"`
	// The security flags, all strings but --authorizer.
	Listeners                  *string `yaml:"listeners"`
	AdvertisedListeners        *string `yaml:"advertised-listeners"`
	ProtocolMap                *string `yaml:"listener-security-protocol-map"`
	InterBrokerListener        *string `yaml:"inter-broker-listener-name"`
	TLSCertFile                *string `yaml:"tls-cert-file"`
	TLSKeyFile                 *string `yaml:"tls-key-file"`
	TLSClientCAFile            *string `yaml:"tls-client-ca-file"`
	TLSClientAuth              *string `yaml:"tls-client-auth"`
	TLSPrincipalMappingRules   *string `yaml:"tls-principal-mapping-rules"`
	SASLMechanisms             *string `yaml:"sasl-enabled-mechanisms"`
	Authorizer                 *bool   `yaml:"authorizer"`
	SuperUsers                 *string `yaml:"super-users"`
	OAuthBearerJWKSFile        *string `yaml:"sasl-oauthbearer-jwks-file"`
	OAuthBearerClockSkew       *string `yaml:"sasl-oauthbearer-clock-skew"`
	OAuthBearerIssuer          *string `yaml:"sasl-oauthbearer-expected-issuer"`
	OAuthBearerAudience        *string `yaml:"sasl-oauthbearer-expected-audience"`
	OAuthBearerSubClaimName    *string `yaml:"sasl-oauthbearer-sub-claim-name"`
	BootstrapScramUser         *string `yaml:"bootstrap-scram-user"`
	BootstrapScramPasswordFile *string `yaml:"bootstrap-scram-password-file"`
	InterBrokerUser            *string `yaml:"inter-broker-user"`
	InterBrokerPasswordFile    *string `yaml:"inter-broker-password-file"`
	HTTPPprof                  *bool   `yaml:"http-pprof"`
	HTTPTokenFile              *string `yaml:"http-token-file"`
	HTTPTLSCertFile            *string `yaml:"http-tls-cert-file"`
	HTTPTLSKeyFile             *string `yaml:"http-tls-key-file"`
	ClusterTLSCertFile         *string `yaml:"cluster-tls-cert-file"`
	ClusterTLSKeyFile          *string `yaml:"cluster-tls-key-file"`
	ClusterTLSCAFile           *string `yaml:"cluster-tls-ca-file"`
}

// securityFlags lists the string security flags with where each lands in
// the node's config, so the file, the environment and the flags agree.
func securityFlags(sc *node.SecurityConfig, nf *nodeFile) []struct {
	name string
	dst  *string
	file *string
	help string
} {
	return []struct {
		name string
		dst  *string
		file *string
		help string
	}{
		{"listeners", &sc.Listeners, nf.Listeners, "Kafka listeners, NAME://host:port[,...] (names PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL need no protocol map); replaces --kafka-addr"},
		{"advertised-listeners", &sc.AdvertisedListeners, nf.AdvertisedListeners, "addresses clients are told to use, per listener name (default: the bound ones)"},
		{"listener-security-protocol-map", &sc.ProtocolMap, nf.ProtocolMap, "NAME:PROTOCOL[,...] for listeners whose name is not a protocol"},
		{"inter-broker-listener-name", &sc.InterBrokerListener, nf.InterBrokerListener, "listener the nodes' own clients (replication, transaction markers) use (default: the first)"},
		{"tls-cert-file", &sc.TLSCertFile, nf.TLSCertFile, "PEM certificate (chain) of SSL and SASL_SSL listeners; reloaded on change and on SIGHUP"},
		{"tls-key-file", &sc.TLSKeyFile, nf.TLSKeyFile, "PEM private key of --tls-cert-file"},
		{"tls-client-ca-file", &sc.TLSClientCAFile, nf.TLSClientCAFile, "PEM CAs that sign accepted client certificates (and peers' server certificates)"},
		{"tls-client-auth", &sc.TLSClientAuth, nf.TLSClientAuth, "client certificates on TLS listeners: none, requested or required (mTLS; principal User:<CN>)"},
		{"tls-principal-mapping-rules", &sc.TLSPrincipalMappingRules, nf.TLSPrincipalMappingRules, "Kafka's ssl.principal.mapping.rules, RULE:pattern/replacement/[LU],...,DEFAULT (default: the certificate's CN)"},
		{"sasl-enabled-mechanisms", &sc.SASLMechanisms, nf.SASLMechanisms, "SASL mechanisms of SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (default: both SCRAM)"},
		{"sasl-oauthbearer-jwks-file", &sc.OAuthBearerJWKSFile, nf.OAuthBearerJWKSFile, "JSON Web Key Set whose RSA and EC keys sign OAUTHBEARER tokens (JWTs), chosen by kid; reloaded on change and on SIGHUP"},
		{"sasl-oauthbearer-clock-skew", &sc.OAuthBearerClockSkew, nf.OAuthBearerClockSkew, "clock difference allowed when checking a token's exp, nbf and iat: a duration or seconds (default 30s)"},
		{"sasl-oauthbearer-expected-issuer", &sc.OAuthBearerExpectedIssuer, nf.OAuthBearerIssuer, "the iss a token must have (default: any)"},
		{"sasl-oauthbearer-expected-audience", &sc.OAuthBearerExpectedAudience, nf.OAuthBearerAudience, "audiences, a,b,...: a token's aud must name one (default: any)"},
		{"sasl-oauthbearer-sub-claim-name", &sc.OAuthBearerSubClaimName, nf.OAuthBearerSubClaimName, "claim whose value is the principal, User:<value> (default sub)"},
		{"super-users", &sc.SuperUsers, nf.SuperUsers, "principals the authorizer always allows, User:a;User:b"},
		{"bootstrap-scram-user", &sc.BootstrapScramUser, nf.BootstrapScramUser, "user whose SCRAM credentials are stored when the cluster is first initialised (ignored afterwards)"},
		{"bootstrap-scram-password-file", &sc.BootstrapScramPasswordFile, nf.BootstrapScramPasswordFile, "file holding --bootstrap-scram-user's password"},
		{"inter-broker-user", &sc.InterBrokerUser, nf.InterBrokerUser, "user the node's own clients authenticate as on a SASL inter-broker listener (default: --bootstrap-scram-user)"},
		{"inter-broker-password-file", &sc.InterBrokerPasswordFile, nf.InterBrokerPasswordFile, "file holding --inter-broker-user's password"},
		{"http-token-file", &sc.HTTPTokenFile, nf.HTTPTokenFile, "file holding a bearer token the HTTP address requires for everything but /healthz and /readyz"},
		{"http-tls-cert-file", &sc.HTTPTLSCertFile, nf.HTTPTLSCertFile, "PEM certificate to serve the HTTP address over TLS (reloaded like --tls-cert-file)"},
		{"http-tls-key-file", &sc.HTTPTLSKeyFile, nf.HTTPTLSKeyFile, "PEM key of --http-tls-cert-file"},
		{"cluster-tls-cert-file", &sc.ClusterTLSCertFile, nf.ClusterTLSCertFile, "PEM certificate of this node on the raft address (mutual TLS between nodes; reloaded like --tls-cert-file)"},
		{"cluster-tls-key-file", &sc.ClusterTLSKeyFile, nf.ClusterTLSKeyFile, "PEM key of --cluster-tls-cert-file"},
		{"cluster-tls-ca-file", &sc.ClusterTLSCAFile, nf.ClusterTLSCAFile, "PEM CA of the cluster: a peer on the raft address must present a certificate it signed"},
	}
}

type nodeFlags struct {
	config    string
	nodeID    int32
	dataDir   string
	kafkaAddr string
	advAddr   string
	httpAddr  string
	objStore  string
	logLevel  string
	logFormat string
	set       []string

	gossipAddr, raftAddr, rack, region, gossipKeyFile string
	join                                              []string
	bootstrapExpect                                   int
	claimBucket, restoreFromBucket                    bool
	readReplicaOf                                     string
	sec                                               node.SecurityConfig
}

func newNodeCmd() *cobra.Command {
	def := node.DefaultConfig()
	f := &nodeFlags{}
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Start a Strata broker",
		Long: `Start a Strata broker.

Every flag can also be given in a YAML file (--config) under the same name, or
as an environment variable STRATA_<FLAG> (upper case, dashes as underscores;
STRATA_SET takes comma-separated key=value pairs). Flags win over the
environment, which wins over the file.

Broker settings use Kafka's names, e.g.
  --set log.segment.bytes=268435456 --set log.retention.ms=-1
  --set log.flush.interval.messages=10000   (acknowledge before fsync)
Unknown names and invalid values are refused at start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, level, format, restore, err := resolveNodeConfig(cmd.Flags(), f, os.Getenv)
			if err != nil {
				return err
			}
			cfg.Logger = newLogger(level, format)
			if restore {
				if err := restoreBeforeStart(cmd.Context(), cmd.ErrOrStderr(), cfg); err != nil {
					return err
				}
			}
			return runNode(cmd.Context(), cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "YAML config file with the same keys as the flags")
	fl.Int32Var(&f.nodeID, "node-id", def.NodeID, "this node's broker ID")
	fl.StringVar(&f.dataDir, "data-dir", def.DataDir, "directory for logs and metadata")
	fl.StringVar(&f.kafkaAddr, "kafka-addr", def.KafkaAddr, "Kafka protocol listen address")
	fl.StringVar(&f.advAddr, "advertised-kafka-addr", "", "address clients are told to connect to (default: the listen address)")
	fl.StringVar(&f.httpAddr, "http-addr", def.HTTPAddr, "HTTP address for /healthz, /readyz and /metrics (empty disables)")
	fl.StringVar(&f.objStore, "object-store", "", "cold tier URL: file:///dir, s3://bucket/prefix?..., gs://bucket/prefix, minio://host/bucket (default: the directory <data-dir>-objectstore beside the data dir)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fl.StringArrayVar(&f.set, "set", nil, "broker setting key=value under Kafka's name (repeatable)")
	fl.StringVar(&f.gossipAddr, "gossip-addr", cluster.DefaultGossipAddr, "serf gossip bind address (cluster mode)")
	fl.StringVar(&f.raftAddr, "raft-addr", cluster.DefaultRaftAddr, "raft address of the metadata quorum (cluster mode)")
	fl.StringSliceVar(&f.join, "join", nil, "gossip addresses of other nodes, host:port[,host:port...] (may include this node's own)")
	fl.IntVar(&f.bootstrapExpect, "bootstrap-expect", 0, "voter candidates that bootstrap the metadata quorum together (3 or 5)")
	fl.StringVar(&f.rack, "rack", "", "this node's rack, for rack-aware replica placement (same as --set broker.rack=...)")
	fl.StringVar(&f.region, "region", "", "this node's region, advertised in gossip")
	fl.StringVar(&f.gossipKeyFile, "gossip-key-file", "", "file holding a base64 key (16, 24 or 32 bytes) that encrypts gossip")
	fl.StringVar(&f.readReplicaOf, "read-replica-of", "", "serve another cluster's object store (URL) read-only: its topics, following new uploads; produce and admin writes are refused")
	fl.BoolVar(&f.claimBucket, "claim-bucket", false, "take over an object store another cluster has claimed (refused at start without it)")
	fl.BoolVar(&f.restoreFromBucket, "restore-from-bucket", false, "when the data directory holds no node, first rebuild it from the object store (strata restore), then start")
	for _, sf := range securityFlags(&f.sec, &nodeFile{}) {
		fl.StringVar(sf.dst, sf.name, "", sf.help)
	}
	fl.BoolVar(&f.sec.Authorizer, "authorizer", false, "authorize every request with Kafka's ACLs (--super-users bypass them)")
	fl.BoolVar(&f.sec.HTTPPprof, "http-pprof", false, "serve Go profiles on /debug/pprof/ at the HTTP address")
	return cmd
}

// resolveNodeConfig merges defaults, the config file, the environment and
// flags, in increasing precedence.
func resolveNodeConfig(fs *pflag.FlagSet, f *nodeFlags, getenv func(string) string) (node.Config, string, string, bool, error) {
	cfg := node.DefaultConfig()
	level, format := "info", "text"
	restore := false
	settings := map[string]string{}
	if f.config != "" {
		raw, err := os.ReadFile(f.config)
		if err != nil {
			return cfg, "", "", false, fmt.Errorf("config: %w", err)
		}
		var nf nodeFile
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		dec.KnownFields(true)
		if err := dec.Decode(&nf); err != nil && !errors.Is(err, io.EOF) {
			return cfg, "", "", false, fmt.Errorf("config %s: %w", f.config, err)
		}
		setIf(&cfg.NodeID, nf.NodeID)
		setIf(&cfg.DataDir, nf.DataDir)
		setIf(&cfg.KafkaAddr, nf.KafkaAddr)
		setIf(&cfg.AdvertisedKafkaAddr, nf.AdvertisedKafkaAddr)
		setIf(&cfg.HTTPAddr, nf.HTTPAddr)
		setIf(&cfg.ObjectStore, nf.ObjectStore)
		setIf(&level, nf.LogLevel)
		setIf(&format, nf.LogFormat)
		setIf(&cfg.Cluster.GossipAddr, nf.GossipAddr)
		setIf(&cfg.Cluster.RaftAddr, nf.RaftAddr)
		setIf(&cfg.Cluster.BootstrapExpect, nf.BootstrapExpect)
		setIf(&cfg.Cluster.Rack, nf.Rack)
		setIf(&cfg.Cluster.Region, nf.Region)
		setIf(&cfg.Cluster.GossipKeyFile, nf.GossipKeyFile)
		setIf(&cfg.ClaimBucket, nf.ClaimBucket)
		setIf(&cfg.ReadReplicaOf, nf.ReadReplicaOf)
		setIf(&restore, nf.RestoreFromBucket)
		for _, sf := range securityFlags(&cfg.Security, &nf) {
			setIf(sf.dst, sf.file)
		}
		setIf(&cfg.Security.Authorizer, nf.Authorizer)
		setIf(&cfg.Security.HTTPPprof, nf.HTTPPprof)
		if nf.Join != nil {
			cfg.Cluster.Join = nf.Join
		}
		for k, v := range nf.Set {
			settings[k] = v
		}
	}
	env := func(flag string) (string, bool) {
		v := getenv("STRATA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_")))
		return v, v != ""
	}
	if v, ok := env("node-id"); ok {
		id, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return cfg, "", "", false, fmt.Errorf("STRATA_NODE_ID: %q is not an integer", v)
		}
		cfg.NodeID = int32(id)
	}
	for flag, dst := range map[string]*string{"data-dir": &cfg.DataDir, "kafka-addr": &cfg.KafkaAddr,
		"advertised-kafka-addr": &cfg.AdvertisedKafkaAddr, "http-addr": &cfg.HTTPAddr, "log-level": &level, "log-format": &format,
		"object-store": &cfg.ObjectStore, "gossip-addr": &cfg.Cluster.GossipAddr, "raft-addr": &cfg.Cluster.RaftAddr,
		"rack": &cfg.Cluster.Rack, "region": &cfg.Cluster.Region, "gossip-key-file": &cfg.Cluster.GossipKeyFile,
		"read-replica-of": &cfg.ReadReplicaOf} {
		if v, ok := env(flag); ok {
			*dst = v
		}
	}
	for _, sf := range securityFlags(&cfg.Security, &nodeFile{}) {
		if v, ok := env(sf.name); ok {
			*sf.dst = v
		}
	}
	for flag, dst := range map[string]*bool{"claim-bucket": &cfg.ClaimBucket, "restore-from-bucket": &restore, "authorizer": &cfg.Security.Authorizer, "http-pprof": &cfg.Security.HTTPPprof} {
		if v, ok := env(flag); ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return cfg, "", "", false, fmt.Errorf("STRATA_%s: %q is not a boolean", strings.ToUpper(strings.ReplaceAll(flag, "-", "_")), v)
			}
			*dst = b
		}
	}
	if v, ok := env("join"); ok {
		cfg.Cluster.Join = splitList(v)
	}
	if v, ok := env("bootstrap-expect"); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return cfg, "", "", false, fmt.Errorf("STRATA_BOOTSTRAP_EXPECT: %q is not an integer", v)
		}
		cfg.Cluster.BootstrapExpect = n
	}
	if v, ok := env("set"); ok {
		for _, kv := range strings.Split(v, ",") {
			if err := putSetting(settings, kv, "STRATA_SET"); err != nil {
				return cfg, "", "", false, err
			}
		}
	}
	if fs.Changed("node-id") {
		cfg.NodeID = f.nodeID
	}
	for flag, pair := range map[string][2]*string{"data-dir": {&cfg.DataDir, &f.dataDir}, "kafka-addr": {&cfg.KafkaAddr, &f.kafkaAddr},
		"advertised-kafka-addr": {&cfg.AdvertisedKafkaAddr, &f.advAddr}, "http-addr": {&cfg.HTTPAddr, &f.httpAddr},
		"log-level": {&level, &f.logLevel}, "log-format": {&format, &f.logFormat}, "object-store": {&cfg.ObjectStore, &f.objStore},
		"gossip-addr": {&cfg.Cluster.GossipAddr, &f.gossipAddr}, "raft-addr": {&cfg.Cluster.RaftAddr, &f.raftAddr},
		"rack": {&cfg.Cluster.Rack, &f.rack}, "region": {&cfg.Cluster.Region, &f.region},
		"gossip-key-file": {&cfg.Cluster.GossipKeyFile, &f.gossipKeyFile}, "read-replica-of": {&cfg.ReadReplicaOf, &f.readReplicaOf}} {
		if fs.Changed(flag) {
			*pair[0] = *pair[1]
		}
	}
	if fs.Changed("join") {
		cfg.Cluster.Join = splitList(strings.Join(f.join, ","))
	}
	flagSec := securityFlags(&f.sec, &nodeFile{})
	for i, sf := range securityFlags(&cfg.Security, &nodeFile{}) {
		if fs.Changed(sf.name) {
			*sf.dst = *flagSec[i].dst
		}
	}
	if fs.Changed("authorizer") {
		cfg.Security.Authorizer = f.sec.Authorizer
	}
	if fs.Changed("http-pprof") {
		cfg.Security.HTTPPprof = f.sec.HTTPPprof
	}
	if cfg.Security.Listeners != "" && (fs.Changed("kafka-addr") || fs.Changed("advertised-kafka-addr")) {
		return cfg, "", "", false, errors.New("give --listeners (and --advertised-listeners) or --kafka-addr, not both")
	}
	if fs.Changed("claim-bucket") {
		cfg.ClaimBucket = f.claimBucket
	}
	if fs.Changed("restore-from-bucket") {
		restore = f.restoreFromBucket
	}
	if fs.Changed("bootstrap-expect") {
		cfg.Cluster.BootstrapExpect = f.bootstrapExpect
	}
	for _, kv := range f.set {
		if err := putSetting(settings, kv, "--set"); err != nil {
			return cfg, "", "", false, err
		}
	}
	cfg.Settings = settings
	if _, err := parseLevel(level); err != nil {
		return cfg, "", "", false, err
	}
	if format != "text" && format != "json" {
		return cfg, "", "", false, fmt.Errorf("log-format: %q must be text or json", format)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, "", "", false, err
	}
	return cfg, level, format, restore, nil
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

func putSetting(m map[string]string, kv, where string) error {
	kv = strings.TrimSpace(kv)
	if kv == "" {
		return nil
	}
	k, v, ok := strings.Cut(kv, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("%s %q: want key=value", where, kv)
	}
	m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log-level: %q must be debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(level, format string) *slog.Logger {
	l, _ := parseLevel(level)
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// runNode starts the node and runs it until SIGINT or SIGTERM, then shuts it
// down cleanly.
func runNode(ctx context.Context, cfg node.Config) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	keys := make([]string, 0, len(cfg.Settings))
	for k := range cfg.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	cfg.Logger.Info("starting node", "node_id", cfg.NodeID, "data_dir", cfg.DataDir, "settings", keys)
	// Process-wide, so here and not in node.Start (tests run many nodes in
	// one process).
	if err := node.RaiseFDLimit(cfg.Logger); err != nil {
		cfg.Logger.Warn("raising the file descriptor limit", "err", err)
	}
	n, err := node.Start(ctx, cfg)
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			cfg.Logger.Info("SIGHUP: reloading TLS certificates and the OAUTHBEARER key set")
			_ = n.ReloadCerts()
			continue
		case <-ctx.Done():
			cfg.Logger.Info("shutting down")
		case err := <-n.Fatal():
			cfg.Logger.Error("stopping", "err", err)
			_ = n.Close()
			return err
		}
		return n.Close()
	}
}
