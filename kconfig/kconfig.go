// Package kconfig defines Strata's broker settings and topic configs under
// Kafka's own names: their types, defaults, validation, and how a topic's
// effective value is resolved (topic override, then the broker setting, then
// the built-in default). It does no I/O and knows nothing about storage.
package kconfig

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Type is a config value's type, as Kafka's DescribeConfigs reports it.
type Type int8

// Config value types; the numbers are Kafka's ConfigType codes.
const (
	Bool     Type = 1
	String   Type = 2
	Int      Type = 3
	Short    Type = 4
	Long     Type = 5
	Double   Type = 6
	List     Type = 7
	Class    Type = 8
	Password Type = 9
)

// ErrUnknown is returned for a config name Strata does not know.
var ErrUnknown = errors.New("unknown config")

// ErrInvalid is returned for a value that does not parse or is out of range.
var ErrInvalid = errors.New("invalid config value")

// Def describes one config.
type Def struct {
	// Topic is the topic-level name ("retention.ms"); empty for broker-only settings.
	Topic string
	// Broker is the broker-level name ("log.retention.ms"); empty for topic-only configs.
	Broker string
	Type   Type
	// Default is the built-in default, in string form ("" with Nullable means null).
	Default  string
	Nullable bool
	// Min and Max bound numeric values (inclusive); ignored when both are 0.
	Min, Max int64
	// Enum lists the accepted values of a string or list config.
	Enum []string
	// Inert marks configs that are accepted, stored and reported but that
	// Strata does not act on yet.
	Inert bool
	Doc   string
}

// Name is the config's name in the given scope.
func (d *Def) Name(topic bool) string {
	if topic {
		return d.Topic
	}
	return d.Broker
}

// Check validates a value against the definition.
func (d *Def) Check(v string) error {
	name := d.Broker
	if name == "" {
		name = d.Topic
	}
	bad := func(why string) error { return fmt.Errorf("%w: %s=%q: %s", ErrInvalid, name, v, why) }
	switch d.Type {
	case Bool:
		if v != "true" && v != "false" {
			return bad("must be true or false")
		}
	case Int, Short, Long:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return bad("not an integer")
		}
		if d.Type == Int && (n < math.MinInt32 || n > math.MaxInt32) {
			return bad("out of int32 range")
		}
		if (d.Min != 0 || d.Max != 0) && (n < d.Min || n > d.Max) {
			return bad(fmt.Sprintf("must be between %d and %d", d.Min, d.Max))
		}
	case Double:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return bad("not a number")
		}
		if (d.Min != 0 || d.Max != 0) && (f < float64(d.Min) || f > float64(d.Max)) {
			return bad(fmt.Sprintf("must be between %d and %d", d.Min, d.Max))
		}
	case String, List:
		if len(d.Enum) > 0 {
			for _, part := range splitList(v, d.Type == List) {
				if !contains(d.Enum, part) {
					return bad("must be one of " + strings.Join(d.Enum, ", "))
				}
			}
		}
	}
	return nil
}

