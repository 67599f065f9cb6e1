package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metrics are the broker's Prometheus metrics, registered on the node's own
// registry so that several nodes can run in one process (tests).
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	bytesIn   prometheus.Counter
	bytesOut  prometheus.Counter
	openConns prometheus.Gauge
	produced  *prometheus.CounterVec
	fetched   *prometheus.CounterVec
	// Connection limits (listener.go, conn.go).
	acceptErrors *prometheus.CounterVec
	acceptWaits  prometheus.Counter
	connClosed   *prometheus.CounterVec
	certReloads  *prometheus.CounterVec // by result
	jwksReloads  *prometheus.CounterVec // by result
	authResults  *prometheus.CounterVec // by mechanism, result
	denials      *prometheus.CounterVec // by api
	// Client quotas (quotas.go), by quota key.
	quotaThrottled *prometheus.CounterVec
	quotaThrottle  *prometheus.CounterVec
	budgetWaits    *prometheus.CounterVec
	// Replication (replication_leader.go, replication_follower.go).
	isrChanges     *prometheus.CounterVec
	replicationOut prometheus.Counter
	replicationIn  prometheus.Counter
	truncations    prometheus.Counter
	// ElectLeaders requests this node carried out (api_elect_leaders.go).
	elections *prometheus.CounterVec
	// reassignments counts AlterPartitionReassignments changes carried
	// out (starts, retargets, cancels).
	reassignments prometheus.Counter
	// throttleWaits counts fetch rounds that left a reassignment's copy
	// out for follower.replication.throttled.rate.
	throttleWaits prometheus.Counter
	stranded      prometheus.Counter
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_kafka_requests_total", Help: "Kafka requests handled, by API.",
		}, []string{"api"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_kafka_request_duration_seconds",
			Help:    "Time from reading a request to its response being ready, by API.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"api"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_bytes_in_total", Help: "Bytes of Kafka requests read.",
		}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_kafka_bytes_out_total", Help: "Bytes of Kafka responses written.",
		}),
		openConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_kafka_open_connections", Help: "Open client connections.",
		}),
		produced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_topic_bytes_in_total", Help: "Record-batch bytes appended, by topic.",
		}, []string{"topic"}),
		fetched: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_topic_bytes_out_total", Help: "Record-batch bytes fetched, by topic.",
		}, []string{"topic"}),
	}
	m.acceptErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_kafka_accept_errors_total", Help: "Failed accepts on the Kafka listener, by kind (emfile, enfile, enobufs, enomem, econnaborted, timeout, other).",
	}, []string{"kind"})
	m.acceptWaits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_kafka_accept_paused_total", Help: "Times the Kafka listener stopped accepting because max.connections were open.",
	})
	m.connClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_kafka_connections_closed_total", Help: "Connections closed by a limit or a security check, by reason (idle, frame_timeout, frame_too_large, per_ip_limit, tls_handshake, sasl_required, sasl_failed, reauth_expired).",
	}, []string{"reason"})
	m.budgetWaits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_kafka_request_budget_waits_total", Help: "Times a connection's reader waited for request bytes, by budget (broker: queued.max.request.bytes; connection: its share).",
	}, []string{"budget"})
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "strata_kafka_queued_request_bytes", Help: "Request bytes read and not yet answered (queued.max.request.bytes bounds them).",
	}, func() float64 { return float64(n.reqBudget.used()) })
	m.isrChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_replication_isr_changes_total", Help: "ISR changes this node asked for as leader and the controller committed, by direction (shrink, expand).",
	}, []string{"direction"})
	m.replicationOut = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_replication_bytes_out_total", Help: "Record-batch bytes sent to followers.",
	})
	m.replicationIn = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_replication_bytes_in_total", Help: "Record-batch bytes appended from leaders.",
	})
	m.truncations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_replication_truncations_total", Help: "Divergent log tails a follower cut after asking its leader (OffsetForLeaderEpoch), and resets to the leader's log start.",
	})
	m.elections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_leader_elections_requested_total", Help: "Leaders changed by ElectLeaders requests this node carried out, by type (preferred; leaderless: an unclean request that found a live in-sync replica; unclean: an out-of-sync replica was chosen).",
	}, []string{"type"})
	m.reassignments = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_partition_reassignments_requested_total", Help: "Partition reassignments started, retargeted or cancelled by AlterPartitionReassignments requests this node carried out.",
	})
	m.throttleWaits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_replication_throttled_total", Help: "Fetch rounds in which a partition this node is being added to by a reassignment waited for follower.replication.throttled.rate.",
	})
	m.stranded = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "strata_replication_stranded_total", Help: "Times a partition this node led became stranded: no controller lease and no fetch from any in-sync follower, so it refused writes.",
	})
	m.certReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_tls_certificate_reloads_total", Help: "Reloads of the TLS certificate files that found new contents, by result (ok; error: the previous certificate stays in use).",
	}, []string{"result"})
	m.jwksReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_sasl_oauthbearer_jwks_reloads_total", Help: "Reloads of the OAUTHBEARER key set file that found new contents, by result (ok; error: the previous keys stay in use).",
	}, []string{"result"})
	m.authResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_sasl_authentications_total", Help: "SASL authentications (and re-authentications), by mechanism and result (ok, failed).",
	}, []string{"mechanism", "result"})
	m.denials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_authorizer_denied_total", Help: "Operations the authorizer denied, by API.",
	}, []string{"api"})
	m.quotaThrottled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_quota_throttled_total", Help: "Responses that throttled their client for exceeding a client quota, by quota (producer_byte_rate, consumer_byte_rate, request_percentage).",
	}, []string{"quota"})
	m.quotaThrottle = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "strata_quota_throttle_seconds_total", Help: "Throttle time given to clients for exceeding client quotas, by quota.",
	}, []string{"quota"})
	m.reg.MustRegister(m.certReloads, m.jwksReloads, m.authResults, m.denials, m.quotaThrottled, m.quotaThrottle)
	m.reg.MustRegister(m.acceptErrors, m.acceptWaits, m.connClosed, m.budgetWaits, queued,
		m.isrChanges, m.replicationOut, m.replicationIn, m.truncations, m.elections, m.stranded, m.reassignments, m.throttleWaits)
	m.reg.MustRegister(m.requests, m.latency, m.bytesIn, m.bytesOut, m.openConns, m.produced, m.fetched,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&partitionCollector{n: n})
	return m
}

