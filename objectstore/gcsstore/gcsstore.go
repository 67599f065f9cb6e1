package gcsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/stratalog/strata/objectstore"
)

// Config configures a GCS store.
type Config struct {
	Bucket string
	// Prefix is prepended to every key: empty or ending in "/".
	Prefix string
	// ChunkSize is the resumable upload chunk; rounded up by the library
	// to a multiple of 256 KiB.
	ChunkSize int
	Retry     objectstore.RetryPolicy
	// ClientOptions are passed to storage.NewClient (credentials files,
	// endpoints, HTTP clients).
	ClientOptions []option.ClientOption
	// SkipBucketCheck skips the bucket probe in New.
	SkipBucketCheck bool
}

// Default returns the defaults: 8 MiB chunks.
func Default() Config {
	return Config{ChunkSize: 8 << 20, Retry: objectstore.DefaultRetryPolicy()}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Bucket == "" {
		return fmt.Errorf("%w: gs: missing bucket", objectstore.ErrInvalid)
	}
	if c.Prefix != "" {
		if p, err := objectstore.NormalizePrefix(c.Prefix); err != nil || p != c.Prefix {
			return fmt.Errorf("%w: gs: prefix %q must be clean and end in /", objectstore.ErrInvalid, c.Prefix)
		}
	}
	if c.ChunkSize < 256<<10 {
		return fmt.Errorf("%w: gs: chunk size %d below 256 KiB", objectstore.ErrInvalid, c.ChunkSize)
	}
	return c.Retry.Validate()
}

// Store is a Store over one GCS bucket and prefix.
type Store struct {
	cfg    Config
	client *storage.Client
	bucket *storage.BucketHandle
}

var _ objectstore.Store = (*Store)(nil)

// New creates the client and, unless SkipBucketCheck, reads the bucket's
// attributes so a missing bucket or bad credentials fail at start-up.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.ChunkSize == 0 {
		cfg.ChunkSize = Default().ChunkSize
	}
	cfg.Retry = cfg.Retry.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client, err := storage.NewClient(ctx, cfg.ClientOptions...)
	if err != nil {
		return nil, &objectstore.Error{Backend: "gs", Bucket: cfg.Bucket, Op: "create client", Class: classify(err), Err: err}
	}
	// Requests other than uploads are retried by cfg.Retry.
	client.SetRetry(storage.WithPolicy(storage.RetryNever))
	s := &Store{cfg: cfg, client: client, bucket: client.Bucket(cfg.Bucket)}
	if !cfg.SkipBucketCheck {
		err := cfg.Retry.Do(ctx, "bucket_attrs", func(ctx context.Context) error {
			_, err := s.bucket.Attrs(ctx)
			return s.wrap("read bucket attributes", "", err)
		})
		if err != nil {
			client.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var oe *objectstore.Error
	if errors.As(err, &oe) {
		return err
	}
	return &objectstore.Error{Backend: "gs", Bucket: s.cfg.Bucket, Op: op, Key: key, Class: classify(err), Err: err}
}

func (s *Store) invalid(op, key string, err error) error {
	return &objectstore.Error{Backend: "gs", Bucket: s.cfg.Bucket, Op: op, Key: key, Class: objectstore.ErrInvalid, Err: err}
}

func classify(err error) objectstore.Class {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil
	case errors.Is(err, objectstore.ErrInvalid):
		return objectstore.ErrInvalid
	case errors.Is(err, storage.ErrObjectNotExist), errors.Is(err, storage.ErrBucketNotExist):
		return objectstore.ErrNotFound
	case strings.Contains(err.Error(), "bad CRC on"):
		// The client's CRC-32C check of a full read failed.
		return objectstore.ErrCorrupt
	}
	code := 0
	var ge *googleapi.Error
	var ae *apierror.APIError
	if errors.As(err, &ge) {
		code = ge.Code
	} else if errors.As(err, &ae) {
		code = ae.HTTPCode()
	}
	if code == 503 {
		return objectstore.ErrTransient // GCS signals throttling with 429 only
	}
	if c, ok := objectstore.ClassForHTTPStatus(code); ok {
		return c
	}
	if code >= 500 {
		return objectstore.ErrTransient
	}
	if objectstore.IsNetworkError(err) {
		return objectstore.ErrTransient
	}
	return objectstore.ErrUnknown
}

