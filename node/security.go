package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/security"
)

// SecurityConfig holds the security flags, under their flag names
// (docs/security.md). The zero value is one PLAINTEXT listener on
// Config.KafkaAddr with no authentication and no authorizer.
type SecurityConfig struct {
	Listeners           string // --listeners NAME://host:port,...
	AdvertisedListeners string // --advertised-listeners
	ProtocolMap         string // --listener-security-protocol-map NAME:PROTOCOL,...
	InterBrokerListener string // --inter-broker-listener-name

	TLSCertFile, TLSKeyFile, TLSClientCAFile string
	TLSClientAuth                            string // none, requested, required
	TLSPrincipalMappingRules                 string // ssl.principal.mapping.rules

	SASLMechanisms string // --sasl-enabled-mechanisms
	Authorizer     bool
	SuperUsers     string // User:a;User:b

	// OAUTHBEARER (in SASLMechanisms): tokens are JWTs signed by a key of
	// the JSON Web Key Set in OAuthBearerJWKSFile (reread when it
	// changes); exp, nbf and iat are checked with OAuthBearerClockSkew
	// (a duration, or seconds as Kafka's sasl.oauthbearer.clock.skew.seconds;
	// default 30s), iss and aud against the expected issuer and the
	// comma-separated audiences when set; the principal is
	// User:<OAuthBearerSubClaimName's value> (default sub).
	OAuthBearerJWKSFile         string
	OAuthBearerClockSkew        string
	OAuthBearerExpectedIssuer   string
	OAuthBearerExpectedAudience string
	OAuthBearerSubClaimName     string

	// BootstrapScramUser's SCRAM-SHA-256 and -512 credentials, with the
	// password read from BootstrapScramPasswordFile, are stored when the
	// cluster metadata is first initialised.
	BootstrapScramUser, BootstrapScramPasswordFile string
	// InterBrokerUser and InterBrokerPasswordFile are the credentials this
	// node's own clients (replication, transaction markers) authenticate
	// with on a SASL inter-broker listener; the bootstrap user's when
	// empty.
	InterBrokerUser, InterBrokerPasswordFile string

	// The HTTP address: HTTPPprof serves /debug/pprof; HTTPTokenFile holds
	// a bearer token required for everything but /healthz and /readyz;
	// HTTPTLSCertFile and HTTPTLSKeyFile serve it over TLS.
	HTTPPprof                       bool
	HTTPTokenFile                   string
	HTTPTLSCertFile, HTTPTLSKeyFile string

	// ClusterTLSCertFile, ClusterTLSKeyFile and ClusterTLSCAFile make the
	// raft address (raft, forwarded metadata writes, heartbeats) mutual
	// TLS: a peer must present a certificate the CA signed.
	ClusterTLSCertFile, ClusterTLSKeyFile, ClusterTLSCAFile string
}

// httpSecurity reads the HTTP token and TLS identity.
func (c SecurityConfig) httpSecurity() (token string, certs *security.Certs, err error) {
	if c.HTTPTokenFile != "" {
		if token, err = readSecret("http-token-file", c.HTTPTokenFile); err != nil {
			return "", nil, err
		}
	}
	if (c.HTTPTLSCertFile == "") != (c.HTTPTLSKeyFile == "") {
		return "", nil, errors.New("http-tls-cert-file and http-tls-key-file go together")
	}
	if c.HTTPTLSCertFile != "" {
		if certs, err = security.LoadCerts(security.TLSFiles{CertFile: c.HTTPTLSCertFile, KeyFile: c.HTTPTLSKeyFile}); err != nil {
			return "", nil, fmt.Errorf("http-tls: %w", err)
		}
	}
	return token, certs, nil
}

// securityPlan is a SecurityConfig checked and parsed, before anything
// is bound.
type securityPlan struct {
	listeners, advertised []security.Listener
	inter                 string // inter-broker listener name
	tls                   security.TLSFiles
	clusterTLS            security.TLSFiles // --cluster-tls-*; zero when the raft address is plaintext
	rules                 security.MappingRules
	mechs                 []string
	oauth                 *security.OAuthValidator // nil without OAUTHBEARER
	jwks                  *security.JWKS           // oauth's keys
	superUsers            map[security.Principal]bool
	authorizer            bool
	bootUser, bootPass    string
	interUser, interPass  string
}

func readSecret(what, file string) (string, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	s := strings.TrimRight(string(raw), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s %s is empty", what, file)
	}
	return s, nil
}