func splitList(v string, list bool) []string {
	if !list {
		return []string{v}
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

const (
	day  = int64(24 * 3600 * 1000)
	week = 7 * day
)

// defs is the full registry. Broker-level names follow Kafka's server
// properties; topic names follow Kafka's topic configs.
var defs = []*Def{
	{Broker: "num.partitions", Type: Int, Default: "1", Min: 1, Max: 100000, Doc: "partitions of an auto-created topic or a CreateTopics with -1"},
	{Broker: "default.replication.factor", Type: Short, Default: "1", Min: 1, Max: 32767, Doc: "replication factor of an auto-created topic or a CreateTopics with -1"},
	{Broker: "auto.create.topics.enable", Type: Bool, Default: "true", Doc: "create a topic when a Metadata request names an unknown one"},
	{Broker: "delete.topic.enable", Type: Bool, Default: "true", Doc: "allow DeleteTopics"},
	{Broker: "socket.request.max.bytes", Type: Int, Default: "104857600", Min: 1024, Max: math.MaxInt32, Doc: "largest request frame accepted; larger ones close the connection"},
	{Broker: "queued.max.request.bytes", Type: Long, Default: "268435456", Min: 1024, Max: math.MaxInt64, Doc: "broker-wide bound on request bytes read and not yet answered (partial frames included); readers stop reading their sockets while it is used up, and a frame larger than it is refused (the connection closes); read at start"},
	{Broker: "queued.max.request.bytes.per.connection", Type: Long, Default: "16777216", Min: 1024, Max: math.MaxInt64, Doc: "bytes one connection's decoded, unanswered requests may hold before its reader waits; a connection holding nothing may still read one larger frame"},
	{Broker: "sasl.server.max.receive.size", Type: Int, Default: "524288", Min: 8, Max: math.MaxInt32, Doc: "largest frame accepted from a connection that has not yet sent a valid request, or on a SASL listener has not yet authenticated"},
	{Broker: "connections.max.reauth.ms", Type: Long, Default: "0", Min: 0, Max: math.MaxInt64, Doc: "SASL session lifetime (KIP-368): a client must re-authenticate within this long of authenticating, else its next request closes the connection; 0: sessions never expire"},
	{Broker: "quota.window.num", Type: Int, Default: "11", Min: 2, Max: 1000, Doc: "samples client quota rates are measured over (with quota.window.size.seconds); dynamic: a change restarts the measurement"},
	{Broker: "quota.window.size.seconds", Type: Int, Default: "1", Min: 1, Max: 3600, Doc: "length of one client quota sample; a throttle never exceeds quota.window.num of them"},
	{Broker: "allow.everyone.if.no.acl.found", Type: Bool, Default: "false", Doc: "with --authorizer: an operation on a resource no ACL names is allowed (true) or denied (false, the default)"},
	{Broker: "socket.request.read.timeout.ms", Type: Long, Default: "30000", Min: 1, Max: math.MaxInt64, Doc: "a request frame, once its first byte has arrived, must be read completely within this time (waits for queued.max.request.bytes included), else the connection closes; the default matches clients' request.timeout.ms"},
	{Broker: "connections.max.idle.ms", Type: Long, Default: "600000", Min: 1, Max: math.MaxInt64, Doc: "close a connection idle this long between requests (never while it has requests in flight or a fetch parked)"},
	{Broker: "max.connections", Type: Int, Default: "2147483647", Min: 1, Max: math.MaxInt32, Doc: "most open client connections; at the limit the listener stops accepting until one closes"},
	{Broker: "max.connections.per.ip", Type: Int, Default: "2147483647", Min: 1, Max: math.MaxInt32, Doc: "most open connections from one IP address; a connection beyond it is closed at once"},
	{Broker: "log.retention.check.interval.ms", Type: Long, Default: "300000", Min: 1, Max: math.MaxInt64, Doc: "how often retention is applied (age-based rolls are checked every 250 ms)"},
	{Broker: "replica.lag.time.max.ms", Type: Long, Default: "30000", Min: 1, Max: math.MaxInt64, Doc: "a follower not caught up with its leader for this long leaves the ISR (a crashed broker leaves it sooner: the controller drops fenced brokers from ISRs)"},
	{Broker: "replica.fetch.wait.max.ms", Type: Int, Default: "500", Min: 0, Max: math.MaxInt32, Doc: "how long a follower's fetch waits at its leader for new records"},
	{Broker: "replica.fetch.max.bytes", Type: Int, Default: "1048576", Min: 1024, Max: math.MaxInt32, Doc: "bytes a follower fetches per partition per request (at least one batch)"},
	{Broker: "replica.fetch.response.max.bytes", Type: Int, Default: "10485760", Min: 1024, Max: math.MaxInt32, Doc: "bytes a follower fetches per request across partitions"},
	{Broker: "follower.replication.throttled.rate", Type: Long, Default: "9223372036854775807", Min: 1, Max: math.MaxInt64, Doc: "bytes per second a follower copies, over all the partitions a reassignment is adding it to (Kafka's throttle of moving replicas; strata cluster rebalance --throttle sets it for the move)"},
	{Broker: "replica.fetch.backoff.ms", Type: Int, Default: "100", Min: 0, Max: math.MaxInt32, Doc: "how long a follower waits after a failed fetch before the next"},
	{Broker: "fetch.max.bytes", Type: Int, Default: "57671680", Min: 1024, Max: math.MaxInt32, Doc: "cap on a Fetch response's total bytes"},
	{Broker: "auto.leader.rebalance.enable", Type: Bool, Default: "true", Doc: "cluster mode: the controller moves leadership back to each partition's first replica once it is live and in sync, up to 10 partitions per reconcile step; ElectLeaders does it on request either way"},
	{Broker: "broker.rack", Type: String, Default: "", Nullable: true, Doc: "rack reported in Metadata and used by rack-aware replica placement (--rack sets it)"},
	{Broker: "replica.selector.class", Type: String, Default: "", Nullable: true, Enum: []string{"", rackAwareSelector}, Doc: "which replica a consumer reads from (KIP-392): empty, the leader; " + rackAwareSelector + ", an in-sync replica in the consumer's client.rack when there is one"},
	{Broker: "broker.session.timeout.ms", Type: Int, Default: "800", Min: 10, Max: math.MaxInt32, Doc: "cluster mode: a broker whose last heartbeat to the controller is older than this is fenced and its leaderships move (Kafka's default is 9000); read at start by the controller"},
	{Broker: "broker.heartbeat.interval.ms", Type: Int, Default: "200", Min: 1, Max: math.MaxInt32, Doc: "cluster mode: how often a broker renews its lease with the controller; must be below broker.session.timeout.ms; read at start"},
	{Broker: "remote.fetch.chunk.bytes", Type: Long, Default: "8388608", Min: 65536, Max: 1 << 30, Doc: "bytes of one ranged GET of a remote segment and of one chunk-cache file"},
	{Broker: "remote.cache.bytes", Type: Long, Default: "1073741824", Min: 1 << 20, Max: math.MaxInt64, Doc: "disk budget of the cold-read chunk cache (under data-dir/tier-cache)"},
	{Broker: "remote.log.manager.copy.max.bytes.per.second", Type: Long, Default: "0", Min: 0, Max: math.MaxInt64, Doc: "cap on upload bandwidth to the object store; 0 is unlimited"},
	{Broker: "remote.log.manager.fetch.max.bytes.per.second", Type: Long, Default: "0", Min: 0, Max: math.MaxInt64, Doc: "cap on cold-read download bandwidth; 0 is unlimited"},
	{Broker: "remote.orphan.grace.ms", Type: Long, Default: "3600000", Min: 1, Max: math.MaxInt64, Doc: "age after which an unreferenced remote object (a failed or zombie upload) is deleted"},
	{Broker: "remote.upload.stall.timeout.ms", Type: Long, Default: "15000", Min: 1, Max: math.MaxInt64, Doc: "how long an upload may send no bytes before strata_tier_upload_failing reports it (it is given up only at its request timeout)"},
	{Broker: "remote.scrub.bytes.per.second", Type: Long, Default: "0", Min: 0, Max: math.MaxInt64, Doc: "rate at which the scrubber re-reads remote objects to check them against their manifest checksums; 0 turns remote scrubbing off"},
	{Broker: "log.scrub.bytes.per.second", Type: Long, Default: "4194304", Min: 0, Max: math.MaxInt64, Doc: "rate at which the scrubber re-reads sealed local segments to verify every batch (damage is healed from the cold tier); 0 turns scrubbing off"},
	{Broker: "log.scrub.interval.ms", Type: Long, Default: "3600000", Min: 1000, Max: math.MaxInt64, Doc: "pause between two scrubber passes over all sealed segments"},
	{Broker: "remote.log.manager.task.interval.ms", Type: Long, Default: "1000", Min: 10, Max: 3600000, Doc: "how often each partition's uploads, local deletion and remote retention are planned (a finished upload starts the next at once)"},
	{Broker: "remote.log.segment.upload.max.interval.ms", Type: Long, Default: "30000", Min: 0, Max: 86400000, Doc: "the cold copy's loss window: tiered logs roll their active segment at every multiple of this of wall-clock time (the same instants on every broker) when it holds records, so the store lags a partition's high watermark by about this plus an upload; leaders record each instant's offset for a consistent restore (strata restore) and report strata_tier_remote_copy_lag_seconds. Kafka has no such setting (segment.ms is per segment age); 0 turns it off"},
	{Broker: "remote.log.read.replica.follow.interval.ms", Type: Long, Default: "1000", Min: 10, Max: 3600000, Doc: "on a read replica (--read-replica-of): how often it reads its primary's progress objects (one GET per primary node) to sync the partitions that moved, and its metadata snapshot to mirror topic changes"},
	{Broker: "remote.log.manifest.sync.interval.ms", Type: Long, Default: "30000", Min: 10, Max: 3600000, Doc: "how often a follower re-reads a tiered partition's manifest from the object store, to drop local segments its leader has uploaded once they are past local retention (a new leader always reads it before it uploads)"},
	{Broker: "remote.log.manager.task.retry.backoff.ms", Type: Long, Default: "1000", Min: 1, Max: 3600000, Doc: "first wait after a failed upload; it doubles per consecutive failure"},
	{Broker: "remote.log.manager.task.retry.backoff.max.ms", Type: Long, Default: "60000", Min: 1, Max: 3600000, Doc: "longest wait between retries of a failing upload"},
	{Broker: "offsets.topic.num.partitions", Type: Int, Default: "50", Min: 1, Max: 10000, Doc: "partitions of the internal __consumer_offsets topic, fixed when it is created"},
	{Broker: "offsets.topic.replication.factor", Type: Short, Default: "3", Min: 1, Max: 32767, Doc: "replication factor of __consumer_offsets, capped at the number of registered brokers when it is created"},
	{Broker: "offsets.topic.segment.bytes", Type: Int, Default: "104857600", Min: 1024, Max: math.MaxInt32, Doc: "segment size of __consumer_offsets"},
	{Broker: "offsets.retention.minutes", Type: Int, Default: "10080", Min: 1, Max: math.MaxInt32, Doc: "keep the committed offsets of an empty group this long after its last commit"},
	{Broker: "offsets.retention.check.interval.ms", Type: Long, Default: "600000", Min: 1, Max: math.MaxInt64, Doc: "how often expired offsets of empty groups are deleted"},
	{Broker: "offset.metadata.max.bytes", Type: Int, Default: "4096", Min: 0, Max: math.MaxInt32, Doc: "largest metadata string of a committed offset"},
	{Broker: "group.initial.rebalance.delay.ms", Type: Int, Default: "3000", Min: 0, Max: math.MaxInt32, Doc: "how long the first rebalance of an empty group waits for more members to join"},
	{Broker: "group.min.session.timeout.ms", Type: Int, Default: "6000", Min: 1, Max: math.MaxInt32, Doc: "smallest session timeout a group member may ask for"},
	{Broker: "group.max.session.timeout.ms", Type: Int, Default: "1800000", Min: 1, Max: math.MaxInt32, Doc: "largest session timeout a group member may ask for"},
	{Broker: "group.max.size", Type: Int, Default: "2147483647", Min: 1, Max: math.MaxInt32, Doc: "most members a classic group may have"},
	{Broker: "transactional.id.expiration.ms", Type: Int, Default: "604800000", Min: 1, Max: math.MaxInt32, Doc: "forget a transactional ID (and its producer ID) idle this long with no open transaction"},
	{Broker: "producer.id.expiration.ms", Type: Int, Default: "86400000", Min: 1, Max: math.MaxInt32, Doc: "forget a producer's sequence state on a partition after this long without a write from it"},
	{Broker: "transaction.max.timeout.ms", Type: Int, Default: "900000", Min: 1, Max: math.MaxInt32, Doc: "largest transaction timeout a producer may ask for; an open transaction older than its timeout is aborted"},
	{Broker: "transaction.state.log.num.partitions", Type: Int, Default: "50", Min: 1, Max: 10000, Doc: "partitions of the internal __transaction_state topic, fixed when it is created"},
	{Broker: "transaction.state.log.replication.factor", Type: Short, Default: "3", Min: 1, Max: 32767, Doc: "replication factor of __transaction_state, capped at the number of registered brokers when it is created"},
	{Broker: "transaction.state.log.min.isr", Type: Int, Default: "2", Min: 1, Max: 32767, Doc: "min.insync.replicas of __transaction_state (capped at its replication factor)"},
	{Broker: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: Int, Default: "10000", Min: 1, Max: math.MaxInt32, Doc: "how often open transactions are checked against their timeouts"},

	{Topic: "segment.bytes", Broker: "log.segment.bytes", Type: Int, Default: "1073741824", Min: 1024, Max: math.MaxInt32, Doc: "roll the active segment at this size"},
	{Topic: "segment.ms", Broker: "log.roll.ms", Type: Long, Default: strconv.FormatInt(week, 10), Min: 1, Max: math.MaxInt64, Doc: "roll the active segment when its first batch is this old"},
	{Topic: "retention.ms", Broker: "log.retention.ms", Type: Long, Default: "-1", Min: -1, Max: math.MaxInt64, Doc: "delete segments (local and remote) whose newest record is older; -1 (the default: the cold tier keeps everything) keeps forever"},
	{Topic: "retention.bytes", Broker: "log.retention.bytes", Type: Long, Default: "-1", Min: -1, Max: math.MaxInt64, Doc: "delete oldest segments (local and remote) beyond this size per partition; -1 is unbounded"},
	{Topic: "remote.storage.enable", Broker: "remote.storage.enable.default", Type: Bool, Default: "true", Doc: "upload sealed segments to the object store and serve old offsets from it; the node always has a store (a directory under its data dir by default)"},
	{Topic: "local.retention.ms", Broker: "log.local.retention.ms", Type: Long, Default: "3600000", Min: -2, Max: math.MaxInt64, Doc: "how long uploaded segments stay on local disk (the hot tail); -2 follows retention.ms, -1 keeps them; Strata's default is one hour so the disk stays bounded while retention.ms is infinite"},
	{Topic: "local.retention.bytes", Broker: "log.local.retention.bytes", Type: Long, Default: "-2", Min: -2, Max: math.MaxInt64, Doc: "bytes of uploaded segments kept on local disk per partition; -2 follows retention.bytes, -1 is unbounded"},
	{Topic: "max.message.bytes", Broker: "message.max.bytes", Type: Int, Default: "1048588", Min: 0, Max: math.MaxInt32, Doc: "largest record batch accepted"},
	{Topic: "flush.messages", Broker: "log.flush.interval.messages", Type: Long, Default: "1", Min: 1, Max: math.MaxInt64, Doc: "fsync after this many messages; 1 (the default) acknowledges only fsynced data, with group commit"},
	{Topic: "flush.ms", Broker: "log.flush.interval.ms", Type: Long, Default: "9223372036854775807", Min: 0, Max: math.MaxInt64, Doc: "fsync at least this often when flush.messages > 1"},
	{Topic: "index.interval.bytes", Broker: "log.index.interval.bytes", Type: Int, Default: "4096", Min: 0, Max: math.MaxInt32, Doc: "bytes between sparse offset-index entries"},
	{Topic: "message.timestamp.type", Broker: "log.message.timestamp.type", Type: String, Default: "CreateTime", Enum: []string{"CreateTime", "LogAppendTime"}, Doc: "LogAppendTime rewrites batch timestamps with the broker's clock"},
	{Topic: "cleanup.policy", Broker: "log.cleanup.policy", Type: List, Default: "delete", Enum: []string{"delete", "compact"}, Doc: "delete applies retention; compact keeps the latest record of every key (records need keys; see docs/compaction.md); compact,delete does both"},
	{Topic: "compression.type", Broker: "compression.type", Type: String, Default: "producer", Enum: []string{"producer"}, Doc: "batches are stored as the producer compressed them"},
	{Topic: "min.insync.replicas", Broker: "min.insync.replicas", Type: Int, Default: "1", Min: 1, Max: math.MaxInt32, Doc: "ISR members an acks=all write needs (NOT_ENOUGH_REPLICAS below it); the high watermark holds while the ISR is smaller (capped at the replication factor)"},
	{Topic: "unclean.leader.election.enable", Broker: "unclean.leader.election.enable", Type: Bool, Default: "false", Doc: "let the controller give a partition whose in-sync replicas are all down to a live out-of-sync one (it warns and counts strata_cluster_unclean_elections_total; records only the old ISR had are lost)"},
	{Topic: "segment.index.bytes", Broker: "log.index.size.max.bytes", Type: Int, Default: "10485760", Min: 4, Max: math.MaxInt32, Inert: true},
	{Topic: "segment.jitter.ms", Broker: "log.roll.jitter.ms", Type: Long, Default: "0", Min: 0, Max: math.MaxInt64, Inert: true},
	{Topic: "file.delete.delay.ms", Broker: "log.segment.delete.delay.ms", Type: Long, Default: "60000", Min: 0, Max: math.MaxInt64, Inert: true},
	{Topic: "delete.retention.ms", Broker: "log.cleaner.delete.retention.ms", Type: Long, Default: strconv.FormatInt(day, 10), Min: 0, Max: math.MaxInt64, Doc: "how long tombstones and transaction markers of a compacted topic stay readable after they are first cleaned"},
	{Topic: "min.compaction.lag.ms", Broker: "log.cleaner.min.compaction.lag.ms", Type: Long, Default: "0", Min: 0, Max: math.MaxInt64, Doc: "a record of a compacted topic stays uncompacted at least this long"},
	{Topic: "max.compaction.lag.ms", Broker: "log.cleaner.max.compaction.lag.ms", Type: Long, Default: "9223372036854775807", Min: 1, Max: math.MaxInt64, Doc: "clean a compacted partition holding dirty segments older than this whatever its dirty ratio"},
	{Topic: "min.cleanable.dirty.ratio", Broker: "log.cleaner.min.cleanable.ratio", Type: Double, Default: "0.5", Min: 0, Max: 1, Doc: "clean a compacted partition once its uncleaned part is at least this fraction of its cleanable log"},
	{Broker: "log.cleaner.enable", Type: Bool, Default: "true", Doc: "run the log cleaner (compaction of cleanup.policy=compact topics); read at start"},
	{Broker: "log.cleaner.threads", Type: Int, Default: "1", Min: 1, Max: 64, Doc: "partitions cleaned at the same time; read at start"},
	{Broker: "log.cleaner.dedupe.buffer.size", Type: Long, Default: "134217728", Min: 1 << 16, Max: math.MaxInt64, Doc: "memory for the cleaners' key maps, shared by all threads (24 bytes per key; a map grows to it as needed); a partition with more keys than fit is cleaned in several passes"},
	{Broker: "log.cleaner.io.max.bytes.per.second", Type: Double, Default: "1.7976931348623157E308", Doc: "bytes per second the cleaners read and write, all threads together"},
	{Broker: "log.cleaner.backoff.ms", Type: Long, Default: "15000", Min: 1, Max: math.MaxInt64, Doc: "how long a cleaner sleeps when no partition needs cleaning"},
	{Topic: "preallocate", Broker: "log.preallocate", Type: Bool, Default: "false", Inert: true},
	{Topic: "message.timestamp.difference.max.ms", Broker: "log.message.timestamp.difference.max.ms", Type: Long, Default: "9223372036854775807", Min: 0, Max: math.MaxInt64, Inert: true},
	{Topic: "message.downconversion.enable", Broker: "log.message.downconversion.enable", Type: Bool, Default: "true", Inert: true},
	{Topic: "follower.replication.throttled.replicas", Type: List, Default: "", Inert: true},
	{Topic: "leader.replication.throttled.replicas", Type: List, Default: "", Inert: true},
}

var (
	byTopic  = map[string]*Def{}
	byBroker = map[string]*Def{}
)

func init() {
	for _, d := range defs {
		if d.Topic != "" {
			byTopic[d.Topic] = d
		}
		if d.Broker != "" {
			byBroker[d.Broker] = d
		}
	}
}

// TopicDef returns the definition of a topic config.
func TopicDef(name string) (*Def, bool) { d, ok := byTopic[name]; return d, ok }

// BrokerDef returns the definition of a broker setting.
func BrokerDef(name string) (*Def, bool) { d, ok := byBroker[name]; return d, ok }

// TopicNames returns every topic config name, sorted.
func TopicNames() []string { return sortedKeys(byTopic) }

// BrokerNames returns every broker setting name, sorted.
func BrokerNames() []string { return sortedKeys(byBroker) }

func sortedKeys(m map[string]*Def) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckTopic validates one topic config.
func CheckTopic(name, value string) error {
	d, ok := byTopic[name]
	if !ok {
		return fmt.Errorf("%w: topic config %q", ErrUnknown, name)
	}
	return d.Check(value)
}

// CheckBroker validates one broker setting.
func CheckBroker(name, value string) error {
	d, ok := byBroker[name]
	if !ok {
		return fmt.Errorf("%w: broker setting %q", ErrUnknown, name)
	}
	return d.Check(value)
}

// Source says where an effective value came from; the numbers are Kafka's
// DescribeConfigs ConfigSource codes.
type Source int8

// Config sources.
const (
	SourceTopic         Source = 1 // DYNAMIC_TOPIC_CONFIG
	SourceDynamicBroker Source = 3 // DYNAMIC_DEFAULT_BROKER_CONFIG
	SourceStaticBroker  Source = 4 // STATIC_BROKER_CONFIG
	SourceDefault       Source = 5 // DEFAULT_CONFIG
)

// Broker holds a broker's settings: static ones from flags, the config file
// and the environment, and dynamic cluster-wide ones from metadata. It is an
// immutable value; build a new one to change it.
type Broker struct {
	static  map[string]string
	dynamic map[string]string
}

// NewBroker validates static settings (from --set, the config file or the
// environment) and returns them as a Broker. Unknown names and bad values are
// refused with an error naming the key.
func NewBroker(static map[string]string) (Broker, error) {
	b := Broker{static: map[string]string{}}
	for k, v := range static {
		if err := CheckBroker(k, v); err != nil {
			return Broker{}, err
		}
		b.static[k] = v
	}
	return b, nil
}

// WithDynamic returns a copy using the given dynamic settings; invalid
// entries are ignored (they were validated when set).
func (b Broker) WithDynamic(dyn map[string]string) Broker {
	nb := Broker{static: b.static, dynamic: map[string]string{}}
	for k, v := range dyn {
		if CheckBroker(k, v) == nil {
			nb.dynamic[k] = v
		}
	}
	return nb
}

// Lookup returns a broker setting's effective value and its source.
func (b Broker) Lookup(name string) (string, Source) {
	if v, ok := b.dynamic[name]; ok {
		return v, SourceDynamicBroker
	}
	if v, ok := b.static[name]; ok {
		return v, SourceStaticBroker
	}
	if d, ok := byBroker[name]; ok {
		return d.Default, SourceDefault
	}
	return "", SourceDefault
}

// Get returns a broker setting's effective value.
func (b Broker) Get(name string) string { v, _ := b.Lookup(name); return v }

// Int64 returns a numeric broker setting.
func (b Broker) Int64(name string) int64 { n, _ := strconv.ParseInt(b.Get(name), 10, 64); return n }

// Bool returns a boolean broker setting.
func (b Broker) Bool(name string) bool { return b.Get(name) == "true" }

// TopicLookup returns a topic config's effective value for a topic with the
// given overrides, and its source.
func (b Broker) TopicLookup(overrides map[string]string, name string) (string, Source) {
	if v, ok := overrides[name]; ok {
		return v, SourceTopic
	}
	d, ok := byTopic[name]
	if !ok {
		return "", SourceDefault
	}
	if d.Broker != "" {
		return b.Lookup(d.Broker)
	}
	return d.Default, SourceDefault
}

// Topic resolves the effective configs of one topic.
func (b Broker) Topic(overrides map[string]string) Topic {
	return Topic{b: b, overrides: overrides}
}

// Topic is a topic's resolved configuration.
type Topic struct {
	b         Broker
	overrides map[string]string
}

// Get returns an effective topic config value.
func (t Topic) Get(name string) string { v, _ := t.b.TopicLookup(t.overrides, name); return v }

// Int64 returns a numeric topic config.
func (t Topic) Int64(name string) int64 { n, _ := strconv.ParseInt(t.Get(name), 10, 64); return n }

// LogAppendTime reports whether the topic stamps batches with the broker's clock.
func (t Topic) LogAppendTime() bool { return t.Get("message.timestamp.type") == "LogAppendTime" }

// rackAwareSelector is Kafka's rack-aware replica selector, accepted by
// its class name so Kafka configurations carry over.
const rackAwareSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"

// CheckRetentions refuses a topic whose local retention exceeds its total
// retention (the hot tail cannot outlive the log).
func CheckRetentions(t Topic) error {
	for _, pair := range [][2]string{{"local.retention.ms", "retention.ms"}, {"local.retention.bytes", "retention.bytes"}} {
		local, total := t.Int64(pair[0]), t.Int64(pair[1])
		if _, src := t.b.TopicLookup(t.overrides, pair[0]); src != SourceTopic {
			continue // the broker default is capped by the topic's total retention
		}
		if total >= 0 && (local == -1 || local > total) {
			return fmt.Errorf("%w: %s=%d exceeds %s=%d: the local tail cannot be kept longer than the whole log", ErrInvalid, pair[0], local, pair[1], total)
		}
	}
	return nil
}

// Float64 returns a double config's effective value.
func (t Topic) Float64(name string) float64 {
	f, _ := strconv.ParseFloat(t.Get(name), 64)
	return f
}

// Float64 returns a double setting's value.
func (b Broker) Float64(name string) float64 {
	f, _ := strconv.ParseFloat(b.Get(name), 64)
	return f
}

// Policies returns the topic's cleanup.policy as two flags: compact
// (keep the latest record per key) and delete (apply retention).
func (t Topic) Policies() (compact, del bool) {
	for _, p := range splitList(t.Get("cleanup.policy"), true) {
		compact = compact || p == "compact"
		del = del || p == "delete"
	}
	return compact, del
}
