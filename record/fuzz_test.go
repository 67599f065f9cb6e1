package record_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stratalog/strata/record"
)

// The seed corpus under testdata/fuzz holds real batches of every codec,
// written by TestWriteFuzzSeeds (STRATA_WRITE_FUZZ_SEEDS=1 regenerates it).
// Run with: go test -fuzz=FuzzValidate ./record/

func FuzzValidate(f *testing.F) {
	f.Add(batch(codecs[0], 2, 5))
	f.Fuzz(func(t *testing.T, data []byte) {
		hdrs, err := record.Validate(data, 1<<20)
		if err != nil {
			sentinel(t, err)
			if hdrs != nil {
				t.Fatal("headers returned with an error")
			}
			return
		}
		pos := 0
		for _, h := range hdrs {
			b := data[pos : pos+h.Size()]
			if err := record.CheckCRC(b, h); err != nil {
				t.Fatal(err)
			}
			n := int32(0)
			if err := record.ForEachRecord(b, func(r record.Record) bool {
				if r.OffsetDelta != n {
					t.Fatalf("offset delta %d at %d", r.OffsetDelta, n)
				}
				n++
				return true
			}); err != nil {
				t.Fatalf("validated batch fails iteration: %v", err)
			}
			if n != h.NumRecords {
				t.Fatalf("iterated %d of %d records", n, h.NumRecords)
			}
			pos += h.Size()
		}
		if pos != len(data) {
			t.Fatalf("headers cover %d of %d bytes", pos, len(data))
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Add(batch(codecs[0], 1, 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := record.ParseHeader(data)
		if err != nil {
			sentinel(t, err)
			return
		}
		if h.Size() < record.HeaderSize || h.Magic != 2 {
			t.Fatalf("accepted header %+v", h)
		}
		_ = record.CheckCRC(data, h)
	})
}

// FuzzValidateStored checks the follower's check of fetched batches: it
// never panics, and what it accepts is whole batches with valid CRCs that
// cover the input exactly.
func FuzzValidateStored(f *testing.F) {
	f.Add(batch(codecs[0], 2, 5))
	f.Add(append(batch(codecs[1], 3, 7), record.ControlBatch(7, 1, true, 0, 1)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		hdrs, err := record.ValidateStored(data)
		if err != nil {
			sentinel(t, err)
			if hdrs != nil {
				t.Fatal("headers returned with an error")
			}
			return
		}
		pos := 0
		for _, h := range hdrs {
			if err := record.CheckCRC(data[pos:pos+h.Size()], h); err != nil {
				t.Fatal(err)
			}
			pos += h.Size()
		}
		if pos != len(data) {
			t.Fatalf("headers cover %d of %d bytes", pos, len(data))
		}
	})
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("STRATA_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set STRATA_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
	write := func(fuzz, name string, b []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var multi []byte
	for _, c := range codecs {
		for _, n := range []int{1, 5} {
			b := batch(c, n, 16)
			write("FuzzValidate", fmt.Sprintf("%s-%d", c.name, n), b)
			write("FuzzParseHeader", fmt.Sprintf("%s-%d", c.name, n), b[:record.HeaderSize])
		}
		multi = append(multi, batch(c, 2, 8)...)
	}
	write("FuzzValidate", "all-codecs", multi)
	b := batch(codecs[0], 2, 4)
	record.SetLogAppendTime(b, 1)
	write("FuzzValidate", "log-append-time", b)
}