// plan checks the security flags; kafkaAddr and advertisedKafkaAddr are
// the --kafka-addr shorthand, used when no listener is given.
func (c SecurityConfig) plan(kafkaAddr, advertisedKafkaAddr string) (*securityPlan, error) {
	p := &securityPlan{superUsers: map[security.Principal]bool{}, authorizer: c.Authorizer}
	pm, err := security.ParseProtocolMap(c.ProtocolMap)
	if err != nil {
		return nil, err
	}
	spec, adv := c.Listeners, c.AdvertisedListeners
	if spec == "" {
		spec = "PLAINTEXT://" + kafkaAddr
		if adv == "" && advertisedKafkaAddr != "" {
			adv = "PLAINTEXT://" + advertisedKafkaAddr
		}
	}
	if p.listeners, err = security.ParseListeners("listeners", spec, pm); err != nil {
		return nil, err
	}
	if adv != "" {
		if p.advertised, err = security.ParseListeners("advertised-listeners", adv, pm); err != nil {
			return nil, err
		}
	}
	p.inter = strings.ToUpper(c.InterBrokerListener)
	if p.inter == "" {
		p.inter = p.listeners[0].Name
	}
	var interProto security.Protocol
	needTLS, needSASL := false, false
	for _, l := range p.listeners {
		needTLS = needTLS || l.Protocol.TLS()
		needSASL = needSASL || l.Protocol.SASL()
		if l.Name == p.inter {
			interProto = l.Protocol
		}
	}
	if interProto == "" {
		return nil, fmt.Errorf("inter-broker-listener-name: %s is not one of the listeners", p.inter)
	}
	auth, err := security.ParseClientAuth(c.TLSClientAuth)
	if err != nil {
		return nil, err
	}
	p.tls = security.TLSFiles{CertFile: c.TLSCertFile, KeyFile: c.TLSKeyFile, ClientCAFile: c.TLSClientCAFile, ClientAuth: auth}
	if needTLS && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
		return nil, errors.New("an SSL or SASL_SSL listener needs --tls-cert-file and --tls-key-file")
	}
	if auth != security.ClientAuthNone && c.TLSClientCAFile == "" {
		return nil, fmt.Errorf("tls-client-auth %s needs --tls-client-ca-file", auth)
	}
	if p.rules, err = security.ParseMappingRules(c.TLSPrincipalMappingRules); err != nil {
		return nil, err
	}
	if p.mechs, err = security.ParseMechanisms(c.SASLMechanisms); err != nil {
		return nil, err
	}
	if err := c.planOAuth(p); err != nil {
		return nil, err
	}
	sus, err := security.ParseSuperUsers(c.SuperUsers)
	if err != nil {
		return nil, err
	}
	for _, u := range sus {
		p.superUsers[u] = true
	}
	if (c.BootstrapScramUser == "") != (c.BootstrapScramPasswordFile == "") {
		return nil, errors.New("bootstrap-scram-user and bootstrap-scram-password-file go together")
	}
	if c.BootstrapScramUser != "" {
		p.bootUser = c.BootstrapScramUser
		if p.bootPass, err = readSecret("bootstrap-scram-password-file", c.BootstrapScramPasswordFile); err != nil {
			return nil, err
		}
	}
	if (c.InterBrokerUser == "") != (c.InterBrokerPasswordFile == "") {
		return nil, errors.New("inter-broker-user and inter-broker-password-file go together")
	}
	p.interUser, p.interPass = p.bootUser, p.bootPass
	if c.InterBrokerUser != "" {
		p.interUser = c.InterBrokerUser
		if p.interPass, err = readSecret("inter-broker-password-file", c.InterBrokerPasswordFile); err != nil {
			return nil, err
		}
	}
	if interProto.SASL() && p.interUser == "" {
		return nil, fmt.Errorf("inter-broker listener %s uses SASL: give --inter-broker-user and --inter-broker-password-file (or --bootstrap-scram-user), the node's own clients authenticate with them", p.inter)
	}
	if interProto.SASL() && !slices.ContainsFunc(p.mechs, func(m string) bool { return m != security.MechOAuthBearer }) {
		return nil, fmt.Errorf("inter-broker listener %s uses SASL: the node's own clients authenticate with SCRAM or PLAIN, add one to --sasl-enabled-mechanisms (they have no token for OAUTHBEARER)", p.inter)
	}
	_ = needSASL
	if c.ClusterTLSCertFile != "" || c.ClusterTLSKeyFile != "" || c.ClusterTLSCAFile != "" {
		if c.ClusterTLSCertFile == "" || c.ClusterTLSKeyFile == "" || c.ClusterTLSCAFile == "" {
			return nil, errors.New("cluster-tls-cert-file, cluster-tls-key-file and cluster-tls-ca-file go together")
		}
		p.clusterTLS = security.TLSFiles{CertFile: c.ClusterTLSCertFile, KeyFile: c.ClusterTLSKeyFile,
			ClientCAFile: c.ClusterTLSCAFile, ClientAuth: security.ClientAuthRequired}
	}
	return p, nil
}

