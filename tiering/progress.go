package tiering

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stratalog/strata/objectstore"
)

// maxSpans bounds the spans a partition keeps (and its progress object
// carries): a busy partition adds one per instant, an idle one extends its
// last. Older instants of busy partitions stay in their manifest entries.
const maxSpans = 16

// maxPendingFacts bounds the instants waiting for their upload.
const maxPendingFacts = 64

type fact struct {
	tick, offset int64
}

// observeInstant is run by a leader before it plans: it moves the log to
// the latest roll instant (which rolls the active segment at it) and keeps
// the instant's offset until the store holds everything below it.
func (p *Partition) observeInstant(now time.Time, epoch int32) {
	nowMs := now.UnixMilli()
	p.mu.Lock()
	if p.mu.factEpoch != epoch {
		// Instants before this broker led the partition are not its to
		// tell: its log was a follower's.
		p.mu.factEpoch, p.mu.leaderSince, p.mu.pending, p.mu.publishedTo = epoch, nowMs, nil, 0
	}
	since := p.mu.leaderSince
	p.mu.Unlock()
	tick, off, err := p.src.Log().TickBoundary(now)
	if err != nil || off < 0 || tick <= since {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.factEpoch != epoch {
		return
	}
	if n := len(p.mu.pending); n > 0 && p.mu.pending[n-1].tick >= tick {
		return
	}
	p.mu.pending = append(p.mu.pending, fact{tick, off})
	if len(p.mu.pending) > maxPendingFacts {
		p.mu.pending = append(p.mu.pending[:0], p.mu.pending[len(p.mu.pending)-maxPendingFacts:]...)
	}
}

// forgetInstants is run when the broker no longer leads the partition.
func (p *Partition) forgetInstants() {
	p.mu.Lock()
	p.mu.factEpoch, p.mu.pending, p.mu.publishedTo = noSync, nil, 0
	p.mu.Unlock()
}

// certifyInstants turns the pending instants the store now covers
// (everything below their offset uploaded) into spans.
func (p *Partition) certifyInstants(uploadedEnd int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := 0
	for ; i < len(p.mu.pending); i++ {
		f := p.mu.pending[i]
		if f.offset > uploadedEnd {
			break
		}
		n := len(p.mu.spans)
		if n > 0 && p.mu.spans[n-1].Offset == f.offset && p.mu.spans[n-1].Epoch == p.mu.factEpoch && p.mu.spans[n-1].To < f.tick {
			p.mu.spans[n-1].To = f.tick
			continue
		}
		p.mu.spans = append(p.mu.spans, Span{From: f.tick, To: f.tick, Offset: f.offset, Epoch: p.mu.factEpoch})
		if len(p.mu.spans) > maxSpans {
			p.mu.spans = append(p.mu.spans[:0], p.mu.spans[len(p.mu.spans)-maxSpans:]...)
		}
	}
	p.mu.pending = append(p.mu.pending[:0], p.mu.pending[i:]...)
}

// sealTickFor returns the instant to record in the entry of a segment the
// log rolled at sealTick, or 0 when this broker did not lead the partition
// then.
func (p *Partition) sealTickFor(sealTick int64) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sealTick > 0 && p.mu.factEpoch != noSync && sealTick > p.mu.leaderSince {
		return sealTick
	}
	return 0
}

// CopyLag is how far the store's copy of the partition trails: the time
// since the latest instant up to which the store holds everything the
// partition had (on the leader; ok is false elsewhere and without roll
// instants).
func (p *Partition) CopyLag(now time.Time) (lag time.Duration, ok bool) {
	if p.m.cfg.UploadMaxInterval <= 0 || !p.src.IsLeader() || !p.src.Policy().RemoteEnabled {
		return 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.factEpoch == noSync {
		return 0, false
	}
	// What a restore can use: instants certified and written in a
	// progress object (an idle partition's latest instants are only in
	// the progress object).
	from := max(p.mu.leaderSince, p.mu.publishedTo)
	return max(0, now.Sub(time.UnixMilli(from))), true
}

// Spans returns the partition's certified spans (oldest first).
func (p *Partition) Spans() []Span {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Span(nil), p.mu.spans...)
}

