package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Modes a workload runs in.
const (
	ModeLive    = "live"
	ModeBacklog = "backlog"
	ModeMixed   = "mixed"
)

// Payload kinds.
const (
	PayloadRandom = "random" // fresh random bytes, optionally partly filler
	PayloadJSON   = "json"   // realistic, compressible JSON events
	PayloadFile   = "file"   // values read from payload files
)

// Key kinds.
const (
	KeysNone     = "none"
	KeysRandom   = "random"
	KeysDistinct = "distinct"
)

var (
	// ErrInvalidWorkload wraps every validation failure; errors.As with
	// *FieldError gives the field.
	ErrInvalidWorkload = errors.New("invalid workload")
)

// FieldError is a validation failure of one workload field, named as in the
// YAML file.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("workload field %q: %s", e.Field, e.Msg)
}

func (e *FieldError) Unwrap() error { return ErrInvalidWorkload }

// Workload is one load-test scenario. The YAML names are the flag names of
// `strata loadtest --set name=value`.
type Workload struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
	// Mode is live, backlog or mixed.
	Mode string `yaml:"mode" json:"mode"`
	// Bootstrap lists the seed brokers (host:port).
	Bootstrap []string `yaml:"bootstrap" json:"bootstrap"`

	// Topics is how many topics the run creates, each with Partitions
	// partitions and ReplicationFactor replicas (-1: broker default).
	Topics            int    `yaml:"topics" json:"topics"`
	Partitions        int    `yaml:"partitions" json:"partitions"`
	ReplicationFactor int    `yaml:"replication_factor" json:"replication_factor"`
	TopicPrefix       string `yaml:"topic_prefix" json:"topic_prefix"`
	// TopicConfigs are topic configs the run's topics are created with
	// (Kafka's names: flush.messages, min.insync.replicas, ...); on the
	// command line --set topic_configs.NAME=VALUE.
	TopicConfigs map[string]string `yaml:"topic_configs,omitempty" json:"topic_configs,omitempty"`
	// KeepTopics leaves the run's topics in place afterwards.
	KeepTopics bool `yaml:"keep_topics" json:"keep_topics"`

	// RecordSize is the value size in bytes (with payload kind file, the
	// mean size of the files, set when they are read); Payload says what
	// the values hold.
	RecordSize ByteSize `yaml:"record_size" json:"record_size"`
	Payload    Payload  `yaml:"payload" json:"payload"`
	// Keys is none, random or distinct (DistinctKeys different keys).
	Keys         string `yaml:"keys" json:"keys"`
	DistinctKeys int    `yaml:"distinct_keys" json:"distinct_keys"`

	// Producers is the number of producer clients. Consumers is the number
	// of consumers in each of ConsumerGroups groups; every group reads every
	// record.
	Producers      int `yaml:"producers" json:"producers"`
	Consumers      int `yaml:"consumers" json:"consumers"`
	ConsumerGroups int `yaml:"consumer_groups" json:"consumer_groups"`

	// Rate is the total target produce rate: records/s ("50000"),
	// bytes/s ("5MB/s", "10MiB/s") or "max".
	Rate Rate `yaml:"rate" json:"rate"`
	// Duration is the measured part of the run (after Warmup). In backlog
	// mode it bounds the replay; in mixed mode each of the two phases
	// (without and with replay) lasts Duration.
	Duration Duration `yaml:"duration" json:"duration"`
	Warmup   Duration `yaml:"warmup" json:"warmup"`
	// BacklogBytes is the backlog written before a replay (backlog and
	// mixed modes).
	BacklogBytes ByteSize `yaml:"backlog_bytes" json:"backlog_bytes"`
	// MaxBytes, when set, also stops producing after this many bytes.
	MaxBytes ByteSize `yaml:"max_bytes" json:"max_bytes"`
	// DrainTimeout bounds how long consumers may take to read what was
	// produced after producing stops.
	DrainTimeout Duration `yaml:"drain_timeout" json:"drain_timeout"`

	// Producer settings.
	Acks               string   `yaml:"acks" json:"acks"` // all, leader, none
	Compression        string   `yaml:"compression" json:"compression"`
	Linger             Duration `yaml:"linger" json:"linger"`
	BatchMaxBytes      ByteSize `yaml:"batch_max_bytes" json:"batch_max_bytes"`
	MaxBufferedRecords int      `yaml:"max_buffered_records" json:"max_buffered_records"`
	Idempotent         bool     `yaml:"idempotent" json:"idempotent"`
	Transactions       bool     `yaml:"transactions" json:"transactions"`
	// TransactionInterval is how often a transactional producer commits.
	TransactionInterval Duration `yaml:"transaction_interval" json:"transaction_interval"`

	// SampleInterval is the resolution of the time series.
	SampleInterval Duration `yaml:"sample_interval" json:"sample_interval"`
}

