package loadtest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseWorkloadDefaultsAndFields(t *testing.T) {
	w, err := ParseWorkload([]byte(`
name: t
mode: live
partitions: 32
record_size: 4KiB
rate: 5MB/s
duration: 2m
linger: 0
compression: zstd
bootstrap: [127.0.0.1:19092, "localhost:19093"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if w.Partitions != 32 || w.RecordSize != 4096 || w.Duration.D() != 2*time.Minute || w.Linger != 0 {
		t.Fatalf("fields not decoded: %+v", w)
	}
	if !w.Rate.Bytes || w.Rate.Value != 5e6 {
		t.Fatalf("rate = %+v", w.Rate)
	}
	if got := w.RecordsPerSecond(); got != 5e6/4096 {
		t.Fatalf("records/s = %v", got)
	}
	if len(w.Bootstrap) != 2 || w.Bootstrap[1] != "localhost:19093" {
		t.Fatalf("bootstrap = %v", w.Bootstrap)
	}
	// Untouched fields keep their defaults.
	if d := DefaultWorkload(); w.Producers != d.Producers || w.Acks != d.Acks {
		t.Fatalf("defaults lost: %+v", w)
	}
	if _, err := ParseWorkload(nil); err != nil {
		t.Fatalf("empty file should give the defaults: %v", err)
	}
}

func TestParseWorkloadErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name, yaml, field string
	}{
		{"syntax", "partitions: [1,\n", "line"},
		{"unknown field", "partitons: 3\n", "partitons"},
		{"bad duration", "duration: soon\n", "soon"},
		{"bad size", "record_size: 3 apples\n", "record_size"},
		{"bad rate", "rate: fast\n", "fast"},
		{"mode", "mode: turbo\n", `"mode"`},
		{"no bootstrap", "bootstrap: []\n", `"bootstrap"`},
		{"bootstrap without port", "bootstrap: [localhost]\n", `"bootstrap"`},
		{"zero partitions", "partitions: 0\n", `"partitions"`},
		{"too many topics", "topics: 20000\n", `"topics"`},
		{"replication", "replication_factor: 0\n", `"replication_factor"`},
		{"payload", "payload: xml\n", `"payload"`},
		{"json too small", "payload: json\nrecord_size: 100\n", `"record_size"`},
		{"keys", "keys: some\n", `"keys"`},
		{"distinct without count", "keys: distinct\n", `"distinct_keys"`},
		{"count without distinct", "distinct_keys: 5\n", `"distinct_keys"`},
		{"no producers", "producers: 0\n", `"producers"`},
		{"groups without consumers", "consumers: 0\nconsumer_groups: 2\n", `"consumers"`},
		{"unbounded live", "duration: 0\n", `"duration"`},
		{"backlog without bytes", "mode: backlog\n", `"backlog_bytes"`},
		{"backlog in live", "backlog_bytes: 1GiB\n", `"backlog_bytes"`},
		{"backlog without readers", "mode: backlog\nbacklog_bytes: 1MiB\nconsumers: 0\nconsumer_groups: 0\n", `"consumer_groups"`},
		{"mixed at max", "mode: mixed\nbacklog_bytes: 1MiB\nrate: max\n", `"rate"`},
		{"acks", "acks: most\n", `"acks"`},
		{"compression", "compression: brotli\n", `"compression"`},
		{"idempotent needs acks all", "acks: leader\n", `"idempotent"`},
		{"transactions need idempotence", "acks: leader\nidempotent: false\ntransactions: true\n", `"transactions"`},
		{"batch too small for a record", "record_size: 2MiB\nbatch_max_bytes: 1MiB\n", `"batch_max_bytes"`},
		{"byte rate without size", "record_size: 0\nrate: 5MB/s\n", `"rate"`},
		{"tiny rate", "rate: 0.001\n", `"rate"`},
		{"sample interval", "sample_interval: 1ms\n", `"sample_interval"`},
		{"negative warmup", "warmup: -1s\n", `"warmup"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseWorkload([]byte(c.yaml))
			if err == nil {
				t.Fatalf("accepted %q", c.yaml)
			}
			if !errors.Is(err, ErrInvalidWorkload) {
				t.Errorf("error %v does not wrap ErrInvalidWorkload", err)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("error %q does not name %s", err, c.field)
			}
		})
	}
}

func TestWorkloadSet(t *testing.T) {
	w := DefaultWorkload()
	for _, kv := range [][2]string{
		{"partitions", "64"}, {"duration", "3s"}, {"rate", "10MiB/s"},
		{"bootstrap", "127.0.0.1:1,127.0.0.1:2"}, {"record-size", "512"},
		{"compression", "lz4"}, {"keep_topics", "true"}, {"name", "a: b"},
		{"topic_configs.flush.messages", "1000"},
	} {
		if err := w.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%s, %s): %v", kv[0], kv[1], err)
		}
	}
	if w.Partitions != 64 || w.Duration.D() != 3*time.Second || w.Rate.Value != 10<<20 ||
		len(w.Bootstrap) != 2 || w.RecordSize != 512 || w.Compression != "lz4" || !w.KeepTopics || w.Name != "a: b" ||
		w.TopicConfigs["flush.messages"] != "1000" {
		t.Fatalf("overrides not applied: %+v", w)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	err := w.Set("partitons", "3")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "partitons" {
		t.Fatalf("unknown field: %v", err)
	}
	if err := w.Set("partitions", "many"); err == nil || !strings.Contains(err.Error(), "partitions") {
		t.Fatalf("bad value: %v", err)
	}
}

func TestParseRateAndSize(t *testing.T) {
	rates := []struct {
		in   string
		want Rate
		ok   bool
	}{
		{"max", Rate{}, true}, {"", Rate{}, true}, {"0", Rate{}, true},
		{"50000", Rate{Value: 50000}, true}, {"1500/s", Rate{Value: 1500}, true},
		{"5MB/s", Rate{Value: 5e6, Bytes: true}, true}, {"10MiB/s", Rate{Value: 10 << 20, Bytes: true}, true},
		{"1.5GB/s", Rate{Value: 1.5e9, Bytes: true}, true},
		{"5MB", Rate{}, false}, {"fast", Rate{}, false}, {"-3", Rate{}, false}, {"5XB/s", Rate{}, false},
	}
	for _, c := range rates {
		got, err := ParseRate(c.in)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("ParseRate(%q) = %+v, %v", c.in, got, err)
		}
	}
	sizes := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true}, {"1KiB", 1024, true}, {"64 KiB", 64 << 10, true}, {"1GB", 1e9, true},
		{"1.5MiB", 3 << 19, true}, {"2gib", 2 << 30, true}, {"x", 0, false}, {"1QB", 0, false}, {"-1", 0, false},
	}
	for _, c := range sizes {
		got, err := ParseByteSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseByteSize(%q) = %d, %v", c.in, got, err)
		}
	}
}

func TestBundledWorkloadsParse(t *testing.T) {
	files, err := filepath.Glob("workloads/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("bundled workloads: %v %v", files, err)
	}
	modes := map[string]bool{}
	for _, f := range files {
		w, err := LoadWorkload(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if w.Name == "" || w.Description == "" {
			t.Errorf("%s: needs a name and a description", f)
		}
		modes[w.Mode] = true
	}
	for _, m := range []string{ModeLive, ModeBacklog, ModeMixed} {
		if !modes[m] {
			t.Errorf("no bundled workload in mode %s", m)
		}
	}
	if _, err := os.Stat("workloads/max-throughput.yaml"); err != nil {
		t.Error(err)
	}
}