// planOAuth checks the OAUTHBEARER flags and loads the key set when the
// mechanism is enabled; the flags without it are refused.
func (c SecurityConfig) planOAuth(p *securityPlan) error {
	if !slices.Contains(p.mechs, security.MechOAuthBearer) {
		if c.OAuthBearerJWKSFile != "" || c.OAuthBearerClockSkew != "" || c.OAuthBearerExpectedIssuer != "" ||
			c.OAuthBearerExpectedAudience != "" || c.OAuthBearerSubClaimName != "" {
			return errors.New("sasl-oauthbearer-* flags given, but OAUTHBEARER is not in --sasl-enabled-mechanisms")
		}
		return nil
	}
	if c.OAuthBearerJWKSFile == "" {
		return errors.New("sasl-enabled-mechanisms OAUTHBEARER needs --sasl-oauthbearer-jwks-file, the JSON Web Key Set whose keys sign the tokens")
	}
	skew := security.DefaultOAuthClockSkew
	if s := strings.TrimSpace(c.OAuthBearerClockSkew); s != "" {
		var err error
		if skew, err = parseSeconds(s); err != nil || skew < 0 {
			return fmt.Errorf("sasl-oauthbearer-clock-skew: %q must be a duration (30s) or a number of seconds", s)
		}
	}
	var aud []string
	for _, a := range strings.Split(c.OAuthBearerExpectedAudience, ",") {
		if a = strings.TrimSpace(a); a != "" {
			aud = append(aud, a)
		}
	}
	jwks, err := security.LoadJWKS(c.OAuthBearerJWKSFile)
	if err != nil {
		return err
	}
	p.jwks = jwks
	p.oauth = &security.OAuthValidator{Keys: jwks.Keys, ExpectedIssuer: strings.TrimSpace(c.OAuthBearerExpectedIssuer),
		ExpectedAudience: aud, ClockSkew: skew, SubClaim: strings.TrimSpace(c.OAuthBearerSubClaimName)}
	return nil
}

// parseSeconds reads a duration ("30s", "1m") or a bare number of seconds.
func parseSeconds(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) {
			return 0, errors.New("too large")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// kafkaListener is one bound Kafka listener.
type kafkaListener struct {
	spec security.Listener // as bound (the real port when 0 was asked)
	adv  security.Listener // as advertised
	ln   net.Listener
}

// secState is the node's live security: listeners, TLS identity, SASL
// mechanisms and the authorizer.
type secState struct {
	plan      *securityPlan
	listeners []*kafkaListener
	inter     *kafkaListener
	certs     *security.Certs // nil without TLS listeners
	serverTLS *tls.Config
	// clusterCerts is the raft address's identity (--cluster-tls-*); nil
	// when it is plaintext.
	clusterCerts *security.Certs
	// jwks are OAUTHBEARER's keys, reloaded with the certificates; nil
	// without OAUTHBEARER.
	jwks *security.JWKS
	// authz is the authorizer with the current ACLs; nil when --authorizer
	// is off (everything allowed).
	authz atomic.Pointer[security.Authorizer]
	// aclVersion is the ACL generation authz was built from; authzMu
	// serialises rebuilds so an older one never replaces a newer.
	aclVersion atomic.Uint64
	authzMu    sync.Mutex
	audit      *slog.Logger
	// pacer spaces the node's own clients' dials (dialpacer.go).
	pacer dialPacer
}

// bindListeners opens every listener and works out what each advertises.
func (n *Node) bindListeners(p *securityPlan) error {
	s := &secState{plan: p, audit: n.cfg.AuditLogger, jwks: p.jwks}
	if s.audit == nil {
		s.audit = n.log.With("log", "audit")
	}
	for _, l := range p.listeners {
		if !l.Protocol.TLS() || s.certs != nil {
			continue
		}
		certs, err := security.LoadCerts(p.tls)
		if err != nil {
			return err
		}
		s.certs, s.serverTLS = certs, certs.ServerConfig()
	}
	if p.clusterTLS.Configured() {
		certs, err := security.LoadCerts(p.clusterTLS)
		if err != nil {
			return fmt.Errorf("cluster-tls: %w", err)
		}
		s.clusterCerts = certs
	}
	var bound []security.Listener
	for _, l := range p.listeners {
		ln, err := net.Listen("tcp", l.Addr())
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listeners: %s: %w", l.Name, err)
		}
		b := l
		b.Port = ln.Addr().(*net.TCPAddr).Port
		bound = append(bound, b)
		s.listeners = append(s.listeners, &kafkaListener{spec: b, ln: ln})
	}
	host, _ := os.Hostname()
	adv, err := security.Advertise(bound, p.advertised, host)
	if err != nil {
		s.closeListeners()
		return err
	}
	for i, kl := range s.listeners {
		kl.adv = adv[i]
		if kl.spec.Name == p.inter {
			s.inter = kl
		}
	}
	if s.inter.spec.Protocol.TLS() && p.tls.ClientCAFile == "" {
		n.log.Warn("the inter-broker listener is TLS and no --tls-client-ca-file is given: this node's own clients (replication, transaction markers) check their peers' certificates against the system roots only; give the CA that signs the listeners' certificates", "listener", s.inter.spec.Name)
	}
	n.sec = s
	return nil
}