func (s *Store) object(key string) *storage.ObjectHandle {
	return s.bucket.Object(s.cfg.Prefix + key)
}

// uploadRetryer lets the library retry resumable chunks with our policy's
// backoff and attempt limit, reporting each retry to OnRetry.
func (s *Store) uploadRetryer(o *storage.ObjectHandle) *storage.ObjectHandle {
	p := s.cfg.Retry
	return o.Retryer(
		storage.WithPolicy(storage.RetryAlways),
		storage.WithMaxAttempts(p.MaxAttempts),
		storage.WithBackoff(gax.Backoff{Initial: p.BaseDelay, Max: p.MaxDelay, Multiplier: 2}),
		storage.WithErrorFunc(func(err error) bool {
			retry := storage.ShouldRetry(err)
			if retry && p.OnRetry != nil {
				p.OnRetry("put", err, 0)
			}
			return retry
		}),
	)
}

// Put writes key. An object smaller than one chunk is sent in a single
// request retried by the store's policy; larger ones, and readers of
// unknown length, stream through a resumable upload whose chunks the
// library retries.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	if err := objectstore.ValidateKey(key); err != nil {
		return objectstore.ObjectInfo{}, s.invalid("put", key, err)
	}
	if size >= 0 && size < int64(s.cfg.ChunkSize) {
		body := make([]byte, size)
		if _, err := io.ReadFull(objectstore.ExactReader(r, size), body); err != nil {
			return objectstore.ObjectInfo{}, s.wrap("put", key, err)
		}
		var info objectstore.ObjectInfo
		err := s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
			var err error
			info, err = s.write(ctx, key, bytes.NewReader(body), size, 0, opts)
			return err
		})
		return info, err
	}
	return s.write(ctx, key, r, size, s.cfg.ChunkSize, opts)
}

// write runs one upload; chunkSize 0 sends it in a single request.
func (s *Store) write(ctx context.Context, key string, r io.Reader, size int64, chunkSize int, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	o := s.object(key)
	if chunkSize > 0 {
		o = s.uploadRetryer(o)
	}
	if opts.IfAbsent {
		o = o.If(storage.Conditions{DoesNotExist: true})
	}
	w := o.NewWriter(wctx)
	w.ChunkSize = chunkSize
	w.ContentType = opts.ContentType
	if w.ContentType == "" {
		w.ContentType = "application/octet-stream"
	}
	src := r
	if size >= 0 {
		src = io.LimitReader(r, size+1) // one extra byte reveals a long reader
	}
	n, err := io.Copy(w, src)
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("%w: reader gave %d bytes, size said %d", objectstore.ErrInvalid, n, size)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		cancel() // abandons the upload; nothing becomes visible
		w.Close()
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	if err := w.Close(); err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	a := w.Attrs()
	return objectstore.ObjectInfo{Key: key, Size: a.Size, ModTime: a.Updated, ETag: strconv.FormatInt(a.Generation, 10)}, nil
}

// GetRange reads a byte range.
func (s *Store) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := objectstore.ValidateKey(key); err != nil {
		return nil, s.invalid("get", key, err)
	}
	if off < 0 {
		return nil, s.invalid("get", key, fmt.Errorf("%w: negative offset %d", objectstore.ErrInvalid, off))
	}
	if length == 0 {
		return s.emptyAt(ctx, key, off)
	}
	if length < 0 {
		length = -1
	}
	var rd *storage.Reader
	err := s.cfg.Retry.Do(ctx, "get", func(ctx context.Context) error {
		var err error
		rd, err = s.object(key).NewRangeReader(ctx, off, length)
		return s.wrap("get", key, err)
	})
	if errors.Is(err, objectstore.ErrInvalid) {
		return s.emptyAt(ctx, key, off)
	}
	if err != nil {
		return nil, err
	}
	if rd.Attrs.Size >= 0 && off > rd.Attrs.Size {
		rd.Close()
		return nil, s.invalid("get", key, fmt.Errorf("%w: offset %d past the end of a %d-byte object", objectstore.ErrInvalid, off, rd.Attrs.Size))
	}
	return objectstore.NewBody(rd, "gs", s.cfg.Bucket, key, classify), nil
}

