package faultstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/stratalog/strata/objectstore"
)

// The operations faults can target.
const (
	OpPut    = "put"
	OpGet    = "get"
	OpOpen   = "open"
	OpReadAt = "read_at"
	OpStat   = "stat"
	OpList   = "list"
	OpDelete = "delete"
)

// ErrInjected is wrapped by every injected error.
var ErrInjected = errors.New("injected fault")

// Fault describes the faults of one operation.
type Fault struct {
	// Rate is the probability in [0, 1] that a call fails with Class.
	Rate float64
	// FailFirst makes the next FailFirst calls fail with Class, before
	// Rate applies; it counts down.
	FailFirst int
	// Class of the injected error: objectstore.ErrTransient if nil. Use
	// ErrThrottled for throttling.
	Class objectstore.Class
	// Latency is added before every call.
	Latency time.Duration
}

// Config is the faults per operation (keys are the Op constants) and the
// mid-upload failure.
type Config struct {
	Seed   uint64
	Faults map[string]Fault
	// FailPutAfterBytes, when positive, makes each Put's reader fail with
	// an ErrTransient after that many bytes, so the backend sees a failure
	// part-way through its upload.
	FailPutAfterBytes int64
}

// Store injects faults into calls to an inner store.
type Store struct {
	inner objectstore.Store
	mu    struct {
		sync.Mutex
		cfg      Config
		rng      *rand.Rand
		injected map[string]int
	}
}

var _ objectstore.Store = (*Store)(nil)

// New wraps inner.
func New(inner objectstore.Store, cfg Config) *Store {
	s := &Store{inner: inner}
	s.SetConfig(cfg)
	return s
}

// SetConfig replaces the faults; counters are kept.
func (s *Store) SetConfig(cfg Config) {
	s.mu.Lock()
	defer s.mu.Unlock()
	faults := make(map[string]Fault, len(cfg.Faults))
	for k, v := range cfg.Faults {
		faults[k] = v
	}
	cfg.Faults = faults
	s.mu.cfg = cfg
	s.mu.rng = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	if s.mu.injected == nil {
		s.mu.injected = map[string]int{}
	}
}

// Injected is the number of faults injected into op so far.
func (s *Store) Injected(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.injected[op]
}

// before applies op's latency and decides whether it fails.
func (s *Store) before(ctx context.Context, op, key string) error {
	s.mu.Lock()
	f := s.mu.cfg.Faults[op]
	fail := false
	if f.FailFirst > 0 {
		f.FailFirst--
		s.mu.cfg.Faults[op] = f
		fail = true
	} else if f.Rate > 0 && s.mu.rng.Float64() < f.Rate {
		fail = true
	}
	if fail {
		s.mu.injected[op]++
	}
	s.mu.Unlock()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return &objectstore.Error{Backend: "fault", Op: op, Key: key, Err: ctx.Err()}
		case <-t.C:
		}
	}
	if !fail {
		return nil
	}
	class := f.Class
	if class == nil {
		class = objectstore.ErrTransient
	}
	return &objectstore.Error{Backend: "fault", Op: op, Key: key, Class: class, Err: ErrInjected}
}

// Put may fail before the call or, with FailPutAfterBytes, mid-upload.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	if err := s.before(ctx, OpPut, key); err != nil {
		return objectstore.ObjectInfo{}, err
	}
	s.mu.Lock()
	after := s.mu.cfg.FailPutAfterBytes
	s.mu.Unlock()
	if after > 0 {
		r = &failingReader{r: r, left: after, s: s}
	}
	return s.inner.Put(ctx, key, r, size, opts)
}

type failingReader struct {
	r    io.Reader
	left int64
	s    *Store
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		f.s.mu.Lock()
		f.s.mu.injected[OpPut]++
		f.s.mu.Unlock()
		return 0, fmt.Errorf("%w: %w: upload source failed mid-way", objectstore.ErrTransient, ErrInjected)
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

func (s *Store) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := s.before(ctx, OpGet, key); err != nil {
		return nil, err
	}
	return s.inner.GetRange(ctx, key, off, length)
}

func (s *Store) OpenReader(ctx context.Context, key string) (objectstore.ObjectReader, error) {
	if err := s.before(ctx, OpOpen, key); err != nil {
		return nil, err
	}
	r, err := s.inner.OpenReader(ctx, key)
	if err != nil {
		return nil, err
	}
	return &reader{ObjectReader: r, s: s, key: key}, nil
}

type reader struct {
	objectstore.ObjectReader
	s   *Store
	key string
}

func (r *reader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if err := r.s.before(ctx, OpReadAt, r.key); err != nil {
		return 0, err
	}
	return r.ObjectReader.ReadAt(ctx, p, off)
}

func (s *Store) Stat(ctx context.Context, key string) (objectstore.ObjectInfo, error) {
	if err := s.before(ctx, OpStat, key); err != nil {
		return objectstore.ObjectInfo{}, err
	}
	return s.inner.Stat(ctx, key)
}

func (s *Store) List(ctx context.Context, opts objectstore.ListOptions) (objectstore.ListPage, error) {
	if err := s.before(ctx, OpList, opts.Prefix); err != nil {
		return objectstore.ListPage{}, err
	}
	return s.inner.List(ctx, opts)
}

func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.before(ctx, OpDelete, key); err != nil {
		return err
	}
	return s.inner.Delete(ctx, key)
}

func (s *Store) Close() error { return s.inner.Close() }