func (m *metrics) observe(r *request) {
	name := kmsg.NameForKey(r.key)
	m.requests.WithLabelValues(name).Inc()
	m.latency.WithLabelValues(name).Observe(time.Since(r.received).Seconds())
}

// partitionCollector reports per-partition log sizes and offsets at scrape time.
type partitionCollector struct{ n *Node }

var (
	partSizeDesc = prometheus.NewDesc("strata_partition_size_bytes", "Bytes of a partition's local log.", []string{"topic", "partition"}, nil)
	partEndDesc  = prometheus.NewDesc("strata_partition_end_offset", "Log end offset of a partition.", []string{"topic", "partition"}, nil)
	partHWDesc   = prometheus.NewDesc("strata_partition_high_watermark", "High watermark of a partition.", []string{"topic", "partition"}, nil)
	// Local storage integrity (storage damage.go, errors.go).
	partDamagedDesc    = prometheus.NewDesc("strata_partition_damaged_segments", "Local segments of a partition marked damaged and not served.", []string{"topic", "partition"}, nil)
	partStorageErrDesc = prometheus.NewDesc("strata_partition_storage_errors_total", "Disk-level failures (no space, too many files, I/O, fsync) of a partition's log since it opened.", []string{"topic", "partition"}, nil)
)

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- partSizeDesc
	ch <- partEndDesc
	ch <- partHWDesc
	ch <- partDamagedDesc
	ch <- partStorageErrDesc
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.n.parts.all() {
		idx := itoa(p.index)
		ch <- prometheus.MustNewConstMetric(partSizeDesc, prometheus.GaugeValue, float64(p.log.Size()), p.topic, idx)
		ch <- prometheus.MustNewConstMetric(partEndDesc, prometheus.GaugeValue, float64(p.log.EndOffset()), p.topic, idx)
		ch <- prometheus.MustNewConstMetric(partHWDesc, prometheus.GaugeValue, float64(p.highWatermark()), p.topic, idx)
		ch <- prometheus.MustNewConstMetric(partDamagedDesc, prometheus.GaugeValue, float64(p.log.DamagedSegments()), p.topic, idx)
		ch <- prometheus.MustNewConstMetric(partStorageErrDesc, prometheus.CounterValue, float64(p.log.StorageErrors()), p.topic, idx)
	}
}