// DefaultWorkload returns the defaults every workload file starts from.
func DefaultWorkload() Workload {
	return Workload{
		Name:                "custom",
		Mode:                ModeLive,
		Bootstrap:           []string{"127.0.0.1:9092"},
		Topics:              1,
		Partitions:          16,
		ReplicationFactor:   -1,
		TopicPrefix:         "strata-loadtest",
		RecordSize:          1024,
		Payload:             Payload{Kind: PayloadRandom},
		Keys:                KeysNone,
		Producers:           1,
		Consumers:           1,
		ConsumerGroups:      1,
		Duration:            Duration(60 * time.Second),
		Warmup:              Duration(5 * time.Second),
		DrainTimeout:        Duration(30 * time.Second),
		Acks:                "all",
		Compression:         "none",
		Linger:              Duration(5 * time.Millisecond),
		BatchMaxBytes:       1 << 20,
		MaxBufferedRecords:  10_000,
		Idempotent:          true,
		TransactionInterval: Duration(100 * time.Millisecond),
		SampleInterval:      Duration(time.Second),
	}
}

// ParseWorkload decodes a YAML workload over the defaults and validates it.
// Unknown fields are errors.
func ParseWorkload(data []byte) (Workload, error) {
	w := DefaultWorkload()
	if err := decodeStrict(data, &w); err != nil {
		return Workload{}, err
	}
	if err := w.Validate(); err != nil {
		return Workload{}, err
	}
	return w, nil
}

// LoadWorkload reads and parses a workload file.
func LoadWorkload(path string) (Workload, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Workload{}, fmt.Errorf("read workload: %w", err)
	}
	w, err := ParseWorkload(data)
	if err != nil {
		return Workload{}, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// decodeStrict decodes YAML over w field by field, so every error names
// the field (and line) it came from. Unknown fields are errors.
func decodeStrict(data []byte, w *Workload) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%w: yaml: %s", ErrInvalidWorkload, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(doc.Content) == 0 {
		return nil // empty document: defaults
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("%w: yaml: line %d: a workload is a mapping of field: value", ErrInvalidWorkload, top.Line)
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := top.Content[i], top.Content[i+1]
		one := yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{key, val}}
		b, err := yaml.Marshal(&one)
		if err == nil {
			dec := yaml.NewDecoder(bytes.NewReader(b))
			dec.KnownFields(true)
			err = dec.Decode(w)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
			msg = lineRE.ReplaceAllString(strings.TrimSpace(msg), "")
			return fmt.Errorf("%w: line %d: field %q: %s", ErrInvalidWorkload, key.Line, key.Value, msg)
		}
	}
	return nil
}

// lineRE strips the line numbers of the one-field snippet decoded above.
var lineRE = regexp.MustCompile(`line \d+: `)

// Set overrides one field by its YAML name, e.g. Set("partitions", "64").
// The value is parsed as YAML, so lists ("[a:9092, b:9092]") and durations
// work as in the file. Set does not validate; call Validate afterwards.
func (w *Workload) Set(field, value string) error {
	field = strings.TrimSpace(field)
	if name, ok := strings.CutPrefix(field, "topic_configs."); ok && name != "" {
		if w.TopicConfigs == nil {
			w.TopicConfigs = map[string]string{}
		}
		w.TopicConfigs[name] = value
		return nil
	}
	field = strings.ReplaceAll(field, "-", "_")
	if field == "" {
		return &FieldError{Field: field, Msg: "empty field name"}
	}
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(value), &node); err != nil || len(node.Content) == 0 {
		node = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
	} else if node.Content[0].Kind == yaml.MappingNode {
		// "a: b" on a command line is a string, not a mapping.
		node = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value}
	} else {
		node = *node.Content[0]
	}
	if (field == "bootstrap" || field == "payload.files") && node.Kind == yaml.ScalarNode {
		// A comma-separated list is the usual shape on a command line.
		seq := yaml.Node{Kind: yaml.SequenceNode}
		for _, s := range strings.Split(value, ",") {
			seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.TrimSpace(s)})
		}
		node = seq
	}
	// A dotted name sets one field of a nested setting: payload.files.
	parts := strings.Split(field, ".")
	for i := len(parts) - 1; i > 0; i-- {
		inner := node
		node = yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[i]}, &inner,
		}}
	}
	doc := yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[0]}, &node,
	}}
	data, err := yaml.Marshal(&doc)
	if err != nil {
		return &FieldError{Field: field, Msg: err.Error()}
	}
	if err := decodeStrict(data, w); err != nil {
		return &FieldError{Field: field, Msg: fmt.Sprintf("cannot set to %q: %v", value, err)}
	}
	return nil
}

