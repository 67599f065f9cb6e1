package miniostore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/internal/multipart"
)

// Config configures a minio-go store.
type Config struct {
	// Host is host:port of the server.
	Host   string
	Secure bool
	Region string
	Bucket string
	// Prefix is prepended to every key: empty or ending in "/".
	Prefix string
	// PartSize is the multipart part size (at least 5 MiB).
	PartSize int64
	// PartConcurrency is the number of parts uploaded at once per Put.
	PartConcurrency int
	Retry           objectstore.RetryPolicy
	// Credentials overrides the environment chain.
	Credentials *credentials.Credentials
	Transport   http.RoundTripper
	// SkipBucketCheck skips the BucketExists probe in New.
	SkipBucketCheck bool
}

// Default returns the defaults: HTTPS, 8 MiB parts, 4 in flight.
func Default() Config {
	return Config{Secure: true, PartSize: 8 << 20, PartConcurrency: 4, Retry: objectstore.DefaultRetryPolicy()}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Host == "" {
		return fmt.Errorf("%w: minio: missing host", objectstore.ErrInvalid)
	}
	if c.Bucket == "" {
		return fmt.Errorf("%w: minio: missing bucket", objectstore.ErrInvalid)
	}
	if c.Prefix != "" {
		if p, err := objectstore.NormalizePrefix(c.Prefix); err != nil || p != c.Prefix {
			return fmt.Errorf("%w: minio: prefix %q must be clean and end in /", objectstore.ErrInvalid, c.Prefix)
		}
	}
	if c.PartSize < 5<<20 {
		return fmt.Errorf("%w: minio: part size %d below 5 MiB", objectstore.ErrInvalid, c.PartSize)
	}
	if c.PartConcurrency < 1 || c.PartConcurrency > 64 {
		return fmt.Errorf("%w: minio: part concurrency %d outside [1, 64]", objectstore.ErrInvalid, c.PartConcurrency)
	}
	return c.Retry.Validate()
}

// Store is a Store over one bucket reached through minio-go.
type Store struct {
	cfg Config
	// core has minio-go's retries off: every request goes through cfg.Retry.
	core minio.Core
	pool *multipart.Pool
}

var _ objectstore.Store = (*Store)(nil)

// New creates the clients and, unless SkipBucketCheck, checks that the
// bucket exists.
func New(ctx context.Context, cfg Config) (*Store, error) {
	d := Default()
	if cfg.PartSize == 0 {
		cfg.PartSize = d.PartSize
	}
	if cfg.PartConcurrency == 0 {
		cfg.PartConcurrency = d.PartConcurrency
	}
	cfg.Retry = cfg.Retry.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	creds := cfg.Credentials
	if creds == nil {
		creds = credentials.NewChainCredentials([]credentials.Provider{&credentials.EnvAWS{}, &credentials.EnvMinio{}})
	}
	c, err := minio.New(cfg.Host, &minio.Options{
		Creds:      creds,
		Secure:     cfg.Secure,
		Region:     cfg.Region,
		Transport:  cfg.Transport,
		MaxRetries: 1,
	})
	if err != nil {
		return nil, &objectstore.Error{Backend: "minio", Bucket: cfg.Bucket, Op: "create client", Class: objectstore.ErrInvalid, Err: err}
	}
	s := &Store{cfg: cfg, core: minio.Core{Client: c}, pool: multipart.NewPool(cfg.PartSize)}
	if !cfg.SkipBucketCheck {
		if err := s.checkBucket(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) checkBucket(ctx context.Context) error {
	return s.cfg.Retry.Do(ctx, "bucket_exists", func(ctx context.Context) error {
		ok, err := s.core.BucketExists(ctx, s.cfg.Bucket)
		if err == nil && !ok {
			return &objectstore.Error{Backend: "minio", Bucket: s.cfg.Bucket, Op: "check bucket", Class: objectstore.ErrNotFound, Err: errors.New("bucket does not exist")}
		}
		return s.wrap("check bucket", "", err)
	})
}

func (s *Store) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var oe *objectstore.Error
	if errors.As(err, &oe) {
		return err
	}
	return &objectstore.Error{Backend: "minio", Bucket: s.cfg.Bucket, Op: op, Key: key, Class: classify(err), Err: err}
}

func (s *Store) invalid(op, key string, err error) error {
	return &objectstore.Error{Backend: "minio", Bucket: s.cfg.Bucket, Op: op, Key: key, Class: objectstore.ErrInvalid, Err: err}
}

func classify(err error) objectstore.Class {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil
	case errors.Is(err, objectstore.ErrInvalid):
		return objectstore.ErrInvalid
	}
	resp := minio.ToErrorResponse(err)
	if c, ok := objectstore.ClassForS3Code(resp.Code); ok {
		return c
	}
	if c, ok := objectstore.ClassForHTTPStatus(resp.StatusCode); ok {
		return c
	}
	if resp.StatusCode == 409 || resp.StatusCode >= 500 {
		return objectstore.ErrTransient
	}
	if objectstore.IsNetworkError(err) {
		return objectstore.ErrTransient
	}
	return objectstore.ErrUnknown
}

