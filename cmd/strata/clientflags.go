package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Shared plumbing for the client commands (topic, produce, consume): the
// --bootstrap flag, key=value parsing and the rendering of broker errors.

const (
	// defaultBootstrap is where the client commands look for a broker when
	// neither --bootstrap nor STRATA_BOOTSTRAP says otherwise.
	defaultBootstrap = "127.0.0.1:9092"
	// bootstrapEnv overrides defaultBootstrap.
	bootstrapEnv = "STRATA_BOOTSTRAP"
)

var (
	// errBadKeyValue is returned for a --config or --header argument that is
	// not of the form key=value.
	errBadKeyValue = errors.New("expected key=value")
	// errNoBootstrap is returned when the bootstrap list is empty.
	errNoBootstrap = errors.New("no bootstrap brokers given")
)

// clientOptions are the connection settings shared by every client command.
type clientOptions struct {
	// Bootstrap is the list of host:port seed brokers.
	Bootstrap []string
	// ClientID is sent to the broker with every request.
	ClientID string
	// LogLevel is the franz-go client's log level: none, error, warn, info
	// or debug. Logs go to LogOut (stderr when nil).
	LogLevel string
	LogOut   io.Writer
	// CommandConfig is a properties file with the client's security
	// settings under librdkafka's names, as kcat -F and Kafka's
	// --command-config take (clientsecurity.go).
	CommandConfig string
}

// bindClientFlags registers --bootstrap and --client-id on fs. The default
// bootstrap list comes from STRATA_BOOTSTRAP when it is set.
func bindClientFlags(fs *pflag.FlagSet, o *clientOptions) {
	def := defaultBootstrap
	if env := strings.TrimSpace(os.Getenv(bootstrapEnv)); env != "" {
		def = env
	}
	fs.StringSliceVar(&o.Bootstrap, "bootstrap", splitList(def),
		"comma-separated host:port seed brokers (env "+bootstrapEnv+")")
	fs.StringVar(&o.ClientID, "client-id", "strata-cli", "client id sent to the broker")
	fs.StringVar(&o.LogLevel, "log-level", "none", "client log level on stderr: none, error, warn, info or debug")
	fs.StringVar(&o.CommandConfig, "command-config", os.Getenv(commandConfigEnv),
		"properties file with security settings: security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, ssl.certificate.location, ssl.key.location (env "+commandConfigEnv+")")
}

// kgoOpts returns the franz-go options that connect to the cluster.
func (o clientOptions) kgoOpts() ([]kgo.Opt, error) {
	seeds := make([]string, 0, len(o.Bootstrap))
	for _, s := range o.Bootstrap {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, errNoBootstrap
	}
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...)}
	if o.CommandConfig != "" {
		sec, err := loadCommandConfig(o.CommandConfig)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sec...)
	}
	if o.ClientID != "" {
		opts = append(opts, kgo.ClientID(o.ClientID))
	}
	var level kgo.LogLevel
	switch strings.ToLower(o.LogLevel) {
	case "", "none":
		return opts, nil
	case "error":
		level = kgo.LogLevelError
	case "warn":
		level = kgo.LogLevelWarn
	case "info":
		level = kgo.LogLevelInfo
	case "debug":
		level = kgo.LogLevelDebug
	default:
		return nil, fmt.Errorf("--log-level %q: want none, error, warn, info or debug", o.LogLevel)
	}
	w := o.LogOut
	if w == nil {
		w = os.Stderr
	}
	opts = append(opts, kgo.WithLogger(kgo.BasicLogger(w, level, nil)))
	return opts, nil
}

// splitList splits a comma-separated list, dropping empty elements.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// keyValue is one parsed key=value argument.
type keyValue struct {
	Key   string
	Value string
}

// parseKeyValues parses key=value arguments, splitting at the first '='.
// Keys must be non-empty; values may be empty. what names the flag in errors.
func parseKeyValues(what string, args []string) ([]keyValue, error) {
	out := make([]keyValue, 0, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s %q: %w", what, a, errBadKeyValue)
		}
		out = append(out, keyValue{Key: strings.TrimSpace(k), Value: v})
	}
	return out, nil
}

// brokerError is a Kafka error returned by a broker for one resource,
// together with the free-text message the broker attached to it.
type brokerError struct {
	err error
	msg string
}

// newBrokerError wraps a per-resource error from a kadm response. It returns
// nil when err is nil.
func newBrokerError(err error, msg string) error {
	if err == nil {
		return nil
	}
	return &brokerError{err: err, msg: msg}
}

// Error renders "KAFKA_ERROR_NAME: description (broker message)".
func (e *brokerError) Error() string {
	s := e.err.Error()
	var ke *kerr.Error
	if errors.As(e.err, &ke) {
		s = ke.Message + ": " + ke.Description
	}
	if e.msg != "" && !strings.Contains(s, e.msg) {
		s += " (" + e.msg + ")"
	}
	return s
}

// Unwrap exposes the kerr value so callers can use errors.Is(err, kerr.X).
func (e *brokerError) Unwrap() error { return e.err }

// lookupTopic returns the topic's metadata, or the broker's error when the
// topic or one of the given partitions does not exist. Commands call it
// before producing or consuming so a missing topic fails at once instead of
// after the client's retries.
func lookupTopic(ctx context.Context, adm *kadm.Client, topic string, partitions []int32) (kadm.TopicDetail, error) {
	topics, err := adm.ListTopicsWithInternal(ctx, topic)
	if err != nil {
		return kadm.TopicDetail{}, fmt.Errorf("look up topic %q: %w", topic, err)
	}
	t, ok := topics[topic]
	if !ok {
		return t, fmt.Errorf("topic %q: %w", topic, newBrokerError(kerr.UnknownTopicOrPartition, ""))
	}
	if t.Err != nil {
		return t, fmt.Errorf("topic %q: %w", topic, newBrokerError(t.Err, ""))
	}
	for _, p := range partitions {
		if _, ok := t.Partitions[p]; !ok {
			return t, fmt.Errorf("topic %q partition %d (topic has %d): %w", topic, p, len(t.Partitions),
				newBrokerError(kerr.UnknownTopicOrPartition, ""))
		}
	}
	return t, nil
}
