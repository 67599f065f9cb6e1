package tiering

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stratalog/strata/objectstore"
)

// The log start offset set by DeleteRecords is the whole log's, as in
// Kafka: it may lie inside the remote part. It is kept durably beside the
// local manifest (<partition dir>/remote-log-start, decimal) and published
// to the store (<root>log-start, JSON {"version":1,"log_start_offset":N})
// so a broker restored from the store alone does not serve deleted records
// again. Remote segments wholly below it are deleted by remote retention.

const logStartName = "remote-log-start"

func logStartKey(root string) string { return root + "log-start" }

// readLogStartFile returns the persisted log start, or -1 when none.
func readLogStartFile(dir string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(dir, logStartName))
	if errors.Is(err, os.ErrNotExist) {
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v < 0 {
		return -1, fmt.Errorf("%w: %s: %q", ErrCorruptManifest, logStartName, b)
	}
	return v, nil
}

// writeLogStartFile persists the log start atomically (temp file, fsync,
// rename, directory fsync).
func writeLogStartFile(dir string, v int64) error {
	tmp := filepath.Join(dir, logStartName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.FormatInt(v, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, logStartName)); err != nil {
		return err
	}
	return syncDir(dir)
}

type logStartJSON struct {
	Version  int   `json:"version"`
	LogStart int64 `json:"log_start_offset"`
}

// fetchLogStart reads the published log start; -1 when there is none.
func (p *Partition) fetchLogStart(ctx context.Context) (int64, error) {
	rc, err := p.m.store.GetRange(ctx, logStartKey(p.root), 0, -1)
	if errors.Is(err, objectstore.ErrNotFound) {
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4096))
	if err != nil {
		return -1, err
	}
	var v logStartJSON
	if err := json.Unmarshal(b, &v); err != nil || v.Version != 1 || v.LogStart < 0 {
		return -1, fmt.Errorf("%w: %s: %q", ErrCorruptManifest, logStartKey(p.root), b)
	}
	return v.LogStart, nil
}

// DeleteRecordsBefore moves the partition's log start (both tiers) to
// offset, durably on local disk before it returns; the store learns it
// from the planner. A lower offset than the current start is ignored.
// The caller deletes the local records below offset itself.
func (p *Partition) DeleteRecordsBefore(offset int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if offset <= p.logStart.Load() {
		return nil
	}
	if err := writeLogStartFile(p.dir, offset); err != nil {
		return fmt.Errorf("persisting log start %d of %s: %w", offset, p.id, err)
	}
	p.logStart.Store(offset)
	return nil
}

// runPublishLogStart writes the log start to the store.
func (p *Partition) runPublishLogStart(v int64) {
	defer p.m.wg.Done()
	ctx, cancel := context.WithTimeout(p.m.ctx, p.m.cfg.RequestTimeout)
	defer cancel()
	b, _ := json.Marshal(logStartJSON{Version: 1, LogStart: v})
	_, err := p.m.store.Put(ctx, logStartKey(p.root), bytes.NewReader(b), int64(len(b)), objectstore.PutOptions{ContentType: "application/json"})
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.publishing = false
	if err != nil {
		p.m.log.Warn("publishing the log start offset; will retry", "partition", p.id, "log_start", v, "err", err)
		return
	}
	p.mu.published = max(p.mu.published, v)
}

// retryAtAttach runs a store read of Attach until it succeeds, fails for
// good, or five attempts failed retriably (throttling, transient errors).
func retryAtAttach(ctx context.Context, backoff time.Duration, fn func() error) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if err = fn(); err == nil || !objectstore.Retryable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff << attempt):
		}
	}
	return err
}
