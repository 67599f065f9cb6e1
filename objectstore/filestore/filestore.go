package filestore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stratalog/strata/objectstore"
)

// tmpDirName is the store's private directory for in-flight writes; no
// key may begin with it.
const tmpDirName = ".strata-tmp"

// staleTmpAge is how old a temporary file must be before Open sweeps it
// when nothing else shows its writer is gone.
const staleTmpAge = time.Hour

// tmpOwner tags this process's temporary files ("put-<host>-<pid>-*"): a
// store opened later on the same host sweeps at once the files of writers
// that no longer run (a SIGKILLed broker's uploads), and leaves those of
// live processes and other hosts (a shared directory) to staleTmpAge.
var tmpOwner = fmt.Sprintf("%08x-%d", hostTag(), os.Getpid())

func hostTag() uint32 {
	h, _ := os.Hostname()
	f := fnv.New32a()
	f.Write([]byte(h))
	return f.Sum32()
}

// deadWriter reports whether a temporary file's name says it was written
// by a process of this host that no longer exists.
func deadWriter(name string) bool {
	parts := strings.SplitN(name, "-", 4)
	if len(parts) != 4 || parts[0] != "put" || parts[1] != fmt.Sprintf("%08x", hostTag()) {
		return false
	}
	pid, err := strconv.Atoi(parts[2])
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// Config configures a file store.
type Config struct {
	// Dir is the absolute root directory; it is created if missing.
	Dir string
	// NoSync skips fsync calls; only for benchmarks of the raw path.
	NoSync bool
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		return fmt.Errorf("%w: filestore: directory %q must be absolute", objectstore.ErrInvalid, c.Dir)
	}
	return nil
}

// Store is a Store over a local directory.
type Store struct {
	root string
	tmp  string
	cfg  Config
}

var _ objectstore.Store = (*Store)(nil)

// Open creates the directory if needed, checks it is writable and sweeps
// stale temporary files.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{root: filepath.Clean(cfg.Dir), cfg: cfg}
	s.tmp = filepath.Join(s.root, tmpDirName)
	if err := os.MkdirAll(s.tmp, 0o755); err != nil {
		return nil, s.wrap("open", "", err)
	}
	probe, err := os.CreateTemp(s.tmp, "probe-*")
	if err != nil {
		return nil, s.wrap("open", "", fmt.Errorf("directory not writable: %w", err))
	}
	probe.Close()
	os.Remove(probe.Name())
	s.sweepTmp()
	return s, nil
}

func (s *Store) sweepTmp() {
	entries, err := os.ReadDir(s.tmp)
	if err != nil {
		return
	}
	for _, e := range entries {
		if deadWriter(e.Name()) {
			os.Remove(filepath.Join(s.tmp, e.Name()))
		} else if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleTmpAge {
			os.Remove(filepath.Join(s.tmp, e.Name()))
		}
	}
}

// Dir is the store's root directory.
func (s *Store) Dir() string { return s.root }

func (s *Store) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	return &objectstore.Error{Backend: "file", Bucket: s.root, Op: op, Key: key, Class: classify(err), Err: err}
}

func classify(err error) objectstore.Class {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil
	case errors.Is(err, objectstore.ErrInvalid):
		return objectstore.ErrInvalid
	case errors.Is(err, objectstore.ErrPreconditionFailed):
		return objectstore.ErrPreconditionFailed
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return objectstore.ErrNotFound
	case errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS):
		return objectstore.ErrPermission
	case errors.Is(err, syscall.EISDIR):
		return objectstore.ErrInvalid
	}
	return objectstore.ErrUnknown
}

// path resolves key beneath the root.
func (s *Store) path(key string) (string, error) {
	if err := objectstore.ValidateKey(key); err != nil {
		return "", err
	}
	if key == tmpDirName || strings.HasPrefix(key, tmpDirName+"/") {
		return "", fmt.Errorf("%w: key %q is reserved", objectstore.ErrInvalid, key)
	}
	p := filepath.Join(s.root, filepath.FromSlash(key))
	if !strings.HasPrefix(p, s.root+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: key %q escapes the store", objectstore.ErrInvalid, key)
	}
	return p, nil
}

// Put writes key through a synced temporary file and an atomic rename, or
// for IfAbsent a hard link that fails if key exists.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts objectstore.PutOptions) (objectstore.ObjectInfo, error) {
	dst, err := s.path(key)
	if err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	f, err := os.CreateTemp(s.tmp, "put-"+tmpOwner+"-*")
	if err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	tmp := f.Name()
	committed := false
	defer func() {
		if !committed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, ctxReader{ctx: ctx, r: r})
	if err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, fmt.Errorf("write: %w", err))
	}
	if size >= 0 && n != size {
		return objectstore.ObjectInfo{}, s.wrap("put", key, fmt.Errorf("%w: reader gave %d bytes, size said %d", objectstore.ErrInvalid, n, size))
	}
	if !s.cfg.NoSync {
		if err := f.Sync(); err != nil {
			return objectstore.ObjectInfo{}, s.wrap("put", key, fmt.Errorf("fsync: %w", err))
		}
	}
	if err := f.Close(); err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	if err := ctx.Err(); err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	dir := filepath.Dir(dst)
	if err := s.mkdirAll(dir); err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	if opts.IfAbsent {
		if err := os.Link(tmp, dst); err != nil {
			if errors.Is(err, fs.ErrExist) {
				err = fmt.Errorf("%w: key exists", objectstore.ErrPreconditionFailed)
			}
			return objectstore.ObjectInfo{}, s.wrap("put", key, err)
		}
		os.Remove(tmp)
	} else if err := os.Rename(tmp, dst); err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	committed = true
	if err := s.syncDir(dir); err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return objectstore.ObjectInfo{}, s.wrap("put", key, err)
	}
	return info(key, fi), nil
}

