package loadtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// ResultVersion is the results.json schema version.
const ResultVersion = 1

// Result is everything one run measured; it is results.json.
type Result struct {
	Version int       `json:"version"`
	RunID   string    `json:"run_id"`
	Name    string    `json:"name"`
	Mode    string    `json:"mode"`
	Target  string    `json:"target"`
	Command string    `json:"command,omitempty"`
	Started time.Time `json:"started"`
	Elapsed float64   `json:"elapsed_seconds"`
	// FirstProduce is when the first record was handed to a producer, in
	// seconds since Started (after topic creation and the consumer groups'
	// join): the charts' time axis starts there.
	FirstProduce float64  `json:"first_produce_seconds"`
	Host         HostInfo `json:"host"`
	Workload     Workload `json:"workload"`
	Topics       []string `json:"topics"`

	// Summary holds the headline figures of the run's main phases.
	Summary Summary `json:"summary"`
	// Phases are the run's stages in order, each with its own counts,
	// rates and latencies.
	Phases []PhaseResult `json:"phases"`
	Counts Counts        `json:"counts"`
	// Errors counts failures by side and kind.
	Errors map[string]int64 `json:"errors,omitempty"`
	// Series is the time series, one Sample per sample interval.
	Series []Sample `json:"series"`
	// Distributions are the latency distributions of the main phase
	// ("produce_ack", "end_to_end"; in mixed mode also per phase), and
	// Histograms the same as base64 compressed HdrHistograms.
	Distributions map[string][]PercentilePoint `json:"distributions,omitempty"`
	Histograms    map[string]string            `json:"histograms,omitempty"`
	Broker        *BrokerMetrics               `json:"broker,omitempty"`
	// Notes are things a reader of the numbers should know.
	Notes []string `json:"notes,omitempty"`
}