func (s *secState) closeListeners() {
	for _, l := range s.listeners {
		_ = l.ln.Close()
	}
}

// endpoints are this broker's advertised listeners, for its registration.
func (s *secState) endpoints() []meta.Endpoint {
	var out []meta.Endpoint
	for _, l := range s.listeners {
		out = append(out, meta.Endpoint{Name: l.adv.Name, Host: l.adv.Host, Port: int32(l.adv.Port), Protocol: string(l.adv.Protocol)})
	}
	return out
}

// listener finds a bound listener by name.
func (s *secState) listener(name string) *kafkaListener {
	for _, l := range s.listeners {
		if l.spec.Name == name {
			return l
		}
	}
	return nil
}

// ListenerAddr is the bound address of the named listener ("" if none).
func (n *Node) ListenerAddr(name string) string {
	if l := n.sec.listener(strings.ToUpper(name)); l != nil {
		return l.ln.Addr().String()
	}
	return ""
}

// scramLookup finds stored credentials for the SASL exchanges.
func (n *Node) scramLookup(user, mechanism string) (security.ScramCredential, bool) {
	return n.meta.ScramCredential(user, mechanism)
}

// initialScram derives the bootstrap user's credentials (stored only when
// the cluster is first initialised).
func (p *securityPlan) initialScram() ([]meta.ScramUpsert, error) {
	if p.bootUser == "" {
		return nil, nil
	}
	var out []meta.ScramUpsert
	for _, mech := range security.ScramMechanisms {
		c, err := security.NewScramCredential(mech, p.bootUser, p.bootPass, security.DefaultScramIterations)
		if err != nil {
			return nil, fmt.Errorf("bootstrap-scram-user: %w", err)
		}
		out = append(out, meta.ScramUpsert{User: p.bootUser, Cred: c})
	}
	return out, nil
}

// internalClientOpts are the kgo options of this node's own clients
// (replication fetches, transaction markers): they dial the inter-broker
// listener with its protocol, authenticating with the inter-broker
// credentials, and learn their peers' inter-broker addresses from it.
func (n *Node) internalClientOpts() []kgo.Opt {
	l := n.sec.inter
	opts := []kgo.Opt{kgo.SeedBrokers(l.ln.Addr().String())}
	var tlsCfg *tls.Config
	if l.spec.Protocol.TLS() {
		// No server name: the dialer checks each peer's certificate
		// against the host it dials.
		tlsCfg = n.sec.certs.ClientConfig("")
	}
	opts = append(opts, kgo.Dialer(n.sec.pacer.dialer(tlsCfg)))
	if l.spec.Protocol.SASL() {
		opts = append(opts, kgo.SASL(n.sec.interMechanism()))
	}
	return opts
}

// interMechanism is the strongest enabled mechanism, with the
// inter-broker credentials.
func (s *secState) interMechanism() sasl.Mechanism {
	p := s.plan
	switch {
	case slices.Contains(p.mechs, security.MechScramSHA512):
		return scram.Auth{User: p.interUser, Pass: p.interPass}.AsSha512Mechanism()
	case slices.Contains(p.mechs, security.MechScramSHA256):
		return scram.Auth{User: p.interUser, Pass: p.interPass}.AsSha256Mechanism()
	}
	return plain.Auth{User: p.interUser, Pass: p.interPass}.AsMechanism()
}