func (s *Store) emptyAt(ctx context.Context, key string, off int64) (io.ReadCloser, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	if off > info.Size {
		return nil, s.invalid("get", key, fmt.Errorf("%w: offset %d past the end of a %d-byte object", objectstore.ErrInvalid, off, info.Size))
	}
	return io.NopCloser(bytes.NewReader(nil)), nil
}

// OpenReader returns a reader whose ReadAt issues ranged reads.
func (s *Store) OpenReader(ctx context.Context, key string) (objectstore.ObjectReader, error) {
	return objectstore.NewRangeReader(ctx, s, key)
}

// Stat reads the object's attributes.
func (s *Store) Stat(ctx context.Context, key string) (objectstore.ObjectInfo, error) {
	if err := objectstore.ValidateKey(key); err != nil {
		return objectstore.ObjectInfo{}, s.invalid("stat", key, err)
	}
	var a *storage.ObjectAttrs
	err := s.cfg.Retry.Do(ctx, "stat", func(ctx context.Context) error {
		var err error
		a, err = s.object(key).Attrs(ctx)
		return s.wrap("stat", key, err)
	})
	if err != nil {
		return objectstore.ObjectInfo{}, err
	}
	return objectstore.ObjectInfo{Key: key, Size: a.Size, ModTime: a.Updated, ETag: strconv.FormatInt(a.Generation, 10)}, nil
}

// List returns the keys after the cursor, one page at a time.
func (s *Store) List(ctx context.Context, opts objectstore.ListOptions) (objectstore.ListPage, error) {
	if err := objectstore.ValidatePrefix(opts.Prefix); err != nil {
		return objectstore.ListPage{}, s.invalid("list", opts.Prefix, err)
	}
	limit := opts.PageLimit()
	var page objectstore.ListPage
	err := s.cfg.Retry.Do(ctx, "list", func(ctx context.Context) error {
		page = objectstore.ListPage{}
		q := &storage.Query{Prefix: s.cfg.Prefix + opts.Prefix}
		if opts.Cursor != "" {
			q.StartOffset = s.cfg.Prefix + opts.Cursor // inclusive
		}
		if err := q.SetAttrSelection([]string{"Name", "Size", "Updated", "Generation"}); err != nil {
			return s.wrap("list", opts.Prefix, err)
		}
		it := s.bucket.Objects(ctx, q)
		it.PageInfo().MaxSize = limit + 1
		for {
			a, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return nil
			}
			if err != nil {
				return s.wrap("list", opts.Prefix, err)
			}
			k := strings.TrimPrefix(a.Name, s.cfg.Prefix)
			if k == opts.Cursor {
				continue
			}
			if len(page.Objects) == limit {
				page.NextCursor = page.Objects[limit-1].Key
				return nil
			}
			page.Objects = append(page.Objects, objectstore.ObjectInfo{
				Key: k, Size: a.Size, ModTime: a.Updated, ETag: strconv.FormatInt(a.Generation, 10),
			})
		}
	})
	if err != nil {
		return objectstore.ListPage{}, err
	}
	return page, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objectstore.ValidateKey(key); err != nil {
		return s.invalid("delete", key, err)
	}
	err := s.cfg.Retry.Do(ctx, "delete", func(ctx context.Context) error {
		return s.wrap("delete", key, s.object(key).Delete(ctx))
	})
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil
	}
	return err
}

// Close closes the client.
func (s *Store) Close() error { return s.client.Close() }