// mkdirAll creates dir and its missing parents under the root, syncing
// each parent that gained an entry so the new path survives a crash.
func (s *Store) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%w: %s is an object, not a directory", objectstore.ErrInvalid, dir)
		}
		return nil
	}
	if dir == s.root {
		return os.MkdirAll(dir, 0o755)
	}
	parent := filepath.Dir(dir)
	if err := s.mkdirAll(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return s.syncDir(parent)
}

func (s *Store) syncDir(dir string) error {
	if s.cfg.NoSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

func info(key string, fi os.FileInfo) objectstore.ObjectInfo {
	return objectstore.ObjectInfo{
		Key:     key,
		Size:    fi.Size(),
		ModTime: fi.ModTime(),
		ETag:    strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16),
	}
}

// openFile opens key for reading, refusing directories.
func (s *Store) openFile(op, key string) (*os.File, os.FileInfo, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, nil, s.wrap(op, key, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, s.wrap(op, key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, s.wrap(op, key, err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, nil, s.wrap(op, key, fs.ErrNotExist)
	}
	return f, fi, nil
}

// GetRange returns a reader of a byte range of key.
func (s *Store) GetRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.wrap("get", key, err)
	}
	f, fi, err := s.openFile("get", key)
	if err != nil {
		return nil, err
	}
	if off < 0 || off > fi.Size() {
		f.Close()
		return nil, s.wrap("get", key, fmt.Errorf("%w: offset %d outside object of %d bytes", objectstore.ErrInvalid, off, fi.Size()))
	}
	n := fi.Size() - off
	if length >= 0 && length < n {
		n = length
	}
	return &rangeBody{Reader: io.NewSectionReader(f, off, n), f: f, ctx: ctx}, nil
}

type rangeBody struct {
	io.Reader
	f   *os.File
	ctx context.Context
}

func (b *rangeBody) Read(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	return b.Reader.Read(p)
}

func (b *rangeBody) Close() error { return b.f.Close() }

// OpenReader returns a handle that reads ranges from one open file.
func (s *Store) OpenReader(ctx context.Context, key string) (objectstore.ObjectReader, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.wrap("open", key, err)
	}
	f, fi, err := s.openFile("open", key)
	if err != nil {
		return nil, err
	}
	return &fileReader{f: f, size: fi.Size()}, nil
}

type fileReader struct {
	f    *os.File
	size int64
}

func (r *fileReader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("%w: negative offset %d", objectstore.ErrInvalid, off)
	}
	return r.f.ReadAt(p, off)
}

func (r *fileReader) Size() int64  { return r.size }
func (r *fileReader) Close() error { return r.f.Close() }

// Stat returns key's size and modification time.
func (s *Store) Stat(ctx context.Context, key string) (objectstore.ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return objectstore.ObjectInfo{}, s.wrap("stat", key, err)
	}
	p, err := s.path(key)
	if err != nil {
		return objectstore.ObjectInfo{}, s.wrap("stat", key, err)
	}
	fi, err := os.Stat(p)
	if err == nil && fi.IsDir() {
		err = fs.ErrNotExist
	}
	if err != nil {
		return objectstore.ObjectInfo{}, s.wrap("stat", key, err)
	}
	return info(key, fi), nil
}

// List walks the deepest directory that contains every key with the
// prefix, sorts the matching keys and returns those after the cursor.
func (s *Store) List(ctx context.Context, opts objectstore.ListOptions) (objectstore.ListPage, error) {
	if err := objectstore.ValidatePrefix(opts.Prefix); err != nil {
		return objectstore.ListPage{}, s.wrap("list", opts.Prefix, err)
	}
	start := s.root
	if i := strings.LastIndexByte(opts.Prefix, '/'); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(opts.Prefix[:i]))
	}
	var keys []objectstore.ObjectInfo
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		rel, rerr := filepath.Rel(s.root, p)
		if rerr != nil {
			return rerr
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if key == tmpDirName {
				return filepath.SkipDir
			}
			// Skip directories that cannot hold a matching key.
			if p != start && !strings.HasPrefix(key+"/", opts.Prefix) && !strings.HasPrefix(opts.Prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, opts.Prefix) || key <= opts.Cursor {
			return nil
		}
		fi, ierr := d.Info()
		if ierr != nil {
			if errors.Is(ierr, fs.ErrNotExist) {
				return nil // deleted while listing
			}
			return ierr
		}
		keys = append(keys, info(key, fi))
		return nil
	})
	if err != nil {
		return objectstore.ListPage{}, s.wrap("list", opts.Prefix, err)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Key < keys[j].Key })
	var page objectstore.ListPage
	limit := opts.PageLimit()
	if len(keys) > limit {
		keys = keys[:limit]
		page.NextCursor = keys[limit-1].Key
	}
	page.Objects = keys
	return page, nil
}

// Delete removes key; a missing key is not an error. Directories left
// empty are kept: they are cheap and removing them races with writers.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return s.wrap("delete", key, err)
	}
	p, err := s.path(key)
	if err != nil {
		return s.wrap("delete", key, err)
	}
	if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
		return s.wrap("delete", key, err)
	}
	if !s.cfg.NoSync {
		if err := s.syncDir(filepath.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return s.wrap("delete", key, err)
		}
	}
	return nil
}

// Close does nothing; the store holds no open files between calls.
func (s *Store) Close() error { return nil }

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
