package loadtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// batchOf concatenates values from src until they fill n bytes: the record
// values of one producer batch, as a codec sees them.
func batchOf(src *payloadSource, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		b.Write(src.value())
	}
	return b.Bytes()
}

// codec compresses a batch the way a producer's codec would.
type codec struct {
	name     string
	compress func(t *testing.T, b []byte) int
}

var codecs = []codec{
	{"lz4", func(t *testing.T, b []byte) int {
		var out bytes.Buffer
		w := lz4.NewWriter(&out)
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Len()
	}},
	{"lz4-high", func(t *testing.T, b []byte) int {
		var out bytes.Buffer
		w := lz4.NewWriter(&out)
		if err := w.Apply(lz4.CompressionLevelOption(lz4.Level9)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Len()
	}},
	{"zstd", func(t *testing.T, b []byte) int {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return len(enc.EncodeAll(b, nil))
	}},
	{"zstd-best", func(t *testing.T, b []byte) int {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return len(enc.EncodeAll(b, nil))
	}},
}

func randomSource(t testing.TB, size int, compressibility float64) *payloadSource {
	t.Helper()
	w := DefaultWorkload()
	w.RecordSize = ByteSize(size)
	w.Payload = Payload{Kind: PayloadRandom, Compressibility: compressibility}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	return newPayloadSource(&w, nil, 42)
}

// TestRandomPayloadIsIncompressible is the guard against payloads that
// repeat: a batch of random values must not shrink by more than 2 % with
// lz4 or zstd, whatever the record size. The 4 MiB batch spans several
// default 1 MiB batches, so repetition across batches fails it too.
func TestRandomPayloadIsIncompressible(t *testing.T) {
	for _, size := range []int{100, 1024, 16 << 10, 256 << 10} {
		for _, batch := range []int{1 << 20, 4 << 20} {
			src := randomSource(t, size, 0)
			b := batchOf(src, batch)
			for _, c := range codecs {
				got := c.compress(t, b)
				if ratio := float64(got) / float64(len(b)); ratio < 0.98 {
					t.Errorf("record_size %d, %d-byte batch: %s shrinks it to %.3f of its size", size, len(b), c.name, ratio)
				}
			}
		}
	}
}

// TestRandomValuesNeverRepeat checks values are distinct, fresh slices:
// no two share bytes, and handing one out does not change an earlier one.
func TestRandomValuesNeverRepeat(t *testing.T) {
	src := randomSource(t, 1000, 0)
	seen := make(map[string]bool)
	var vals [][]byte
	var copies []string
	for range 2000 {
		v := src.value()
		if len(v) != 1000 || cap(v) != 1000 {
			t.Fatalf("value of len %d cap %d, want 1000", len(v), cap(v))
		}
		if seen[string(v[:16])] {
			t.Fatal("a value repeats its first 16 bytes")
		}
		seen[string(v[:16])] = true
		vals, copies = append(vals, v), append(copies, string(v))
	}
	for i, v := range vals {
		if string(v) != copies[i] {
			t.Fatalf("value %d changed after it was handed out", i)
		}
	}
}

// TestCompressibility checks the knob does what the docs say: lz4 and
// zstd shrink a batch to about 1 − compressibility of its size.
func TestCompressibility(t *testing.T) {
	for _, c := range []float64{0.25, 0.5, 0.9} {
		for _, size := range []int{512, 1024, 64 << 10} {
			src := randomSource(t, size, c)
			v := src.value()
			if low := lowEntropyBytes(size, c); !bytes.Contains([]byte(strings.Repeat(fillerText, size/len(fillerText)+2)), v[size-low:]) {
				t.Fatalf("compressibility %v: the last %d bytes are not the filler", c, low)
			}
			b := batchOf(src, 1<<20)
			for _, cd := range codecs {
				got := float64(cd.compress(t, b)) / float64(len(b))
				want := 1 - c
				if got < want-0.03 || got > want+0.05 {
					t.Errorf("compressibility %v, record_size %d: %s gives %.3f of the size, want %.2f (−0.03/+0.05)", c, size, cd.name, got, want)
				}
			}
		}
	}
}

func TestPayloadSpecParsing(t *testing.T) {
	w, err := ParseWorkload([]byte("payload:\n  kind: random\n  compressibility: 0.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w.Payload.Kind != PayloadRandom || w.Payload.Compressibility != 0.5 {
		t.Fatalf("payload %+v", w.Payload)
	}
	if w, err = ParseWorkload([]byte("payload: json\n")); err != nil || w.Payload.Kind != PayloadJSON {
		t.Fatalf("payload: json gave %+v, %v", w.Payload, err)
	}
	w = DefaultWorkload()
	if err := w.Set("payload.compressibility", "0.9"); err != nil {
		t.Fatal(err)
	}
	if w.Payload.Kind != PayloadRandom || w.Payload.Compressibility != 0.9 {
		t.Fatalf("after --set payload.compressibility: %+v", w.Payload)
	}
	if err := w.Set("payload", "file"); err != nil {
		t.Fatal(err)
	}
	if err := w.Set("payload.compressibility", "0"); err != nil {
		t.Fatal(err)
	}
	if err := w.Set("payload.files", "a.bin,b/*.json"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(w.Payload.Files); got != "[a.bin b/*.json]" || w.Payload.Kind != PayloadFile {
		t.Fatalf("payload %+v", w.Payload)
	}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	// results.json keeps the payload and still reads the old bare kind.
	data, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	var back Workload
	if err := json.Unmarshal(data, &back); err != nil || fmt.Sprint(back.Payload) != fmt.Sprint(w.Payload) {
		t.Fatalf("round trip %+v, %v", back.Payload, err)
	}
	if err := json.Unmarshal([]byte(`{"payload":"json"}`), &back); err != nil || back.Payload.Kind != PayloadJSON {
		t.Fatalf("old results.json payload: %+v, %v", back.Payload, err)
	}
	for _, bad := range []struct{ yaml, field string }{
		{"payload:\n  kind: json\n  compressibility: 0.5\nrecord_size: 1024\n", "payload.compressibility"},
		{"payload:\n  compressibility: 1.5\n", "payload.compressibility"},
		{"payload:\n  compressibility: -0.1\n", "payload.compressibility"},
		{"payload: file\n", "payload.files"},
		{"payload:\n  files: [a]\n", "payload.files"},
		{"payload: zeros\n", "payload"},
	} {
		_, err := ParseWorkload([]byte(bad.yaml))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != bad.field {
			t.Errorf("%q: error %v, want one naming %s", bad.yaml, err, bad.field)
		}
	}
	if _, err := ParseWorkload([]byte("payload:\n  compresibility: 0.5\n")); !errors.Is(err, ErrInvalidWorkload) || !strings.Contains(err.Error(), `no field "compresibility"`) {
		t.Errorf("a misspelt payload field: error %v", err)
	}
}

// TestPayloadFiles checks records are drawn from the payload files, all
// of them, byte for byte.
func TestPayloadFiles(t *testing.T) {
	dir := t.TempDir()
	want := map[string]bool{}
	for i, body := range []string{`{"a":1}`, strings.Repeat("b", 3000), "third file\n"} {
		p := filepath.Join(dir, fmt.Sprintf("p%d.json", i))
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		want[body] = true
	}
	one := filepath.Join(dir, "one.bin")
	if err := os.WriteFile(one, []byte("only"), 0o644); err != nil {
		t.Fatal(err)
	}

	w := DefaultWorkload()
	w.Payload = Payload{Kind: PayloadFile, Files: []string{filepath.Join(dir, "*.json"), filepath.Join(dir, "p1.json")}}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	files, err := loadPayloadFiles(&w)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("%d files loaded, want 3 (a file matched twice counts once)", len(files))
	}
	if w.RecordSize != ByteSize((7+3000+11)/3) {
		t.Errorf("record_size %d, want the mean file size", w.RecordSize)
	}
	src := newPayloadSource(&w, files, 1)
	got := map[string]int{}
	for range 300 {
		v := string(src.value())
		if !want[v] {
			t.Fatalf("value %q is none of the files", v)
		}
		got[v]++
	}
	if len(got) != 3 {
		t.Fatalf("300 records drew on %d of the 3 files", len(got))
	}

	w.Payload.Files = []string{one}
	if files, err = loadPayloadFiles(&w); err != nil {
		t.Fatal(err)
	}
	if v := newPayloadSource(&w, files, 1).value(); string(v) != "only" {
		t.Fatalf("one file: value %q", v)
	}

	for _, bad := range [][]string{{filepath.Join(dir, "*.none")}, {dir}} {
		w.Payload.Files = bad
		if _, err := loadPayloadFiles(&w); !errors.Is(err, ErrPayloadFiles) {
			t.Errorf("files %v: error %v, want ErrPayloadFiles", bad, err)
		}
	}
	empty := filepath.Join(dir, "empty.bin")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w.Payload.Files, w.Rate = []string{empty}, Rate{Value: 1e6, Bytes: true}
	if _, err := loadPayloadFiles(&w); !errors.Is(err, ErrPayloadFiles) {
		t.Errorf("empty files at a bytes/s rate: error %v", err)
	}
	w.Rate = Rate{}
	w.Payload.Files = []string{filepath.Join(dir, "p1.json")}
	w.BatchMaxBytes = 2048
	if _, err := loadPayloadFiles(&w); !errors.Is(err, ErrPayloadFiles) {
		t.Errorf("a file larger than a batch: error %v", err)
	}
}

// BenchmarkPayload measures how fast one producer's source hands out
// values: it must stay far above what a producer can send.
func BenchmarkPayload(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    Payload
		size int
	}{
		{"random-1KiB", Payload{Kind: PayloadRandom}, 1024},
		{"random-100B", Payload{Kind: PayloadRandom}, 100},
		{"random-64KiB", Payload{Kind: PayloadRandom}, 64 << 10},
		{"compressible0.5-1KiB", Payload{Kind: PayloadRandom, Compressibility: 0.5}, 1024},
		{"json-1KiB", Payload{Kind: PayloadJSON}, 1024},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := DefaultWorkload()
			w.RecordSize, w.Payload = ByteSize(bc.size), bc.p
			src := newPayloadSource(&w, nil, 7)
			b.SetBytes(int64(bc.size))
			b.ReportAllocs()
			var sink int
			for b.Loop() {
				sink += len(src.value())
			}
			_ = sink
		})
	}
}
