package membership

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"
)

// Errors. Every error from this package wraps one of these.
var (
	ErrBadTags           = errors.New("membership: invalid tags")
	ErrBadConfig         = errors.New("membership: invalid config")
	ErrBadGossipKey      = errors.New("membership: invalid gossip key")
	ErrDuplicateNodeID   = errors.New("membership: duplicate node id")
	ErrClusterIDMismatch = errors.New("membership: incompatible cluster id")
	ErrJoin              = errors.New("membership: could not join any seed")
	ErrGossipKeyMismatch = errors.New("membership: gossip key mismatch")
	ErrClosed            = errors.New("membership: closed")
	ErrExpectMismatch    = errors.New("membership: bootstrap-expect mismatch")
	ErrNotCandidate      = errors.New("membership: not a bootstrap candidate")
)

// Config configures a Member.
type Config struct {
	// BindAddr is the gossip address (TCP and UDP), host:port. Port 0 picks
	// a free port. Default 127.0.0.1:7946.
	BindAddr string
	// AdvertiseAddr is the address other members reach us on; empty means
	// BindAddr's.
	AdvertiseAddr string
	// Tags are advertised to every member. Tags.NodeID names the member.
	Tags Tags
	// GossipKey, when set (16, 24 or 32 bytes), encrypts all gossip; every
	// member must hold the same key. See LoadGossipKey.
	GossipKey []byte

	// JoinRetryMin and JoinRetryMax bound the backoff between join
	// attempts while no seed answers.
	JoinRetryMin time.Duration
	JoinRetryMax time.Duration
	// LeaveTimeout bounds the graceful leave in Close.
	LeaveTimeout time.Duration

	// Failure detection (memberlist's knobs). The defaults are memberlist's
	// LAN profile; tests on loopback shorten them.
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	SuspicionMult  int
	GossipInterval time.Duration
	// ReapInterval, ReconnectTimeout and TombstoneTimeout are serf's: how
	// often failed and left members are reaped, how long a failed member
	// is retried before it is reaped, how long a left member is kept.
	ReapInterval     time.Duration
	ReconnectTimeout time.Duration
	TombstoneTimeout time.Duration

	// EventBuffer is the capacity of the Events channel.
	EventBuffer int
	// Logger receives this package's logs and serf's and memberlist's at
	// warn and above. Nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a Config for node 0 as a broker on 127.0.0.1:7946.
func DefaultConfig() Config {
	return Config{
		BindAddr:         "127.0.0.1:7946",
		Tags:             Tags{Role: RoleBroker},
		JoinRetryMin:     100 * time.Millisecond,
		JoinRetryMax:     5 * time.Second,
		LeaveTimeout:     5 * time.Second,
		ProbeInterval:    time.Second,
		ProbeTimeout:     500 * time.Millisecond,
		SuspicionMult:    4,
		GossipInterval:   200 * time.Millisecond,
		ReapInterval:     15 * time.Second,
		ReconnectTimeout: 24 * time.Hour,
		TombstoneTimeout: 24 * time.Hour,
		EventBuffer:      256,
		Logger:           slog.Default(),
	}
}

// Validate reports every problem with c, joined into one error.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := splitHostPort(c.BindAddr); err != nil {
		errs = append(errs, fmt.Errorf("bind addr: %w", err))
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitHostPort(c.AdvertiseAddr); err != nil {
			errs = append(errs, fmt.Errorf("advertise addr: %w", err))
		}
	}
	if err := c.Tags.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := checkKey(c.GossipKey); c.GossipKey != nil && err != nil {
		errs = append(errs, err)
	}
	if c.JoinRetryMin <= 0 || c.JoinRetryMax < c.JoinRetryMin {
		errs = append(errs, errors.New("join retry: need 0 < min <= max"))
	}
	if c.LeaveTimeout <= 0 {
		errs = append(errs, errors.New("leave timeout: must be > 0"))
	}
	if c.ProbeInterval <= 0 || c.ProbeTimeout <= 0 || c.GossipInterval <= 0 || c.SuspicionMult < 1 {
		errs = append(errs, errors.New("failure detection: intervals must be > 0 and suspicion mult >= 1"))
	}
	if c.ReapInterval <= 0 || c.ReconnectTimeout <= 0 || c.TombstoneTimeout <= 0 {
		errs = append(errs, errors.New("reap: intervals must be > 0"))
	}
	if c.EventBuffer < 1 {
		errs = append(errs, errors.New("event buffer: must be >= 1"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		return "", 0, err
	}
	return host, p, nil
}

func checkKey(k []byte) error {
	switch len(k) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: %d bytes, need 16, 24 or 32", ErrBadGossipKey, len(k))
}

// LoadGossipKey reads a gossip encryption key from a file holding it in
// standard base64, as `consul keygen` and `serf keygen` print it
// (surrounding whitespace ignored).
func LoadGossipKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadGossipKey, err)
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not base64: %w", ErrBadGossipKey, path, err)
	}
	if err := checkKey(k); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}
