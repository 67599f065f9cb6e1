package objectstore

import (
	"context"
	"io"
	"time"
)

// SizeUnknown is passed to Store.Put when the length of the reader is not
// known in advance; the backend then streams it in parts.
const SizeUnknown int64 = -1

// Store is the object storage the cold tier writes to and reads from. All
// methods are safe for concurrent use. Errors are *Error values classified
// by the sentinels in this package (test them with errors.Is).
type Store interface {
	// Put writes the object key atomically from r: once Put returns nil the
	// whole object is visible, and if it fails or ctx is cancelled no part
	// of it is. size is the exact length of r, or SizeUnknown. Large
	// objects are streamed in parts and never held whole in memory. With
	// opts.IfAbsent the write fails with ErrPreconditionFailed when key
	// already exists, and exactly one of several racing writers wins.
	Put(ctx context.Context, key string, r io.Reader, size int64, opts PutOptions) (ObjectInfo, error)

	// GetRange returns a reader of length bytes of key starting at off; a
	// negative length reads to the end. A range running past the end is cut
	// at the end; off beyond the end is ErrInvalid. The reader is bound to
	// ctx and must be closed.
	GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error)

	// OpenReader returns a handle for many range reads of one object.
	OpenReader(ctx context.Context, key string) (ObjectReader, error)

	// Stat returns the object's size and metadata, or ErrNotFound.
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// List returns one page of the objects whose keys start with
	// opts.Prefix, in ascending key order. Pass the returned NextCursor
	// back as opts.Cursor to get the following page; it is empty after
	// the last page.
	List(ctx context.Context, opts ListOptions) (ListPage, error)

	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error

	// Close releases the clients and connections the store holds.
	Close() error
}

// ObjectReader reads byte ranges of one object. ReadAt follows the
// io.ReaderAt contract (a short read comes with an error, io.EOF at the
// end) but takes the context of each read.
type ObjectReader interface {
	ReadAt(ctx context.Context, p []byte, off int64) (int, error)
	// Size is the object's length when the reader was opened.
	Size() int64
	Close() error
}

// PutOptions modifies a Put.
type PutOptions struct {
	// IfAbsent makes the write conditional on key not existing.
	IfAbsent bool
	// ContentType is stored with the object where the backend supports it.
	ContentType string
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
	// ETag is the backend's version tag (an S3 ETag, a GCS generation, a
	// file's size and mtime); it changes whenever the object is replaced.
	ETag string
}

// ListOptions selects a page of a listing.
type ListOptions struct {
	Prefix string
	// Cursor is the NextCursor of the previous page; empty for the first.
	Cursor string
	// Limit caps the page size; 0 means DefaultListLimit.
	Limit int
}

// DefaultListLimit is the page size of List when ListOptions.Limit is 0;
// it is also the largest page any backend returns.
const DefaultListLimit = 1000

// ListPage is one page of a listing.
type ListPage struct {
	Objects []ObjectInfo
	// NextCursor continues the listing; empty when there is nothing more.
	NextCursor string
}

// PageLimit returns the effective page size for opts.
func (o ListOptions) PageLimit() int {
	if o.Limit <= 0 || o.Limit > DefaultListLimit {
		return DefaultListLimit
	}
	return o.Limit
}