// HostInfo describes the machine the harness ran on.
type HostInfo struct {
	Hostname  string `json:"hostname"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	MemBytes  int64  `json:"mem_bytes,omitempty"`
	CPUModel  string `json:"cpu_model,omitempty"`
	GoVersion string `json:"go_version"`
}

// Summary is the headline: throughput of the main produce and consume
// phases and their latencies. For mixed runs the Hot* fields compare the
// hot stream without and with the replay.
type Summary struct {
	ProducePhase       string  `json:"produce_phase"`
	ProduceRecordsPerS float64 `json:"produce_records_per_sec"`
	ProduceMBPerS      float64 `json:"produce_mb_per_sec"`
	ConsumePhase       string  `json:"consume_phase"`
	ConsumeRecordsPerS float64 `json:"consume_records_per_sec"`
	ConsumeMBPerS      float64 `json:"consume_mb_per_sec"`
	// ProduceWireMBPerS and ConsumeWireMBPerS are the broker's wire rates
	// (PhaseResult.WireInMBPerS, WireOutMBPerS) over the same phases as the
	// logical (value-byte) MB/s above; null when the target has no
	// metrics. ConsumeWireMBPerS counts every group's fetches, as
	// ConsumeMBPerS does.
	ProduceWireMBPerS *float64 `json:"produce_wire_mb_per_sec"`
	ConsumeWireMBPerS *float64 `json:"consume_wire_mb_per_sec"`
	// WireSource says where the wire figures come from, or why they are
	// missing.
	WireSource          string      `json:"wire_source"`
	ProduceLatency      Percentiles `json:"produce_ack_latency"`
	EndToEndLatency     Percentiles `json:"end_to_end_latency"`
	CatchUpSeconds      float64     `json:"catch_up_seconds,omitempty"`
	CaughtUp            *bool       `json:"caught_up,omitempty"`
	HotE2EP99Baseline   float64     `json:"hot_e2e_p99_ms_without_replay,omitempty"`
	HotE2EP99Replay     float64     `json:"hot_e2e_p99_ms_with_replay,omitempty"`
	HotAckP99Baseline   float64     `json:"hot_ack_p99_ms_without_replay,omitempty"`
	HotAckP99Replay     float64     `json:"hot_ack_p99_ms_with_replay,omitempty"`
	MaxConsumerLag      int64       `json:"max_consumer_lag"`
	ErrorsTotal         int64       `json:"errors_total"`
	ProducedBytesTotal  int64       `json:"produced_bytes_total"`
	ConsumedBytesTotal  int64       `json:"consumed_bytes_total"`
	ProducedRecordTotal int64       `json:"produced_records_total"`
}

// PhaseResult is one stage of a run.
type PhaseResult struct {
	Name            string      `json:"name"`
	Start           float64     `json:"start_seconds"`
	Seconds         float64     `json:"seconds"`
	ProducedRecords int64       `json:"produced_records"`
	ProducedBytes   int64       `json:"produced_bytes"`
	ConsumedRecords int64       `json:"consumed_records"`
	ConsumedBytes   int64       `json:"consumed_bytes"`
	ProduceRecPerS  float64     `json:"produce_records_per_sec"`
	ProduceMBPerS   float64     `json:"produce_mb_per_sec"`
	ConsumeRecPerS  float64     `json:"consume_records_per_sec"`
	ConsumeMBPerS   float64     `json:"consume_mb_per_sec"`
	ProduceLatency  Percentiles `json:"produce_ack_latency"`
	EndToEndLatency Percentiles `json:"end_to_end_latency"`
	// WireInBytes and WireOutBytes are the change in the broker's
	// strata_kafka_bytes_in_total (request bytes read: record batches as
	// sent, compressed, plus framing) and strata_kafka_bytes_out_total
	// (response bytes written) over the phase; WireInMBPerS and
	// WireOutMBPerS the same per second. All are null when the target
	// exposes no such metrics (kfake, or no --metrics-url).
	WireInBytes   *float64 `json:"wire_in_bytes"`
	WireOutBytes  *float64 `json:"wire_out_bytes"`
	WireInMBPerS  *float64 `json:"wire_in_mb_per_sec"`
	WireOutMBPerS *float64 `json:"wire_out_mb_per_sec"`
	// TooShort marks a phase shorter than two sample intervals: its rates
	// are shown as n/a in the reports.
	TooShort bool `json:"too_short,omitempty"`
}

// Counts are the run's totals, for checking nothing was lost.
type Counts struct {
	// Sent records were handed to a producer; Acked ones were confirmed
	// by the broker; ProduceFailed ones failed.
	Sent          int64 `json:"sent"`
	Acked         int64 `json:"acked"`
	AckedBytes    int64 `json:"acked_bytes"`
	ProduceFailed int64 `json:"produce_failed"`
	// Consumed is the records each consumer group read, by group,
	// counting re-reads after a rebalance.
	Consumed map[string]int64 `json:"consumed"`
	// Groups details each group's position against what was acked.
	Groups []GroupCounts `json:"groups,omitempty"`
	// Stored is the broker's count of records in the run's topics after
	// the run (end minus start offsets; transaction markers included), or
	// -1 when it could not be read.
	Stored int64 `json:"stored"`
}

// GroupCounts compares what a consumer group read with what was acked in
// its topics. Position sums the offsets it read up to (for fresh topics
// without transactions, the distinct records read); AckedInTopics sums the
// acked end offsets of the same partitions.
type GroupCounts struct {
	Name          string   `json:"name"`
	Topics        []string `json:"topics"`
	Read          int64    `json:"read"`
	Position      int64    `json:"position"`
	AckedInTopics int64    `json:"acked_in_topics"`
}

// Sample is one point of the time series. Rates are over the interval
// ending at T (seconds since the start); latencies are the interval's.
type Sample struct {
	T              float64 `json:"t"`
	Phase          string  `json:"phase"`
	ProduceRecPerS float64 `json:"produce_records_per_sec"`
	ProduceMBPerS  float64 `json:"produce_mb_per_sec"`
	ConsumeRecPerS float64 `json:"consume_records_per_sec"`
	ConsumeMBPerS  float64 `json:"consume_mb_per_sec"`
	AckP50         float64 `json:"ack_p50_ms"`
	AckP99         float64 `json:"ack_p99_ms"`
	AckP999        float64 `json:"ack_p999_ms"`
	AckMax         float64 `json:"ack_max_ms"`
	E2EP50         float64 `json:"e2e_p50_ms"`
	E2EP99         float64 `json:"e2e_p99_ms"`
	E2EP999        float64 `json:"e2e_p999_ms"`
	E2EMax         float64 `json:"e2e_max_ms"`
	Lag            int64   `json:"consumer_lag"`
	Errors         int64   `json:"errors"`
}

// WriteResults writes results.json and report.html into dir (created if
// missing) and returns their paths.
func WriteResults(dir string, r *Result) (jsonPath, htmlPath string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("results dir: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", "", fmt.Errorf("encode results: %w", err)
	}
	jsonPath = filepath.Join(dir, "results.json")
	if err := os.WriteFile(jsonPath, append(data, '\n'), 0o644); err != nil {
		return "", "", fmt.Errorf("write results: %w", err)
	}
	htmlPath = filepath.Join(dir, "report.html")
	f, err := os.Create(htmlPath)
	if err != nil {
		return "", "", fmt.Errorf("write report: %w", err)
	}
	if err := WriteHTMLReport(f, r); err != nil {
		f.Close()
		return "", "", err
	}
	if err := f.Close(); err != nil {
		return "", "", fmt.Errorf("write report: %w", err)
	}
	return jsonPath, htmlPath, nil
}

// ReadResult loads a results.json.
func ReadResult(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: not a results.json: %w", path, err)
	}
	if r.Version != ResultVersion {
		return nil, fmt.Errorf("%s: results version %d, want %d", path, r.Version, ResultVersion)
	}
	return &r, nil
}

// hostInfo describes this machine, best effort.
func hostInfo() HostInfo {
	h := HostInfo{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var kb int64
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				h.MemBytes = kb * 1024
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return h
}
