package objectstore

import (
	"context"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus collectors shared by every instrumented store
// of one registry; each store labels them with its backend.
type Metrics struct {
	requests *prometheus.CounterVec   // backend, op
	errors   *prometheus.CounterVec   // backend, op, class
	bytes    *prometheus.CounterVec   // backend, op
	latency  *prometheus.HistogramVec // backend, op
	retries  *prometheus.CounterVec   // backend, op, class
}

// NewMetrics creates the collectors and registers them with reg; a
// collector already registered there (a second store) is reused.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strata", Subsystem: "objectstore", Name: "requests_total",
			Help: "Object-store operations started, by backend and operation.",
		}, []string{"backend", "op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strata", Subsystem: "objectstore", Name: "errors_total",
			Help: "Object-store operations that failed, by backend, operation and error class.",
		}, []string{"backend", "op", "class"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strata", Subsystem: "objectstore", Name: "bytes_total",
			Help: "Object bytes written (op=put) and read (op=get, read_at).",
		}, []string{"backend", "op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "strata", Subsystem: "objectstore", Name: "request_duration_seconds",
			Help:    "Object-store operation latency including retries; for reads, until the body is closed.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
		}, []string{"backend", "op"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "strata", Subsystem: "objectstore", Name: "retries_total",
			Help: "Attempts retried inside a backend, by the class of the failure.",
		}, []string{"backend", "op", "class"}),
	}
	var err error
	m.requests, err = register(reg, m.requests)
	if err == nil {
		m.errors, err = register(reg, m.errors)
	}
	if err == nil {
		m.bytes, err = register(reg, m.bytes)
	}
	if err == nil {
		m.latency, err = register(reg, m.latency)
	}
	if err == nil {
		m.retries, err = register(reg, m.retries)
	}
	return m, err
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

// RetryObserver returns an OnRetry hook counting retries for backend; chain
// it into a RetryPolicy before building the backend.
func (m *Metrics) RetryObserver(backend string) func(op string, err error, delay time.Duration) {
	return func(op string, err error, _ time.Duration) {
		m.retries.WithLabelValues(backend, op, ClassName(err)).Inc()
	}
}

// Instrument wraps s so every operation is counted under backend.
func (m *Metrics) Instrument(s Store, backend string) Store {
	return &instrumented{inner: s, m: m, backend: backend}
}

type instrumented struct {
	inner   Store
	m       *Metrics
	backend string
}

var _ Store = (*instrumented)(nil)

func (s *instrumented) done(op string, start time.Time, err error) {
	s.m.latency.WithLabelValues(s.backend, op).Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.errors.WithLabelValues(s.backend, op, ClassName(err)).Inc()
	}
}

func (s *instrumented) begin(op string) time.Time {
	s.m.requests.WithLabelValues(s.backend, op).Inc()
	return time.Now()
}

func (s *instrumented) Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	start := s.begin("put")
	info, err := s.inner.Put(ctx, key, r, size, opts)
	if err == nil {
		s.m.bytes.WithLabelValues(s.backend, "put").Add(float64(info.Size))
	}
	s.done("put", start, err)
	return info, err
}

func (s *instrumented) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	start := s.begin("get")
	rc, err := s.inner.GetRange(ctx, key, off, length)
	if err != nil {
		s.done("get", start, err)
		return nil, err
	}
	return &countingBody{ReadCloser: rc, s: s, start: start}, nil
}

// countingBody counts bytes read and ends the get's latency at Close.
type countingBody struct {
	io.ReadCloser
	s      *instrumented
	start  time.Time
	n      int64
	err    error
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *countingBody) Close() error {
	err := b.ReadCloser.Close()
	if !b.closed {
		b.closed = true
		b.s.m.bytes.WithLabelValues(b.s.backend, "get").Add(float64(b.n))
		b.s.done("get", b.start, b.err)
	}
	return err
}

func (s *instrumented) OpenReader(ctx context.Context, key string) (ObjectReader, error) {
	start := s.begin("open")
	r, err := s.inner.OpenReader(ctx, key)
	s.done("open", start, err)
	if err != nil {
		return nil, err
	}
	return &instrumentedReader{inner: r, s: s}, nil
}

type instrumentedReader struct {
	inner ObjectReader
	s     *instrumented
}

func (r *instrumentedReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	start := r.s.begin("read_at")
	n, err := r.inner.ReadAt(ctx, p, off)
	r.s.m.bytes.WithLabelValues(r.s.backend, "read_at").Add(float64(n))
	if err == io.EOF {
		r.s.done("read_at", start, nil)
	} else {
		r.s.done("read_at", start, err)
	}
	return n, err
}

func (r *instrumentedReader) Size() int64  { return r.inner.Size() }
func (r *instrumentedReader) Close() error { return r.inner.Close() }

func (s *instrumented) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	start := s.begin("stat")
	info, err := s.inner.Stat(ctx, key)
	s.done("stat", start, err)
	return info, err
}

func (s *instrumented) List(ctx context.Context, opts ListOptions) (ListPage, error) {
	start := s.begin("list")
	page, err := s.inner.List(ctx, opts)
	s.done("list", start, err)
	return page, err
}

func (s *instrumented) Delete(ctx context.Context, key string) error {
	start := s.begin("delete")
	err := s.inner.Delete(ctx, key)
	s.done("delete", start, err)
	return err
}

func (s *instrumented) Close() error { return s.inner.Close() }
