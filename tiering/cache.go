package tiering

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// chunkCache keeps byte ranges ("chunks") of remote segment objects as
// files in its own directory, evicting the least recently used chunks
// when over its byte budget. A chunk handed to a reader is an open file:
// evicting it unlinks the file, and the reader keeps its descriptor until
// it releases it, so the cache never pulls data out from under a fetch.
// The directory is emptied at start: chunks are copies of immutable
// objects and can always be fetched again.
type chunkCache struct {
	dir string
	max int64

	mu struct {
		sync.Mutex
		used     int64
		lru      *list.List // of *cacheEntry, most recent at the front
		entries  map[chunkKey]*list.Element
		inflight map[chunkKey]*flight
	}
	hits, misses func()
	bytes        func(int64)
}

type chunkKey struct {
	object string
	index  int64
}

type cacheEntry struct {
	key  chunkKey
	path string
	size int64
}

type flight struct {
	done chan struct{}
	err  error
}

func newChunkCache(dir string, maxBytes int64) (*chunkCache, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("emptying chunk cache: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("chunk cache: %w", err)
	}
	c := &chunkCache{dir: dir, max: maxBytes, hits: func() {}, misses: func() {}, bytes: func(int64) {}}
	c.mu.lru = list.New()
	c.mu.entries = map[chunkKey]*list.Element{}
	c.mu.inflight = map[chunkKey]*flight{}
	return c, nil
}

func (c *chunkCache) pathFor(k chunkKey) string {
	h := sha256.Sum256([]byte(k.object))
	return filepath.Join(c.dir, fmt.Sprintf("%s-%d", hex.EncodeToString(h[:12]), k.index))
}

// contains reports whether the chunk is cached or being filled (without
// touching the LRU): either way a prefetch of it has nothing to do.
func (c *chunkCache) contains(k chunkKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.mu.entries[k]
	_, filling := c.mu.inflight[k]
	return ok || filling
}

// open returns the cached chunk as an open file, fetching it with fill
// (which writes the chunk into f) when it is missing. Concurrent opens of
// one missing chunk share a single fill.
func (c *chunkCache) open(ctx context.Context, k chunkKey, fill func(ctx context.Context, f *os.File) (int64, error)) (*os.File, error) {
	for {
		c.mu.Lock()
		if el, ok := c.mu.entries[k]; ok {
			c.mu.lru.MoveToFront(el)
			f, err := os.Open(el.Value.(*cacheEntry).path)
			c.mu.Unlock()
			c.hits()
			return f, err
		}
		if fl, ok := c.mu.inflight[k]; ok {
			c.mu.Unlock()
			select {
			case <-fl.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if fl.err != nil {
				return nil, fl.err
			}
			continue
		}
		fl := &flight{done: make(chan struct{})}
		c.mu.inflight[k] = fl
		c.mu.Unlock()
		c.misses()
		fl.err = c.fill(ctx, k, fill)
		c.mu.Lock()
		delete(c.mu.inflight, k)
		c.mu.Unlock()
		close(fl.done)
		if fl.err != nil {
			return nil, fl.err
		}
	}
}

func (c *chunkCache) fill(ctx context.Context, k chunkKey, fill func(ctx context.Context, f *os.File) (int64, error)) error {
	path := c.pathFor(k)
	tmp, err := os.CreateTemp(c.dir, "fill-*")
	if err != nil {
		return err
	}
	n, err := fill(ctx, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	c.mu.Lock()
	el := c.mu.lru.PushFront(&cacheEntry{key: k, path: path, size: n})
	c.mu.entries[k] = el
	c.mu.used += n
	c.evictLocked()
	used := c.mu.used
	c.mu.Unlock()
	c.bytes(used)
	return nil
}

// evictLocked drops least recently used chunks while over budget, always
// keeping the newest one.
func (c *chunkCache) evictLocked() {
	for c.mu.used > c.max && c.mu.lru.Len() > 1 {
		el := c.mu.lru.Back()
		e := el.Value.(*cacheEntry)
		c.mu.lru.Remove(el)
		delete(c.mu.entries, e.key)
		c.mu.used -= e.size
		_ = os.Remove(e.path)
	}
}

// drop forgets one chunk.
func (c *chunkCache) drop(k chunkKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.mu.entries[k]; ok {
		e := el.Value.(*cacheEntry)
		c.mu.lru.Remove(el)
		delete(c.mu.entries, k)
		c.mu.used -= e.size
		_ = os.Remove(e.path)
	}
}

// dropObject forgets every chunk of an object (deleted remotely).
func (c *chunkCache) dropObject(object string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.mu.entries {
		if k.object == object {
			e := el.Value.(*cacheEntry)
			c.mu.lru.Remove(el)
			delete(c.mu.entries, k)
			c.mu.used -= e.size
			_ = os.Remove(e.path)
		}
	}
}
