package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/internal/multipart"
)

// Store is a Store over one S3 bucket and prefix.
type Store struct {
	cfg    Config
	client *s3.Client
	pool   *multipart.Pool
}

var _ objectstore.Store = (*Store)(nil)

// New builds the client from the standard credential chain and, unless
// SkipBucketCheck, checks that the bucket is reachable with HeadBucket, so
// configuration errors surface at start-up naming the bucket.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg.ensureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, config.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, &objectstore.Error{Backend: "s3", Bucket: cfg.Bucket, Op: "load AWS config", Class: objectstore.ErrInvalid, Err: err}
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	s := NewWithClient(client, cfg)
	if !cfg.SkipBucketCheck {
		err := cfg.Retry.Do(ctx, "head_bucket", func(ctx context.Context) error {
			_, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)})
			return s.wrap("head bucket", "", err)
		})
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// NewWithClient wraps an existing client; cfg supplies bucket, prefix and
// tuning. It does not check the bucket.
func NewWithClient(client *s3.Client, cfg Config) *Store {
	cfg.ensureDefaults()
	return &Store{cfg: cfg, client: client, pool: multipart.NewPool(cfg.PartSize)}
}

// Client is the underlying SDK client.
func (s *Store) Client() *s3.Client { return s.client }

// Bucket is the store's bucket.
func (s *Store) Bucket() string { return s.cfg.Bucket }

func (s *Store) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var oe *objectstore.Error
	if errors.As(err, &oe) {
		return err
	}
	return &objectstore.Error{Backend: "s3", Bucket: s.cfg.Bucket, Op: op, Key: key, Class: classify(err), Err: err}
}

func (s *Store) fullKey(key string) string { return s.cfg.Prefix + key }

func (s *Store) invalid(op, key string, err error) error {
	return &objectstore.Error{Backend: "s3", Bucket: s.cfg.Bucket, Op: op, Key: key, Class: objectstore.ErrInvalid, Err: err}
}

// Put writes key with one PutObject when it fits in a part, else with a
// multipart upload.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	if err := objectstore.ValidateKey(key); err != nil {
		return objectstore.ObjectInfo{}, s.invalid("put", key, err)
	}
	if size >= 0 && size <= s.cfg.PartSize {
		body, err := readExactly(r, size)
		if err != nil {
			return objectstore.ObjectInfo{}, s.wrap("put", key, err)
		}
		return s.putSingle(ctx, key, body, opts)
	}
	if size < 0 {
		// Unknown length: if the reader ends within one part, the object
		// is small and goes up in one request.
		small, first, err := multipart.ReadFirst(s.pool, r)
		if err != nil {
			return objectstore.ObjectInfo{}, s.wrap("put", key, err)
		}
		if first == nil {
			return s.putSingle(ctx, key, small, opts)
		}
		return s.putMultipart(ctx, key, first, r, size, opts)
	}
	return s.putMultipart(ctx, key, nil, r, size, opts)
}

// readExactly reads size bytes and checks the reader ends there.
func readExactly(r io.Reader, size int64) ([]byte, error) {
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: reader ended before the declared %d bytes", objectstore.ErrInvalid, size)
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	return body, multipart.CheckEOF(r, size)
}

func (s *Store) sse() (types.ServerSideEncryption, *string) {
	var kms *string
	if s.cfg.SSEKMSKeyID != "" {
		kms = aws.String(s.cfg.SSEKMSKeyID)
	}
	return types.ServerSideEncryption(s.cfg.SSE), kms
}