func (s *Store) fullKey(key string) string { return s.cfg.Prefix + key }

func (s *Store) putOptions(opts objectstore.PutOptions) minio.PutObjectOptions {
	po := minio.PutObjectOptions{
		ContentType: opts.ContentType,
	}
	if opts.IfAbsent {
		po.SetMatchETagExcept("*")
	}
	return po
}

// Put writes key with one PutObject when it fits in a part, else with a
// multipart upload driven through minio-go's Core API, so that
// If-None-Match reaches CompleteMultipartUpload.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	if err := objectstore.ValidateKey(key); err != nil {
		return objectstore.ObjectInfo{}, s.invalid("put", key, err)
	}
	var first *[]byte
	if size < 0 {
		small, f, err := multipart.ReadFirst(s.pool, r)
		if err != nil {
			return objectstore.ObjectInfo{}, s.wrap("put", key, err)
		}
		if f == nil {
			return s.putSingle(ctx, key, small, opts)
		}
		first = f
	} else if size <= s.cfg.PartSize {
		body := make([]byte, size)
		if _, err := io.ReadFull(objectstore.ExactReader(r, size), body); err != nil {
			return objectstore.ObjectInfo{}, s.wrap("put", key, err)
		}
		if err := multipart.CheckEOF(r, size); err != nil {
			return objectstore.ObjectInfo{}, s.wrap("put", key, err)
		}
		return s.putSingle(ctx, key, body, opts)
	}
	return s.putMultipart(ctx, key, first, r, size, opts)
}

func (s *Store) putSingle(ctx context.Context, key string, body []byte, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	po := s.putOptions(opts)
	if len(body) == 0 {
		// Over plain HTTP minio-go signs the body as an aws-chunked stream.
		// An empty object has no payload to sign, and some S3-compatible
		// servers (versitygw 1.8) leave the empty stream's terminator unread
		// on the connection, which then fails the next request on it.
		po.DisableContentSha256 = true
	}
	var info minio.UploadInfo
	err := s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
		var err error
		info, err = s.core.PutObject(ctx, s.cfg.Bucket, s.fullKey(key), bytes.NewReader(body), int64(len(body)), "", "", po)
		return s.wrap("put", key, err)
	})
	if err != nil {
		return objectstore.ObjectInfo{}, err
	}
	return objectstore.ObjectInfo{Key: key, Size: int64(len(body)), ModTime: info.LastModified, ETag: info.ETag}, nil
}

func (s *Store) putMultipart(ctx context.Context, key string, first *[]byte, r io.Reader, size int64, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	fail := func(err error) (objectstore.ObjectInfo, error) {
		if first != nil {
			s.pool.Put(first)
		}
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	if opts.IfAbsent {
		// Fail fast before sending parts; If-None-Match on the completion
		// decides a race.
		if _, err := s.Stat(ctx, key); err == nil {
			return fail(fmt.Errorf("%w: key exists", objectstore.ErrPreconditionFailed))
		} else if !errors.Is(err, objectstore.ErrNotFound) {
			return fail(err)
		}
	}
	var uploadID string
	err := s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
		var err error
		uploadID, err = s.core.NewMultipartUpload(ctx, s.cfg.Bucket, s.fullKey(key), minio.PutObjectOptions{ContentType: opts.ContentType})
		return s.wrap("create multipart upload", key, err)
	})
	if err != nil {
		return fail(err)
	}
	var mu sync.Mutex
	var parts []minio.CompletePart
	total, err := multipart.Stream(ctx, s.pool, s.cfg.PartConcurrency, first, r, size, func(ctx context.Context, num int32, data []byte) error {
		var part minio.ObjectPart
		err := s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
			var err error
			part, err = s.core.PutObjectPart(ctx, s.cfg.Bucket, s.fullKey(key), uploadID, int(num), bytes.NewReader(data), int64(len(data)), minio.PutObjectPartOptions{})
			return s.wrap(fmt.Sprintf("upload part %d", num), key, err)
		})
		if err != nil {
			return err
		}
		mu.Lock()
		parts = append(parts, minio.CompletePart{PartNumber: int(num), ETag: part.ETag})
		mu.Unlock()
		return nil
	})
	first = nil // Stream returned it to the pool
	var info minio.UploadInfo
	if err == nil {
		sort.Slice(parts, func(i, j int) bool { return parts[i].PartNumber < parts[j].PartNumber })
		err = s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
			var err error
			info, err = s.core.CompleteMultipartUpload(ctx, s.cfg.Bucket, s.fullKey(key), uploadID, parts, s.putOptions(opts))
			return s.wrap("complete multipart upload", key, err)
		})
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = s.cfg.Retry.Do(actx, "abort", func(ctx context.Context) error {
			err := s.wrap("abort multipart upload", key, s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, s.fullKey(key), uploadID))
			if errors.Is(err, objectstore.ErrNotFound) {
				return nil
			}
			return err
		})
		return fail(err)
	}
	return objectstore.ObjectInfo{Key: key, Size: total, ModTime: time.Now(), ETag: info.ETag}, nil
}

