package storage

import "sync"

// maxOpenSealed bounds how many sealed segments of one log keep their .log
// open after their readers released them: the most recently read ones, so
// that consumers reading through a segment do not reopen it for every
// fetch. The others are closed and reopened on the next read. With the
// active segment's three files, a log holds at most maxOpenSealed+3
// descriptors plus those of segments readers are using at the moment.
const maxOpenSealed = 4

// fileCache is a log's least-recently-used list of settled segments whose
// .log was opened by a read and is kept open. Lock order: fileCache.mu,
// then segment.fmu; segment code never takes mu while holding fmu.
type fileCache struct {
	mu   sync.Mutex
	max  int
	open []*segment // least recently used first
}

func newFileCache(max int) *fileCache { return &fileCache{max: max} }

// touch marks s used now and closes idle files over the bound.
func (c *fileCache) touch(s *segment) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.remove(s)
	s.fmu.Lock()
	keep := s.log != nil && s.settled && !s.gone
	s.fmu.Unlock()
	if keep {
		c.open = append(c.open, s)
	}
	c.trimLocked()
	c.mu.Unlock()
}

func (c *fileCache) trimLocked() {
	for i := 0; len(c.open) > c.max && i < len(c.open); {
		if c.open[i].closeIdle() {
			c.open = append(c.open[:i], c.open[i+1:]...)
			continue
		}
		i++ // in use by a reader: closed at a later release
	}
}

// idle is called when the last reader released s: its .log is closed
// unless the cache keeps it, and idle files over the bound are closed.
func (c *fileCache) idle(s *segment) {
	if c == nil {
		return
	}
	c.mu.Lock()
	kept := false
	for _, x := range c.open {
		kept = kept || x == s
	}
	if !kept {
		s.closeIdle()
	}
	c.trimLocked()
	c.mu.Unlock()
}

// forget drops s from the list (its file is closed or held elsewhere).
func (c *fileCache) forget(s *segment) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.remove(s)
	c.mu.Unlock()
}

func (c *fileCache) remove(s *segment) {
	for i, x := range c.open {
		if x == s {
			c.open = append(c.open[:i], c.open[i+1:]...)
			return
		}
	}
}
