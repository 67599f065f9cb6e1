package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/internal/multipart"
)

// abortTimeout bounds the clean-up of a failed upload, which runs even
// when the caller's context is already cancelled.
const abortTimeout = 30 * time.Second

// putMultipart streams r as a multipart upload. first, when not nil, is
// an already-read full part. size is r's exact length (first included) or
// SizeUnknown. Any failure aborts the upload.
func (s *Store) putMultipart(ctx context.Context, key string, first *[]byte, r io.Reader, size int64, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	fail := func(err error) (objectstore.ObjectInfo, error) {
		if first != nil {
			s.pool.Put(first)
		}
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	if size > int64(multipart.MaxParts)*s.cfg.PartSize {
		return fail(fmt.Errorf("%w: %d bytes need more than %d parts of %d", objectstore.ErrInvalid, size, multipart.MaxParts, s.cfg.PartSize))
	}
	if opts.IfAbsent {
		// Fail fast before sending any data; If-None-Match on
		// CompleteMultipartUpload decides a race.
		if _, err := s.Stat(ctx, key); err == nil {
			return fail(fmt.Errorf("%w: key exists", objectstore.ErrPreconditionFailed))
		} else if !errors.Is(err, objectstore.ErrNotFound) {
			return fail(err)
		}
	}
	var created *s3.CreateMultipartUploadOutput
	err := s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
		in := &s3.CreateMultipartUploadInput{
			Bucket:            aws.String(s.cfg.Bucket),
			Key:               aws.String(s.fullKey(key)),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		}
		in.ServerSideEncryption, in.SSEKMSKeyId = s.sse()
		if opts.ContentType != "" {
			in.ContentType = aws.String(opts.ContentType)
		}
		var err error
		created, err = s.client.CreateMultipartUpload(ctx, in)
		return s.wrap("create multipart upload", key, err)
	})
	if err != nil {
		return fail(err)
	}
	uploadID := created.UploadId
	var mu sync.Mutex
	var parts []types.CompletedPart
	total, err := multipart.Stream(ctx, s.pool, s.cfg.PartConcurrency, first, r, size, func(ctx context.Context, num int32, data []byte) error {
		var out *s3.UploadPartOutput
		err := s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
			var err error
			out, err = s.client.UploadPart(ctx, &s3.UploadPartInput{
				Bucket:        aws.String(s.cfg.Bucket),
				Key:           aws.String(s.fullKey(key)),
				UploadId:      uploadID,
				PartNumber:    aws.Int32(num),
				Body:          bytes.NewReader(data),
				ContentLength: aws.Int64(int64(len(data))),
				// Each part carries its CRC32C, checked by the store; the
				// completed object's composite checksum covers them all.
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
			})
			return s.wrap(fmt.Sprintf("upload part %d", num), key, err)
		})
		if err != nil {
			return err
		}
		mu.Lock()
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32C: out.ChecksumCRC32C})
		mu.Unlock()
		return nil
	})
	first = nil // Stream returned it to the pool
	var info objectstore.ObjectInfo
	if err == nil {
		sort.Slice(parts, func(i, j int) bool { return *parts[i].PartNumber < *parts[j].PartNumber })
		info, err = s.complete(ctx, key, uploadID, parts, total, opts)
	}
	if err != nil {
		s.abort(ctx, key, uploadID)
		return fail(err)
	}
	return info, nil
}

func (s *Store) complete(ctx context.Context, key string, uploadID *string, parts []types.CompletedPart, total int64, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	var out *s3.CompleteMultipartUploadOutput
	err := s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
		in := &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(s.cfg.Bucket),
			Key:             aws.String(s.fullKey(key)),
			UploadId:        uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		}
		if opts.IfAbsent {
			in.IfNoneMatch = aws.String("*")
		}
		var err error
		out, err = s.client.CompleteMultipartUpload(ctx, in)
		return s.wrap("complete multipart upload", key, err)
	})
	if err != nil {
		return objectstore.ObjectInfo{}, err
	}
	return objectstore.ObjectInfo{Key: key, Size: total, ModTime: time.Now(), ETag: aws.ToString(out.ETag)}, nil
}

// abort discards the upload's parts. It runs on a context detached from
// the caller's cancellation so a cancelled Put still cleans up.
func (s *Store) abort(ctx context.Context, key string, uploadID *string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_ = s.cfg.Retry.Do(actx, "abort", func(ctx context.Context) error {
		_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket:   aws.String(s.cfg.Bucket),
			Key:      aws.String(s.fullKey(key)),
			UploadId: uploadID,
		})
		if err = s.wrap("abort multipart upload", key, err); errors.Is(err, objectstore.ErrNotFound) {
			return nil
		}
		return err
	})
}