// Validate reports the first impossible setting, naming its field.
func (w *Workload) Validate() error {
	bad := func(field, format string, a ...any) error {
		return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	switch w.Mode {
	case ModeLive, ModeBacklog, ModeMixed:
	default:
		return bad("mode", "must be live, backlog or mixed (got %q)", w.Mode)
	}
	if len(w.Bootstrap) == 0 {
		return bad("bootstrap", "at least one host:port is required")
	}
	for _, b := range w.Bootstrap {
		if _, _, err := splitHostPort(b); err != nil {
			return bad("bootstrap", "%q is not host:port", b)
		}
	}
	if w.Topics < 1 || w.Topics > 10_000 {
		return bad("topics", "must be between 1 and 10000 (got %d)", w.Topics)
	}
	if w.Partitions < 1 || w.Partitions > 100_000 {
		return bad("partitions", "must be between 1 and 100000 (got %d)", w.Partitions)
	}
	if w.ReplicationFactor == 0 || w.ReplicationFactor < -1 {
		return bad("replication_factor", "must be -1 (broker default) or at least 1 (got %d)", w.ReplicationFactor)
	}
	if w.TopicPrefix == "" || strings.ContainsAny(w.TopicPrefix, "/\\ ") {
		return bad("topic_prefix", "must be a non-empty topic name prefix (got %q)", w.TopicPrefix)
	}
	if w.RecordSize < 0 || w.RecordSize > 64<<20 {
		return bad("record_size", "must be between 0 and 64MiB (got %d)", int64(w.RecordSize))
	}
	if err := w.Payload.validate(w.RecordSize); err != nil {
		return err
	}
	switch w.Keys {
	case KeysNone, KeysRandom:
		if w.DistinctKeys != 0 {
			return bad("distinct_keys", "only applies with keys: distinct (keys is %q)", w.Keys)
		}
	case KeysDistinct:
		if w.DistinctKeys < 1 {
			return bad("distinct_keys", "must be at least 1 with keys: distinct (got %d)", w.DistinctKeys)
		}
	default:
		return bad("keys", "must be none, random or distinct (got %q)", w.Keys)
	}
	if w.Producers < 1 || w.Producers > 1000 {
		return bad("producers", "must be between 1 and 1000 (got %d)", w.Producers)
	}
	if w.Consumers < 0 || w.Consumers > 1000 {
		return bad("consumers", "must be between 0 and 1000 (got %d)", w.Consumers)
	}
	if w.ConsumerGroups < 0 || w.ConsumerGroups > 100 {
		return bad("consumer_groups", "must be between 0 and 100 (got %d)", w.ConsumerGroups)
	}
	if (w.Consumers == 0) != (w.ConsumerGroups == 0) {
		return bad("consumers", "consumers (%d) and consumer_groups (%d) must both be zero or both positive", w.Consumers, w.ConsumerGroups)
	}
	if w.Rate.Value < 0 {
		return bad("rate", "must not be negative")
	}
	if w.Rate.Bytes && w.RecordSize == 0 && w.Payload.Kind != PayloadFile {
		return bad("rate", "a bytes/s rate needs a record_size above 0")
	}
	if w.Warmup < 0 {
		return bad("warmup", "must not be negative")
	}
	if w.DrainTimeout <= 0 {
		return bad("drain_timeout", "must be positive")
	}
	if w.MaxBytes < 0 {
		return bad("max_bytes", "must not be negative")
	}
	switch w.Mode {
	case ModeLive:
		if w.Duration <= 0 && w.MaxBytes == 0 {
			return bad("duration", "a live run must be bounded by duration or max_bytes")
		}
		if w.BacklogBytes != 0 {
			return bad("backlog_bytes", "only applies to backlog and mixed modes")
		}
	case ModeBacklog:
		if w.BacklogBytes <= 0 {
			return bad("backlog_bytes", "backlog mode needs the number of bytes to write (e.g. 1GiB)")
		}
		if w.ConsumerGroups == 0 {
			return bad("consumer_groups", "backlog mode needs at least one consumer group to replay")
		}
		if w.Duration <= 0 {
			return bad("duration", "backlog mode needs a duration bounding the replay")
		}
	case ModeMixed:
		if w.BacklogBytes <= 0 {
			return bad("backlog_bytes", "mixed mode needs the number of bytes to replay (e.g. 1GiB)")
		}
		if w.Rate.Value == 0 {
			return bad("rate", "mixed mode needs a fixed hot produce rate, not max")
		}
		if w.ConsumerGroups == 0 {
			return bad("consumer_groups", "mixed mode needs at least one consumer group for the hot stream")
		}
		if w.Duration <= 0 {
			return bad("duration", "mixed mode needs a positive duration per phase")
		}
	}
	if w.Rate.Value > 0 && w.RecordsPerSecond() < 0.01 {
		return bad("rate", "is below one record every 100s")
	}
	switch w.Acks {
	case "all", "-1", "leader", "1", "none", "0":
	default:
		return bad("acks", "must be all, leader or none (got %q)", w.Acks)
	}
	if _, err := compressionCodec(w.Compression); err != nil {
		return bad("compression", "%v", err)
	}
	if w.Idempotent && w.acksValue() != -1 {
		return bad("idempotent", "idempotent producers need acks: all (acks is %q)", w.Acks)
	}
	if w.Transactions && !w.Idempotent {
		return bad("transactions", "transactions need idempotent: true")
	}
	if w.Transactions && w.TransactionInterval <= 0 {
		return bad("transaction_interval", "must be positive with transactions on")
	}
	if w.Linger < 0 || w.Linger > Duration(time.Minute) {
		return bad("linger", "must be between 0 and 1m")
	}
	if w.BatchMaxBytes < 1024 || w.BatchMaxBytes > 256<<20 {
		return bad("batch_max_bytes", "must be between 1KiB and 256MiB (got %d)", int64(w.BatchMaxBytes))
	}
	if w.Payload.Kind != PayloadFile && int64(w.BatchMaxBytes) < int64(w.RecordSize)+recordOverhead {
		return bad("batch_max_bytes", "%d cannot hold one %d-byte record", int64(w.BatchMaxBytes), int64(w.RecordSize))
	}
	if w.MaxBufferedRecords < 1 {
		return bad("max_buffered_records", "must be at least 1")
	}
	if w.SampleInterval < Duration(100*time.Millisecond) {
		return bad("sample_interval", "must be at least 100ms")
	}
	return nil
}

// recordOverhead is a generous bound on the framing one record adds to a
// batch beyond its value (header, key, the timestamp header).
const recordOverhead = 128

// RecordsPerSecond is the target total rate in records/s, 0 for max.
func (w *Workload) RecordsPerSecond() float64 {
	if w.Rate.Value == 0 {
		return 0
	}
	if w.Rate.Bytes {
		return w.Rate.Value / float64(w.RecordSize)
	}
	return w.Rate.Value
}

func (w *Workload) acksValue() int {
	switch w.Acks {
	case "leader", "1":
		return 1
	case "none", "0":
		return 0
	}
	return -1
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return "", 0, fmt.Errorf("missing port")
	}
	port, err := strconv.Atoi(s[i+1:])
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("bad port")
	}
	return strings.Trim(s[:i], "[]"), port, nil
}