// tlsHandshakeTimeout bounds a TLS handshake of a new connection.
const tlsHandshakeTimeout = 10 * time.Second

// handshakeTLS wraps a connection of a TLS listener and runs the
// handshake; the principal is the mapped client certificate subject when
// the client sent one (verified against the client CAs), else anonymous.
func (n *Node) handshakeTLS(nc net.Conn) (net.Conn, security.Principal, error) {
	tc := tls.Server(nc, n.sec.serverTLS)
	ctx, cancel := context.WithTimeout(n.drainCtx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, "", err
	}
	st := tc.ConnectionState()
	if len(st.VerifiedChains) > 0 && len(st.PeerCertificates) > 0 {
		return tc, n.sec.plan.rules.Principal(st.PeerCertificates[0]), nil
	}
	return tc, security.Anonymous, nil
}

// ReloadCerts rereads the TLS files and the OAUTHBEARER key set now
// (SIGHUP): new connections use the new identity, authentications the
// new keys; established connections keep theirs. A failed reload keeps
// the old files' contents and is returned.
func (n *Node) ReloadCerts() error {
	var errs []error
	for _, c := range []*security.Certs{n.sec.certs, n.httpCerts, n.sec.clusterCerts} {
		if c != nil {
			errs = append(errs, n.reloadCerts(c))
		}
	}
	if n.sec.jwks != nil {
		errs = append(errs, n.reloadJWKS(n.sec.jwks))
	}
	return errors.Join(errs...)
}

func (n *Node) reloadJWKS(j *security.JWKS) error {
	changed, err := j.Reload()
	switch {
	case err != nil:
		n.metrics.jwksReloads.WithLabelValues("error").Inc()
		n.log.Error("reloading the OAUTHBEARER key set; keeping the previous keys", "err", err)
	case changed:
		n.metrics.jwksReloads.WithLabelValues("ok").Inc()
		n.log.Info("reloaded the OAUTHBEARER key set", "file", j.File(), "keys", j.Keys().Len(), "skipped", j.Keys().Skipped)
	}
	return err
}

func (n *Node) reloadCerts(certs *security.Certs) error {
	changed, err := certs.Reload()
	switch {
	case err != nil:
		n.metrics.certReloads.WithLabelValues("error").Inc()
		n.log.Error("reloading TLS certificates; keeping the previous ones", "err", err)
	case changed:
		n.metrics.certReloads.WithLabelValues("ok").Inc()
		leaf := certs.Leaf()
		n.log.Info("reloaded TLS certificates", "file", certs.Files().CertFile, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	}
	return err
}

// certWatchEvery is how often runCertWatch looks at the TLS files.
const certWatchEvery = 2 * time.Second

// runCertWatch reloads the TLS files and the key set when their contents
// change.
func (n *Node) runCertWatch() {
	defer n.loops.Done()
	t := time.NewTicker(certWatchEvery)
	defer t.Stop()
	for {
		select {
		case <-n.drain:
			return
		case <-t.C:
			_ = n.ReloadCerts()
		}
	}
}

// refreshAuthorizer rebuilds the authorizer when the ACLs changed (or on
// the first call); a no-op with --authorizer off.
func (n *Node) refreshAuthorizer() {
	if !n.sec.plan.authorizer {
		return
	}
	n.sec.authzMu.Lock()
	defer n.sec.authzMu.Unlock()
	gen := n.meta.ACLGeneration()
	if cur := n.sec.authz.Load(); cur != nil && n.sec.aclVersion.Load() == gen {
		return
	}
	az := &security.Authorizer{ACLs: security.NewACLIndex(n.meta.ACLs()), SuperUsers: n.sec.plan.superUsers,
		AllowIfNoACL: n.static.Bool("allow.everyone.if.no.acl.found")}
	n.sec.authz.Store(az)
	n.sec.aclVersion.Store(gen)
}

// awaitACLs waits (bounded by ctx) until this node's authorizer reflects
// the ACL change just committed, so a client sees its own change at once.
func (n *Node) awaitACLs(ctx context.Context) {
	if err := n.waitVisible(ctx, n.meta.Version()); err == nil {
		n.refreshAuthorizer()
	}
}
