package storage

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/record/recordtest"
)

func testConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 4096
	c.IndexIntervalBytes = 256
	c.RetentionMs = -1
	return c
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.DiscardHandler)
}

func openLog(t testing.TB, dir string, cfg Config) *Log {
	t.Helper()
	l, err := Open(dir, cfg, testLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// mkBatch builds a validated batch of n records of valueSize bytes with the
// first timestamp ts.
func mkBatch(t testing.TB, codec record.Codec, n, valueSize int, ts int64) ([]byte, []record.Header) {
	t.Helper()
	b := recordtest.Batch(recordtest.Options{Codec: codec, FirstTimestamp: ts}, recordtest.Records(n, valueSize, 1))
	hdrs, err := record.Validate(b, 64<<20)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return b, hdrs
}

func appendN(t testing.TB, l *Log, n, valueSize int, ts int64) AppendInfo {
	t.Helper()
	b, hdrs := mkBatch(t, record.CodecNone, n, valueSize, ts)
	info, err := l.Append(b, hdrs, 0, -1)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return info
}

// readHeaders reads and parses the batches a Read returns.
func readHeaders(t testing.TB, l *Log, offset int64, maxBytes int, maxOffset int64) []record.Header {
	t.Helper()
	res, err := l.Read(offset, maxBytes, maxOffset)
	if err != nil {
		t.Fatalf("Read(%d): %v", offset, err)
	}
	defer res.Release()
	b, err := res.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	hdrs, err := splitBatches(b)
	if err != nil {
		t.Fatalf("Read(%d) returned bad batches: %v", offset, err)
	}
	return hdrs
}

// splitBatches parses a sequence of stored batches, checking CRCs.
func splitBatches(b []byte) ([]record.Header, error) {
	var out []record.Header
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err != nil {
			return nil, err
		}
		if err := record.CheckCRC(b, h); err != nil {
			return nil, err
		}
		out = append(out, h)
		b = b[h.Size():]
	}
	return out, nil
}

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
