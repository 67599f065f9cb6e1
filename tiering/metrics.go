package tiering

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics carry Kafka's remote-storage metric names where they exist
// (RemoteCopyBytesPerSec becomes strata_tier_remote_copy_bytes_total: a
// rate in Prometheus is taken from the counter).
type metrics struct {
	copyBytes      prometheus.Counter
	copyRequests   prometheus.Counter
	copyErrors     prometheus.Counter
	fetchBytes     prometheus.Counter
	fetchRequests  prometheus.Counter
	fetchErrors    prometheus.Counter
	deleteRequests prometheus.Counter
	deleteErrors   prometheus.Counter
	cacheHits      prometheus.Counter
	cacheMisses    prometheus.Counter
	cacheBytes     prometheus.Gauge

	verifiedBytes      prometheus.Counter
	checksumMismatches prometheus.Counter
	repairs            prometheus.Counter
	compactRewrites    prometheus.Counter
	compactBytes       prometheus.Counter
	compactSaved       prometheus.Counter
	localCorrupt       prometheus.Counter
	heals              prometheus.Counter
	progressWrites     prometheus.Counter
}

func newMetrics() *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_tier_" + name, Help: help})
	}
	return &metrics{
		copyBytes:      c("remote_copy_bytes_total", "Bytes uploaded to the cold tier (Kafka RemoteCopyBytesPerSec)."),
		copyRequests:   c("remote_copy_requests_total", "Segment uploads committed (Kafka RemoteCopyRequestsPerSec)."),
		copyErrors:     c("remote_copy_errors_total", "Segment uploads that failed and will be retried (Kafka RemoteCopyErrorsPerSec)."),
		fetchBytes:     c("remote_fetch_bytes_total", "Record bytes served from the cold tier (Kafka RemoteFetchBytesPerSec)."),
		fetchRequests:  c("remote_fetch_requests_total", "Ranged GETs of remote segments (Kafka RemoteFetchRequestsPerSec)."),
		fetchErrors:    c("remote_fetch_errors_total", "Ranged GETs that failed (Kafka RemoteFetchErrorsPerSec)."),
		deleteRequests: c("remote_delete_requests_total", "Remote segments deleted by retention or topic deletion (Kafka RemoteDeleteRequestsPerSec)."),
		deleteErrors:   c("remote_delete_errors_total", "Remote deletions that failed (Kafka RemoteDeleteErrorsPerSec)."),
		cacheHits:      c("cache_hits_total", "Cold-read chunk cache hits."),
		cacheMisses:    c("cache_misses_total", "Cold-read chunk cache misses."),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "strata_tier_cache_bytes", Help: "Bytes held by the cold-read chunk cache.",
		}),
		verifiedBytes:      c("remote_verified_bytes_total", "Bytes of remote objects checked against their manifest checksums (chunk fills and remote scrubs)."),
		checksumMismatches: c("remote_checksum_mismatches_total", "Reads of remote object ranges whose bytes did not match their checksum (each is read once more before the object counts as corrupt)."),
		repairs:            c("remote_repairs_total", "Corrupt remote segments re-uploaded from an intact local copy."),
		compactRewrites:    c("compaction_rewrites_total", "Remote segments of compacted topics replaced by their cleaned local copies."),
		compactBytes:       c("compaction_bytes_written_total", "Bytes of cleaned segments uploaded to replace remote ones."),
		compactSaved:       c("compaction_bytes_saved_total", "Bytes by which cleaned uploads shrank the remote segments they replaced."),
		localCorrupt:       c("local_corrupt_segments_total", "Local segments that failed verification on their way to the store (not uploaded, marked damaged)."),
		heals:              c("local_heals_total", "Damaged local segments replaced with their verified remote copy."),
		progressWrites:     c("progress_writes_total", "Progress objects written (the roll instants each led partition's store copy covers)."),
	}
}

// Describe and Collect make the manager a prometheus.Collector: the fixed
// metrics above plus, per partition, the remote log size, the copy lag and
// the offsets `strata tier status` shows.
func (m *Manager) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(m, ch) }

