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
)

// abortTimeout bounds the clean-up of a failed upload, which runs even
// when the caller's context is already cancelled.
const abortTimeout = 30 * time.Second

// upload is one multipart upload in progress.
type upload struct {
	s        *Store
	key      string
	uploadID string
	ctx      context.Context // cancelled on the first failed part
	cancel   context.CancelCauseFunc
	sem      chan struct{}
	wg       sync.WaitGroup
	mu       struct {
		sync.Mutex
		parts []types.CompletedPart
	}
}

// putMultipart streams r in parts. first, when not nil, is an already
// read full part (from probing a reader of unknown length). size is the
// exact length of r (including first) or SizeUnknown.
func (s *Store) putMultipart(ctx context.Context, key string, first *[]byte, r io.Reader, size int64, opts objectstore.PutOptions) (info objectstore.ObjectInfo, err error) {
	if first != nil {
		defer func() {
			if first != nil {
				s.bufs.Put(first)
			}
		}()
	}
	if size > int64(maxParts)*s.cfg.PartSize {
		return info, s.invalid("put", key, fmt.Errorf("%w: %d bytes need more than %d parts of %d", objectstore.ErrInvalid, size, maxParts, s.cfg.PartSize))
	}
	if opts.IfAbsent {
		// Fail fast before sending any data; the If-None-Match on
		// CompleteMultipartUpload is what decides a race.
		if _, err := s.Stat(ctx, key); err == nil {
			return info, &objectstore.Error{Backend: "s3", Bucket: s.cfg.Bucket, Op: "put", Key: key,
				Class: objectstore.ErrPreconditionFailed, Err: errors.New("key exists")}
		} else if !errors.Is(err, objectstore.ErrNotFound) {
			return info, err
		}
	}
	var created *s3.CreateMultipartUploadOutput
	err = s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
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
		return info, err
	}
	u := &upload{s: s, key: key, uploadID: aws.ToString(created.UploadId), sem: make(chan struct{}, s.cfg.PartConcurrency)}
	u.ctx, u.cancel = context.WithCancelCause(ctx)
	defer u.cancel(nil)

	total, err := u.sendParts(first, r, size)
	first = nil // owned by sendParts now
	u.wg.Wait()
	if err == nil {
		err = context.Cause(u.ctx)
	}
	if err == nil && size >= 0 && total != size {
		err = fmt.Errorf("%w: reader gave %d bytes, size said %d", objectstore.ErrInvalid, total, size)
	}
	if err == nil {
		info, err = u.complete(ctx, total, opts)
	}
	if err != nil {
		u.abort(ctx)
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	return info, nil
}

// sendParts reads r part by part and starts an upload of each, at most
// PartConcurrency at once. It returns the bytes read.
func (u *upload) sendParts(first *[]byte, r io.Reader, size int64) (int64, error) {
	partSize := u.s.cfg.PartSize
	var total int64
	for num := int32(1); ; num++ {
		var bp *[]byte
		var n int
		if num == 1 && first != nil {
			bp, n = first, len(*first)
		} else {
			want := partSize
			if size >= 0 {
				want = min(partSize, size-total)
				if want == 0 {
					return total, checkEOF(r, size)
				}
			}
			bp = u.s.bufs.Get().(*[]byte)
			var err error
			n, err = io.ReadFull(r, (*bp)[:want])
			if err != nil && !(size < 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF))) {
				u.s.bufs.Put(bp)
				if size >= 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
					return total, fmt.Errorf("%w: reader ended after %d of the declared %d bytes", objectstore.ErrInvalid, total+int64(n), size)
				}
				return total, fmt.Errorf("read: %w", err)
			}
			if n == 0 {
				u.s.bufs.Put(bp)
				return total, nil
			}
		}
		if num > maxParts {
			u.s.bufs.Put(bp)
			return total, fmt.Errorf("%w: object needs more than %d parts of %d bytes", objectstore.ErrInvalid, maxParts, partSize)
		}
		total += int64(n)
		select {
		case u.sem <- struct{}{}:
		case <-u.ctx.Done():
			u.s.bufs.Put(bp)
			return total, context.Cause(u.ctx)
		}
		u.wg.Add(1)
		go u.runPart(num, bp, n)
		if size < 0 && n < int(partSize) {
			return total, nil
		}
	}
}

// runPart uploads one part and returns its buffer to the pool.
func (u *upload) runPart(num int32, bp *[]byte, n int) {
	defer u.wg.Done()
	defer func() { <-u.sem }()
	defer u.s.bufs.Put(bp)
	data := (*bp)[:n]
	var out *s3.UploadPartOutput
	err := u.s.cfg.Retry.Do(u.ctx, "put", func(ctx context.Context) error {
		var err error
		out, err = u.s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:        aws.String(u.s.cfg.Bucket),
			Key:           aws.String(u.s.fullKey(u.key)),
			UploadId:      aws.String(u.uploadID),
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(data),
			ContentLength: aws.Int64(int64(n)),
			// Each part carries its CRC32C, checked by the store, and the
			// completed object's composite checksum covers them all.
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
		})
		return u.s.wrap(fmt.Sprintf("upload part %d", num), u.key, err)
	})
	if err != nil {
		u.cancel(err)
		return
	}
	u.mu.Lock()
	u.mu.parts = append(u.mu.parts, types.CompletedPart{
		PartNumber:     aws.Int32(num),
		ETag:           out.ETag,
		ChecksumCRC32C: out.ChecksumCRC32C,
	})
	u.mu.Unlock()
}

func (u *upload) complete(ctx context.Context, total int64, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	u.mu.Lock()
	parts := u.mu.parts
	u.mu.Unlock()
	sort.Slice(parts, func(i, j int) bool { return *parts[i].PartNumber < *parts[j].PartNumber })
	var out *s3.CompleteMultipartUploadOutput
	err := u.s.cfg.Retry.Do(ctx, "put", func(ctx context.Context) error {
		in := &s3.CompleteMultipartUploadInput{
			Bucket:          aws.String(u.s.cfg.Bucket),
			Key:             aws.String(u.s.fullKey(u.key)),
			UploadId:        aws.String(u.uploadID),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		}
		if opts.IfAbsent {
			in.IfNoneMatch = aws.String("*")
		}
		var err error
		out, err = u.s.client.CompleteMultipartUpload(ctx, in)
		return u.s.wrap("complete multipart upload", u.key, err)
	})
	if err != nil {
		return objectstore.ObjectInfo{}, err
	}
	return objectstore.ObjectInfo{Key: u.key, Size: total, ModTime: time.Now(), ETag: aws.ToString(out.ETag)}, nil
}

// abort discards the upload's parts. It runs on a context detached from
// the caller's cancellation so a cancelled Put still cleans up.
func (u *upload) abort(ctx context.Context) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_ = u.s.cfg.Retry.Do(actx, "abort", func(ctx context.Context) error {
		_, err := u.s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket:   aws.String(u.s.cfg.Bucket),
			Key:      aws.String(u.s.fullKey(u.key)),
			UploadId: aws.String(u.uploadID),
		})
		if err = u.s.wrap("abort multipart upload", u.key, err); errors.Is(err, objectstore.ErrNotFound) {
			return nil
		}
		return err
	})
}