// Progress is a broker's progress object, `<prefix>/_progress/<node id>`:
// for every partition it leads, the spans of roll instants whose records
// the store holds. It is overwritten (it only ever grows more recent).
type Progress struct {
	Version        int                 `json:"version"`
	NodeID         int32               `json:"node_id"`
	WrittenAtMs    int64               `json:"written_at_ms"`
	RollIntervalMs int64               `json:"roll_interval_ms"`
	Partitions     []PartitionProgress `json:"partitions"`
}

// PartitionProgress is one partition's spans in a progress object.
type PartitionProgress struct {
	Topic     string `json:"topic"`
	TopicID   string `json:"topic_id"`
	Partition int32  `json:"partition"`
	Spans     []Span `json:"spans"`
}

// ProgressPrefix is where the progress objects live.
func ProgressPrefix(prefix string) string { return prefix + "/_progress/" }

func progressKey(prefix string, node int32) string {
	return ProgressPrefix(prefix) + strconv.Itoa(int(node))
}

// published is a partition's latest instant in a progress object being
// written.
type published struct {
	p     *Partition
	epoch int32
	to    int64
}

// progress gathers the current progress object.
func (m *Manager) progress(now time.Time) (Progress, []published) {
	pr := Progress{Version: 1, NodeID: m.cfg.NodeID, WrittenAtMs: now.UnixMilli(), RollIntervalMs: m.cfg.UploadMaxInterval.Milliseconds()}
	var marks []published
	for _, p := range m.partitions() {
		if !p.src.IsLeader() {
			continue
		}
		spans := p.Spans()
		if len(spans) == 0 {
			continue
		}
		last := spans[len(spans)-1]
		marks = append(marks, published{p, last.Epoch, last.To})
		pr.Partitions = append(pr.Partitions, PartitionProgress{
			Topic: p.id.Topic, TopicID: hex.EncodeToString(p.id.TopicID[:]), Partition: p.id.Partition, Spans: spans,
		})
	}
	return pr, marks
}

// runProgress writes the broker's progress object once per roll interval,
// shortly after each instant, when it changed.
func (m *Manager) runProgress() {
	defer m.wg.Done()
	iv := m.cfg.UploadMaxInterval
	var last []byte
	for {
		now := time.Now()
		// A little after the next instant, so that the idle partitions'
		// spans have moved on to it.
		next := now.Truncate(iv).Add(iv + min(iv/4, 2*m.cfg.Interval))
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(next.Sub(now)):
		}
		pr, marks := m.progress(time.Now())
		body, err := json.Marshal(pr)
		if err != nil {
			m.log.Error("encoding progress", "err", err)
			continue
		}
		if len(pr.Partitions) == 0 && last == nil {
			continue
		}
		// The same spans as last time (nothing moved): skip the PUT.
		spans, _ := json.Marshal(pr.Partitions)
		if bytes.Equal(spans, last) {
			continue
		}
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.RequestTimeout)
		_, err = m.store.Put(ctx, progressKey(m.cfg.Prefix, m.cfg.NodeID), bytes.NewReader(body), int64(len(body)), objectstore.PutOptions{})
		cancel()
		if err != nil {
			if m.ctx.Err() == nil {
				m.log.Warn("writing the progress object; will retry", "err", err)
			}
			continue
		}
		m.metrics.progressWrites.Inc()
		last = spans
		for _, mk := range marks {
			mk.p.mu.Lock()
			if mk.p.mu.factEpoch == mk.epoch {
				mk.p.mu.publishedTo = max(mk.p.mu.publishedTo, mk.to)
			}
			mk.p.mu.Unlock()
		}
	}
}

// ReadProgress reads every progress object under prefix.
func ReadProgress(ctx context.Context, store objectstore.Store, prefix string) ([]Progress, error) {
	var out []Progress
	cursor := ""
	for {
		page, err := store.List(ctx, objectstore.ListOptions{Prefix: ProgressPrefix(prefix), Cursor: cursor})
		if err != nil {
			return nil, err
		}
		for _, o := range page.Objects {
			if strings.Contains(strings.TrimPrefix(o.Key, ProgressPrefix(prefix)), "/") {
				continue
			}
			rc, err := store.GetRange(ctx, o.Key, 0, -1)
			if errors.Is(err, objectstore.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
			rc.Close()
			if err != nil {
				return nil, err
			}
			var pr Progress
			if err := json.Unmarshal(b, &pr); err != nil {
				return nil, fmt.Errorf("progress object %s: %w", o.Key, err)
			}
			out = append(out, pr)
		}
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
}