// Duration is a time.Duration written as "30s" in YAML and JSON.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts Go duration strings; a bare 0 is zero.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 2m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes the duration string (JSON).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads the duration string (JSON).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// ByteSize is a byte count written as 1024, "64KiB", "1GiB" or "1GB".
type ByteSize int64

// UnmarshalYAML parses a size.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize parses "1024", "64KiB", "1.5GB", "10MB".
func ParseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	num, unit := splitUnit(s)
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size like 1024, 64KiB or 1GB", s)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q", s, unit)
	}
	return int64(f * mult), nil
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

func splitUnit(s string) (string, string) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	return s[:i], strings.TrimSpace(s[i:])
}

// Rate is a target produce rate: Value records/s, or bytes/s when Bytes.
// Zero is "as fast as possible".
type Rate struct {
	Value float64
	Bytes bool
}

// ParseRate parses "max", "0", "50000" (records/s), "50000/s", "5MB/s" or
// "10MiB/s" (bytes/s).
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "max") {
		return Rate{}, nil
	}
	body := strings.TrimSuffix(s, "/s")
	num, unit := splitUnit(body)
	if unit == "" || strings.EqualFold(unit, "rec") || strings.EqualFold(unit, "records") {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || f < 0 {
			return Rate{}, fmt.Errorf("%q is not a rate like max, 50000 (records/s) or 5MB/s", s)
		}
		return Rate{Value: f}, nil
	}
	if !strings.HasSuffix(s, "/s") {
		return Rate{}, fmt.Errorf("%q: a byte rate needs /s, as in 5MB/s", s)
	}
	v, err := ParseByteSize(body)
	if err != nil {
		return Rate{}, fmt.Errorf("%q is not a rate like max, 50000 or 5MB/s", s)
	}
	return Rate{Value: float64(v), Bytes: true}, nil
}

func (r Rate) String() string {
	switch {
	case r.Value == 0:
		return "max"
	case r.Bytes:
		return strconv.FormatFloat(r.Value/1e6, 'f', -1, 64) + "MB/s"
	}
	return strconv.FormatFloat(r.Value, 'f', -1, 64) + "/s"
}

// UnmarshalYAML parses a rate.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseRate(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*r = v
	return nil
}

// MarshalYAML writes the rate string.
func (r Rate) MarshalYAML() (any, error) { return r.String(), nil }

// MarshalText writes the rate string (JSON).
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads the rate string (JSON).
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	*r = v
	return err
}
