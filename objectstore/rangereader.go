package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// RangeReader is an ObjectReader built on a Store's GetRange: each ReadAt
// is one ranged request. Backends without a cheaper handle return it from
// OpenReader.
type RangeReader struct {
	store Store
	key   string
	size  int64
}

var _ ObjectReader = (*RangeReader)(nil)

// NewRangeReader stats key and returns a reader of its ranges.
func NewRangeReader(ctx context.Context, s Store, key string) (*RangeReader, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	return &RangeReader{store: s, key: key, size: info.Size}, nil
}

// Size is the object's length when the reader was opened.
func (r *RangeReader) Size() int64 { return r.size }

// ReadAt reads len(p) bytes at off, or up to the end with io.EOF.
func (r *RangeReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", ErrInvalid, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), r.size-off)
	if want == 0 {
		return 0, nil
	}
	rc, err := r.store.GetRange(ctx, r.key, off, want)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p[:want])
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return n, fmt.Errorf("read %q at %d: %w", r.key, off, err)
	}
	if int64(n) < int64(len(p)) {
		return n, io.EOF
	}
	return n, nil
}

// Close releases nothing; it exists for the interface.
func (r *RangeReader) Close() error { return nil }

// ReaderAt adapts an ObjectReader to io.ReaderAt, using ctx for every read.
func ReaderAt(ctx context.Context, r ObjectReader) io.ReaderAt {
	return readerAt{ctx: ctx, r: r}
}

type readerAt struct {
	ctx context.Context
	r   ObjectReader
}

func (a readerAt) ReadAt(p []byte, off int64) (int, error) { return a.r.ReadAt(a.ctx, p, off) }