func (s *Store) putSingle(ctx context.Context, key string, body []byte, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	var out *s3.PutObjectOutput
	err := s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
		in := &s3.PutObjectInput{
			Bucket:        aws.String(s.cfg.Bucket),
			Key:           aws.String(s.fullKey(key)),
			Body:          bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))),
		}
		in.ServerSideEncryption, in.SSEKMSKeyId = s.sse()
		if opts.IfAbsent {
			in.IfNoneMatch = aws.String("*")
		}
		if opts.ContentType != "" {
			in.ContentType = aws.String(opts.ContentType)
		}
		var err error
		out, err = s.client.PutObject(ctx, in)
		return s.wrap("put", key, err)
	})
	if err != nil {
		return objectstore.ObjectInfo{}, err
	}
	return objectstore.ObjectInfo{Key: key, Size: int64(len(body)), ModTime: time.Now(), ETag: aws.ToString(out.ETag)}, nil
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
	rng := fmt.Sprintf("bytes=%d-", off)
	if length > 0 {
		rng = fmt.Sprintf("bytes=%d-%d", off, off+length-1)
	}
	var out *s3.GetObjectOutput
	err := s.cfg.Retry.Do(ctx, "get", func(ctx context.Context) error {
		var err error
		out, err = s.client.GetObject(ctx, &s3.GetObjectInput{
			Bucket: aws.String(s.cfg.Bucket),
			Key:    aws.String(s.fullKey(key)),
			Range:  aws.String(rng),
		})
		return s.wrap("get", key, err)
	})
	if errors.Is(err, objectstore.ErrInvalid) {
		// 416: off is at or past the end (S3 answers 416 even for
		// bytes=0- of an empty object).
		return s.emptyAt(ctx, key, off)
	}
	if err != nil {
		return nil, err
	}
	return objectstore.NewBody(out.Body, "s3", s.cfg.Bucket, key, classify), nil
}

// emptyAt returns an empty reader if off is exactly the object's end.
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
	var out *s3.HeadObjectOutput
	err := s.cfg.Retry.Do(ctx, "stat", func(ctx context.Context) error {
		var err error
		out, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: aws.String(s.cfg.Bucket),
			Key:    aws.String(s.fullKey(key)),
		})
		return s.wrap("stat", key, err)
	})
	if err != nil {
		return objectstore.ObjectInfo{}, err
	}
	return objectstore.ObjectInfo{
		Key:     key,
		Size:    aws.ToInt64(out.ContentLength),
		ModTime: aws.ToTime(out.LastModified),
		ETag:    aws.ToString(out.ETag),
	}, nil
}

// List is one ListObjectsV2 page starting after the cursor key.
func (s *Store) List(ctx context.Context, opts objectstore.ListOptions) (objectstore.ListPage, error) {
	if err := objectstore.ValidatePrefix(opts.Prefix); err != nil {
		return objectstore.ListPage{}, s.invalid("list", opts.Prefix, err)
	}
	in := &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.cfg.Bucket),
		Prefix:  aws.String(s.fullKey(opts.Prefix)),
		MaxKeys: aws.Int32(int32(opts.PageLimit())),
	}
	if opts.Cursor != "" {
		in.StartAfter = aws.String(s.fullKey(opts.Cursor))
	}
	var out *s3.ListObjectsV2Output
	err := s.cfg.Retry.Do(ctx, "list", func(ctx context.Context) error {
		var err error
		out, err = s.client.ListObjectsV2(ctx, in)
		return s.wrap("list", opts.Prefix, err)
	})
	if err != nil {
		return objectstore.ListPage{}, err
	}
	var page objectstore.ListPage
	for _, o := range out.Contents {
		k := strings.TrimPrefix(aws.ToString(o.Key), s.cfg.Prefix)
		page.Objects = append(page.Objects, objectstore.ObjectInfo{
			Key:     k,
			Size:    aws.ToInt64(o.Size),
			ModTime: aws.ToTime(o.LastModified),
			ETag:    aws.ToString(o.ETag),
		})
	}
	if aws.ToBool(out.IsTruncated) && len(page.Objects) > 0 {
		page.NextCursor = page.Objects[len(page.Objects)-1].Key
	}
	return page, nil
}

// Delete is a DeleteObject; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := objectstore.ValidateKey(key); err != nil {
		return s.invalid("delete", key, err)
	}
	err := s.cfg.Retry.Do(ctx, "delete", func(ctx context.Context) error {
		_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
			Bucket: aws.String(s.cfg.Bucket),
			Key:    aws.String(s.fullKey(key)),
		})
		return s.wrap("delete", key, err)
	})
	if errors.Is(err, objectstore.ErrNotFound) {
		return nil
	}
	return err
}

// Close releases idle connections of the SDK's HTTP client.
func (s *Store) Close() error { return nil }
