package open

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/filestore"
	"github.com/stratalog/strata/objectstore/gcsstore"
	"github.com/stratalog/strata/objectstore/miniostore"
	"github.com/stratalog/strata/objectstore/s3store"
)

// Options are the settings that are not part of the URL.
type Options struct {
	// Registerer receives the objectstore metrics; nil means none.
	Registerer prometheus.Registerer
	// Retry is the retry policy; zero fields take the defaults.
	Retry objectstore.RetryPolicy
	// PartSize is the multipart part size (s3, minio) and resumable chunk
	// size (gs); 0 means 8 MiB.
	PartSize int64
	// PartConcurrency is the parts in flight per upload (s3, minio); 0
	// means 4.
	PartConcurrency int
	// SkipStartupCheck skips the bucket probe that makes a missing bucket
	// or bad credentials fail in Open.
	SkipStartupCheck bool
}

// Default returns the default options.
func Default() Options {
	return Options{Retry: objectstore.DefaultRetryPolicy(), PartSize: 8 << 20, PartConcurrency: 4}
}

// Validate reports options that cannot work.
func (o Options) Validate() error {
	if o.PartSize != 0 && o.PartSize < 5<<20 {
		return fmt.Errorf("%w: part size %d below 5 MiB", objectstore.ErrInvalid, o.PartSize)
	}
	if o.PartConcurrency < 0 {
		return fmt.Errorf("%w: part concurrency %d", objectstore.ErrInvalid, o.PartConcurrency)
	}
	return o.Retry.WithDefaults().Validate()
}

// Open parses rawURL and opens the store it names. Unless
// SkipStartupCheck, it probes the bucket (or directory), so configuration
// errors surface here as *objectstore.Error naming the bucket and the
// operation that failed.
func Open(ctx context.Context, rawURL string, opts Options) (objectstore.Store, error) {
	loc, err := objectstore.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return OpenLocation(ctx, loc, opts)
}

// OpenLocation opens a parsed location.
func OpenLocation(ctx context.Context, loc objectstore.Location, opts Options) (objectstore.Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	d := Default()
	if opts.PartSize == 0 {
		opts.PartSize = d.PartSize
	}
	if opts.PartConcurrency == 0 {
		opts.PartConcurrency = d.PartConcurrency
	}
	retry := opts.Retry.WithDefaults()
	var m *objectstore.Metrics
	if opts.Registerer != nil {
		var err error
		if m, err = objectstore.NewMetrics(opts.Registerer); err != nil {
			return nil, fmt.Errorf("objectstore metrics: %w", err)
		}
		observe, prev := m.RetryObserver(loc.Scheme), retry.OnRetry
		retry.OnRetry = func(op string, err error, delay time.Duration) {
			observe(op, err, delay)
			if prev != nil {
				prev(op, err, delay)
			}
		}
	}
	var s objectstore.Store
	var err error
	switch loc.Scheme {
	case "file":
		s, err = filestore.Open(filestore.Config{Dir: loc.Dir})
	case "s3":
		cfg := s3store.Default()
		cfg.Bucket, cfg.Prefix = loc.Bucket, loc.Prefix
		cfg.Region, cfg.Endpoint, cfg.PathStyle = loc.Region, loc.Endpoint, loc.PathStyle
		cfg.SSE, cfg.SSEKMSKeyID = loc.SSE, loc.SSEKMSKey
		cfg.PartSize, cfg.PartConcurrency, cfg.Retry = opts.PartSize, opts.PartConcurrency, retry
		cfg.SkipBucketCheck = opts.SkipStartupCheck
		s, err = s3store.New(ctx, cfg)
	case "gs":
		cfg := gcsstore.Default()
		cfg.Bucket, cfg.Prefix = loc.Bucket, loc.Prefix
		cfg.ChunkSize, cfg.Retry = int(opts.PartSize), retry
		cfg.SkipBucketCheck = opts.SkipStartupCheck
		s, err = gcsstore.New(ctx, cfg)
	case "minio":
		cfg := miniostore.Default()
		cfg.Host, cfg.Secure, cfg.Region = loc.Host, loc.Secure, loc.Region
		cfg.Bucket, cfg.Prefix = loc.Bucket, loc.Prefix
		cfg.PartSize, cfg.PartConcurrency, cfg.Retry = opts.PartSize, opts.PartConcurrency, retry
		cfg.SkipBucketCheck = opts.SkipStartupCheck
		s, err = miniostore.New(ctx, cfg)
	default:
		return nil, fmt.Errorf("%w: object-store scheme %q", objectstore.ErrInvalid, loc.Scheme)
	}
	if err != nil {
		return nil, err
	}
	if m != nil {
		s = m.Instrument(s, loc.Scheme)
	}
	return s, nil
}