var (
	partLabels       = []string{"topic", "partition"}
	descRemoteSize   = prometheus.NewDesc("strata_tier_remote_log_size_bytes", "Bytes of record batches in the cold tier (Kafka RemoteLogSizeBytes).", partLabels, nil)
	descLagBytes     = prometheus.NewDesc("strata_tier_remote_copy_lag_bytes", "Bytes of sealed segments below the high watermark not yet uploaded (Kafka RemoteCopyLagBytes).", partLabels, nil)
	descLagSegments  = prometheus.NewDesc("strata_tier_remote_copy_lag_segments", "Sealed segments below the high watermark not yet uploaded (Kafka RemoteCopyLagSegments).", partLabels, nil)
	descLocalSize    = prometheus.NewDesc("strata_tier_local_log_size_bytes", "Bytes of the local segments.", partLabels, nil)
	descLogStart     = prometheus.NewDesc("strata_tier_log_start_offset", "Log start offset across both tiers.", partLabels, nil)
	descLocalStart   = prometheus.NewDesc("strata_tier_local_log_start_offset", "First offset on local disk.", partLabels, nil)
	descRemoteEnd    = prometheus.NewDesc("strata_tier_remote_log_end_offset", "Offset after the last remote segment (-1 when none).", partLabels, nil)
	descHW           = prometheus.NewDesc("strata_tier_high_watermark", "High watermark.", partLabels, nil)
	descRemoteSegs   = prometheus.NewDesc("strata_tier_remote_segments", "Remote segments in the manifest.", partLabels, nil)
	descUploadFailed = prometheus.NewDesc("strata_tier_upload_failing", "1 while the partition's uploads are failing or stalled (the store is unreachable or hung): local data is kept.", partLabels, nil)
	descStalled      = prometheus.NewDesc("strata_tier_upload_stalled_seconds", "Seconds the running upload has sent no bytes, once past the stall timeout (0 otherwise).", partLabels, nil)
	descCopyLagSecs  = prometheus.NewDesc("strata_tier_remote_copy_lag_seconds", "Seconds since the latest roll instant up to which the store holds everything the partition had and the leader's progress object says so: the cold copy's loss window for a restore (leaders, with remote.log.segment.upload.max.interval.ms).", partLabels, nil)
	descReplicaLag   = prometheus.NewDesc("strata_tier_read_replica_lag_seconds", "On a read replica: seconds since the latest roll instant up to which it holds everything its primary had (the primary's progress objects tell the instants).", partLabels, nil)
	descCorrupt      = prometheus.NewDesc("strata_tier_corrupt_segments", "Remote segments corrupt or missing in the store with no intact local copy: their records are not served.", partLabels, nil)
)

func (m *Manager) Collect(ch chan<- prometheus.Metric) {
	for _, c := range []prometheus.Collector{m.metrics.copyBytes, m.metrics.copyRequests, m.metrics.copyErrors,
		m.metrics.fetchBytes, m.metrics.fetchRequests, m.metrics.fetchErrors, m.metrics.deleteRequests,
		m.metrics.deleteErrors, m.metrics.cacheHits, m.metrics.cacheMisses, m.metrics.cacheBytes,
		m.metrics.verifiedBytes, m.metrics.checksumMismatches, m.metrics.repairs, m.metrics.compactRewrites, m.metrics.compactBytes, m.metrics.compactSaved, m.metrics.localCorrupt, m.metrics.heals,
		m.metrics.progressWrites} {
		c.Collect(ch)
	}
	now := time.Now()
	for _, p := range m.partitions() {
		st := p.Status()
		lv := []string{st.Topic, itoa(st.Partition)}
		g := func(d *prometheus.Desc, v int64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), lv...)
		}
		g(descRemoteSize, st.RemoteBytes)
		g(descLagBytes, st.PendingBytes)
		g(descLagSegments, int64(st.PendingSegments))
		g(descLocalSize, st.LocalBytes)
		g(descLogStart, st.LogStartOffset)
		g(descLocalStart, st.LocalStartOffset)
		g(descRemoteEnd, st.RemoteEndOffset)
		g(descHW, st.HighWatermark)
		g(descRemoteSegs, st.RemoteSegments)
		failing := int64(0)
		if st.UploadFailing() {
			failing = 1
		}
		g(descUploadFailed, failing)
		ch <- prometheus.MustNewConstMetric(descStalled, prometheus.GaugeValue, st.UploadStalledSeconds, lv...)
		g(descCorrupt, int64(st.CorruptSegments))
		if lag, ok := p.ReplicaLag(now); ok {
			ch <- prometheus.MustNewConstMetric(descReplicaLag, prometheus.GaugeValue, lag.Seconds(), lv...)
		}
		if lag, ok := p.CopyLag(now); ok {
			ch <- prometheus.MustNewConstMetric(descCopyLagSecs, prometheus.GaugeValue, lag.Seconds(), lv...)
		}
	}
}