// GetRange reads a byte range with one ranged GetObject.
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
	var rc io.ReadCloser
	err := s.cfg.Retry.Do(ctx, "get", func(ctx context.Context) error {
		var go_ minio.GetObjectOptions
		var err error
		switch {
		case length > 0:
			err = go_.SetRange(off, off+length-1)
		case off > 0:
			err = go_.SetRange(off, 0)
		}
		if err != nil {
			return s.invalid("get", key, err)
		}
		rc, _, _, err = s.core.GetObject(ctx, s.cfg.Bucket, s.fullKey(key), go_)
		return s.wrap("get", key, err)
	})
	if errors.Is(err, objectstore.ErrInvalid) {
		return s.emptyAt(ctx, key, off)
	}
	if err != nil {
		return nil, err
	}
	return objectstore.NewBody(rc, "minio", s.cfg.Bucket, key, classify), nil
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

// OpenReader returns a reader whose ReadAt issues ranged GetObjects.
func (s *Store) OpenReader(ctx context.Context, key string) (objectstore.ObjectReader, error) {
	return objectstore.NewRangeReader(ctx, s, key)
}

// Stat is a HeadObject.
func (s *Store) Stat(ctx context.Context, key string) (objectstore.ObjectInfo, error) {
	if err := objectstore.ValidateKey(key); err != nil {
		return objectstore.ObjectInfo{}, s.invalid("stat", key, err)
	}
	var info minio.ObjectInfo
	err := s.cfg.Retry.Do(ctx, "stat", func(ctx context.Context) error {
		var err error
		info, err = s.core.StatObject(ctx, s.cfg.Bucket, s.fullKey(key), minio.StatObjectOptions{})
		return s.wrap("stat", key, err)
	})
	if err != nil {
		return objectstore.ObjectInfo{}, err
	}
	return objectstore.ObjectInfo{Key: key, Size: info.Size, ModTime: info.LastModified, ETag: info.ETag}, nil
}

// List is one ListObjectsV2 page starting after the cursor key.
func (s *Store) List(ctx context.Context, opts objectstore.ListOptions) (objectstore.ListPage, error) {
	if err := objectstore.ValidatePrefix(opts.Prefix); err != nil {
		return objectstore.ListPage{}, s.invalid("list", opts.Prefix, err)
	}
	startAfter := ""
	if opts.Cursor != "" {
		startAfter = s.fullKey(opts.Cursor)
	}
	var res minio.ListBucketV2Result
	err := s.cfg.Retry.Do(ctx, "list", func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		var err error
		res, err = s.core.ListObjectsV2(s.cfg.Bucket, s.fullKey(opts.Prefix), startAfter, "", "", opts.PageLimit())
		return s.wrap("list", opts.Prefix, err)
	})
	if err != nil {
		return objectstore.ListPage{}, err
	}
	var page objectstore.ListPage
	for _, o := range res.Contents {
		page.Objects = append(page.Objects, objectstore.ObjectInfo{
			Key:     strings.TrimPrefix(o.Key, s.cfg.Prefix),
			Size:    o.Size,
			ModTime: o.LastModified,
			ETag:    o.ETag,
		})
	}
	if res.IsTruncated && len(page.Objects) > 0 {
		page.NextCursor = page.Objects[len(page.Objects)-1].Key
	}
	return page, nil
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objectstore.ValidateKey(key); err != nil {
		return s.invalid("delete", key, err)
	}
	err := s.cfg.Retry.Do(ctx, "delete", func(ctx context.Context) error {
		return s.wrap("delete", key, s.core.RemoveObject(ctx, s.cfg.Bucket, s.fullKey(key), minio.RemoveObjectOptions{}))
	})
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil
	}
	return err
}

// Close releases nothing; minio-go clients hold only pooled connections.
func (s *Store) Close() error { return nil }
