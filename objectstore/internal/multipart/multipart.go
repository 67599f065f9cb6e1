package multipart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/stratalog/strata/objectstore"
)

// MaxParts is S3's limit on parts in one upload.
const MaxParts = 10000

// Pool hands out part buffers of one size.
type Pool struct {
	size int64
	p    sync.Pool
}

// NewPool returns a pool of partSize buffers.
func NewPool(partSize int64) *Pool {
	p := &Pool{size: partSize}
	p.p.New = func() any { b := make([]byte, partSize); return &b }
	return p
}

// PartSize is the size of the pool's buffers.
func (p *Pool) PartSize() int64 { return p.size }

// Get returns a buffer of PartSize bytes.
func (p *Pool) Get() *[]byte { return p.p.Get().(*[]byte) }

// Put returns a buffer.
func (p *Pool) Put(b *[]byte) { p.p.Put(b) }

// UploadFunc sends part num (1-based) with data; data is only valid
// during the call. It should retry on its own.
type UploadFunc func(ctx context.Context, num int32, data []byte) error

// Stream reads r in parts of the pool's size and calls upload for each,
// at most concurrency at once. first, if not nil, is an already-read
// full first part and is returned to the pool. size is r's exact length
// (first included) or objectstore.SizeUnknown. It returns the number of
// bytes sent once every upload has finished, or the first error.
func Stream(ctx context.Context, pool *Pool, concurrency int, first *[]byte, r io.Reader, size int64, upload UploadFunc) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	total, err := sendParts(ctx, pool, sem, &wg, first, r, size, func(num int32, bp *[]byte, n int) {
		defer wg.Done()
		defer func() { <-sem }()
		defer pool.Put(bp)
		if err := upload(ctx, num, (*bp)[:n]); err != nil {
			cancel(err)
		}
	})
	wg.Wait()
	if err == nil {
		err = context.Cause(ctx)
	}
	if err == nil && size >= 0 && total != size {
		err = fmt.Errorf("%w: reader gave %d bytes, size said %d", objectstore.ErrInvalid, total, size)
	}
	return total, err
}

func sendParts(ctx context.Context, pool *Pool, sem chan struct{}, wg *sync.WaitGroup, first *[]byte, r io.Reader, size int64, run func(int32, *[]byte, int)) (int64, error) {
	partSize := pool.PartSize()
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
					return total, CheckEOF(r, size)
				}
			}
			bp = pool.Get()
			var err error
			n, err = io.ReadFull(r, (*bp)[:want])
			ended := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
			if err != nil && !(size < 0 && ended) {
				pool.Put(bp)
				if ended {
					return total, fmt.Errorf("%w: reader ended after %d of the declared %d bytes", objectstore.ErrInvalid, total+int64(n), size)
				}
				return total, fmt.Errorf("read: %w", err)
			}
			if n == 0 {
				pool.Put(bp)
				return total, nil
			}
		}
		if num > MaxParts {
			pool.Put(bp)
			return total, fmt.Errorf("%w: object needs more than %d parts of %d bytes", objectstore.ErrInvalid, MaxParts, partSize)
		}
		total += int64(n)
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			pool.Put(bp)
			return total, context.Cause(ctx)
		}
		wg.Add(1)
		go run(num, bp, n)
		if size < 0 && n < int(partSize) {
			return total, nil
		}
	}
}

// CheckEOF checks that r has nothing after the declared size.
func CheckEOF(r io.Reader, size int64) error {
	var one [1]byte
	n, err := io.ReadFull(r, one[:])
	if n > 0 {
		return fmt.Errorf("%w: reader longer than the declared %d bytes", objectstore.ErrInvalid, size)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

// ReadFirst reads up to one part of a reader of unknown length. If the
// reader ends within it, small holds the whole object and first is nil;
// otherwise first is a full part from the pool to pass to Stream.
func ReadFirst(pool *Pool, r io.Reader) (small []byte, first *[]byte, err error) {
	bp := pool.Get()
	n, err := io.ReadFull(r, *bp)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		small = append([]byte(nil), (*bp)[:n]...)
		pool.Put(bp)
		return small, nil, nil
	case err != nil:
		pool.Put(bp)
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	return nil, bp, nil
}
