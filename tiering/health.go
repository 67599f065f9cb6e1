package tiering

import (
	"io"
	"time"
)

// Upload health: an upload that moves no bytes for UploadStallTimeout is
// reported stalled (strata_tier_upload_failing, _upload_stalled_seconds)
// while it waits for its request timeout: a hung store shows at once.

// progress records that the partition's upload moved bytes (or started a
// new request).
func (p *Partition) progress() { p.lastProgress.Store(time.Now().UnixNano()) }

// stalledFor returns how long the running upload has made no progress,
// once that passes the stall timeout, else 0.
func (p *Partition) stalledFor(now time.Time) time.Duration {
	last := p.lastProgress.Load()
	if last == 0 {
		return 0
	}
	d := now.Sub(time.Unix(0, last))
	if d < p.m.cfg.UploadStallTimeout {
		return 0
	}
	return d
}

// progressReader marks progress whenever the store takes bytes.
type progressReader struct {
	r io.Reader
	p *Partition
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.p.progress()
	}
	return n, err
}
