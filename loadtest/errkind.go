package loadtest

import (
	"context"
	"errors"
	"net"
	"sort"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// errorKind names the class of an error for the errors-by-kind table:
// Kafka error codes by name, client conditions by a short label.
func errorKind(err error) string {
	var ke *kerr.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ke):
		return ke.Message
	case errors.Is(err, kgo.ErrRecordTimeout):
		return "RECORD_TIMEOUT"
	case errors.Is(err, kgo.ErrRecordRetries):
		return "RECORD_RETRIES_EXHAUSTED"
	case errors.Is(err, kgo.ErrMaxBuffered):
		return "MAX_BUFFERED"
	case errors.Is(err, kgo.ErrClientClosed):
		return "CLIENT_CLOSED"
	case errors.Is(err, context.Canceled):
		return "CANCELED"
	case errors.Is(err, context.DeadlineExceeded):
		return "DEADLINE_EXCEEDED"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return "NETWORK_TIMEOUT"
		}
		return "NETWORK"
	}
	msg := err.Error()
	if i := strings.IndexAny(msg, ":\n"); i > 0 {
		msg = msg[:i]
	}
	if len(msg) > 60 {
		msg = msg[:60]
	}
	return "OTHER: " + msg
}

// errorCounts counts errors by side ("produce", "consume", ...) and kind.
type errorCounts struct {
	mu struct {
		sync.Mutex
		n     map[string]int64
		total int64
	}
}

func newErrorCounts() *errorCounts {
	e := &errorCounts{}
	e.mu.n = make(map[string]int64)
	return e
}

func (e *errorCounts) add(side string, err error) {
	k := side + ": " + errorKind(err)
	e.mu.Lock()
	e.mu.n[k]++
	e.mu.total++
	e.mu.Unlock()
}

func (e *errorCounts) total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mu.total
}

func (e *errorCounts) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int64, len(e.mu.n))
	for k, v := range e.mu.n {
		out[k] = v
	}
	return out
}

// sortedKeys returns m's keys in order, for stable output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
