package compact

import (
	"fmt"
	"math"
	"sort"

	"github.com/stratalog/strata/record"
)

// AbortedTxn is one aborted transaction of a producer: its data lies in
// [First, Last) and its abort marker at Last.
type AbortedTxn struct {
	ProducerID  int64
	First, Last int64
}

// Aborted answers whether a producer's record belongs to an aborted
// transaction.
type Aborted struct {
	byPID map[int64][]AbortedTxn // sorted by First
}

// NewAborted indexes txns.
func NewAborted(txns []AbortedTxn) *Aborted {
	a := &Aborted{byPID: map[int64][]AbortedTxn{}}
	for _, t := range txns {
		a.byPID[t.ProducerID] = append(a.byPID[t.ProducerID], t)
	}
	for _, ts := range a.byPID {
		sort.Slice(ts, func(i, j int) bool { return ts[i].First < ts[j].First })
	}
	return a
}

// Contains reports whether offset of producer pid is aborted data.
func (a *Aborted) Contains(pid, offset int64) bool {
	if a == nil {
		return false
	}
	ts := a.byPID[pid]
	i := sort.Search(len(ts), func(i int) bool { return ts[i].First > offset }) - 1
	return i >= 0 && offset <= ts[i].Last
}

// MapBatch puts the keys of one data batch (whole, as stored; h its
// header) at or after offset from into m at their offsets, skipping
// aborted records and records without a key. It returns the offset of the
// first record that did not fit (a new key with the map full): the pass's
// map ends there, mid-batch if need be, and the next pass starts from it.
// It returns -1 when every record fit. Control batches add nothing.
func MapBatch(m *KeyMap, h record.Header, batch []byte, aborted *Aborted, from int64) (int64, error) {
	if h.IsControl() || h.IsTransactional() && aborted.Contains(h.ProducerID, h.BaseOffset) {
		return -1, nil
	}
	stop := int64(-1)
	err := record.ForEachKey(batch, func(delta int32, key []byte, _ bool) bool {
		off := h.BaseOffset + int64(delta)
		if key == nil || off < from {
			return true
		}
		if !m.Put(key, off) {
			stop = off
			return false
		}
		return true
	})
	return stop, err
}

// Cleaner decides what each batch of the part of a log being cleaned
// keeps. One Cleaner serves one pass.
type Cleaner struct {
	// Keys holds the latest offset of every key in [FirstDirty, MapEnd).
	Keys *KeyMap
	// MapEnd: records at or after it are newer than the map knows and
	// are kept.
	MapEnd int64
	// Now is the pass's clock (unix ms); DeleteRetentionMs sets new
	// delete horizons.
	Now, DeleteRetentionMs int64
	// Aborted lists the log's aborted transactions.
	Aborted *Aborted
	// LastBatch, if set, returns the last offset of the newest batch a
	// live producer wrote: that batch is kept even when it keeps no
	// record, so the producer's sequence survives.
	LastBatch func(producerID int64) (int64, bool)
}

// Stats counts what a pass did.
type Stats struct {
	BatchesRead, BatchesKept, BatchesRewritten int64
	RecordsRead, RecordsKept                   int64
	TombstonesRemoved, MarkersRemoved          int64
	AbortedRemoved, KeylessRemoved             int64
	// NextHorizon is the earliest delete horizon of the tombstones and
	// markers the pass kept, 0 when it kept none.
	NextHorizon int64
}

func (st *Stats) noteHorizon(h int64) {
	if h > 0 && (st.NextHorizon == 0 || h < st.NextHorizon) {
		st.NextHorizon = h
	}
}

// Filter returns what the batch (whole, as stored; h its header) becomes:
// the batch itself when nothing changes, a rebuilt batch, or nil when it
// goes entirely.
func (c *Cleaner) Filter(h record.Header, batch []byte, st *Stats) ([]byte, error) {
	st.BatchesRead++
	st.RecordsRead += int64(h.NumRecords)
	if h.NextOffset() > c.MapEnd && h.BaseOffset >= c.MapEnd {
		st.BatchesKept++
		st.RecordsKept += int64(h.NumRecords)
		return batch, nil
	}
	horizon, hasHorizon := h.DeleteHorizon()
	expired := hasHorizon && c.Now >= horizon
	if h.IsControl() {
		if h.NextOffset() > c.MapEnd {
			st.BatchesKept++
			st.RecordsKept += int64(h.NumRecords)
			return batch, nil
		}
		if expired {
			// Every record of the transaction precedes its marker and
			// was cleaned when the marker first was: no reader needs it.
			st.MarkersRemoved++
			return c.empty(h, st)
		}
		if !hasHorizon {
			var recs []record.Record
			if err := record.ForEachRecord(batch, func(r record.Record) bool { recs = append(recs, r); return true }); err != nil {
				return nil, err
			}
			st.noteHorizon(c.horizon())
			return c.rebuild(h, recs, c.horizon(), st)
		}
		st.noteHorizon(horizon)
		st.BatchesKept++
		st.RecordsKept += int64(h.NumRecords)
		return batch, nil
	}
	if h.IsTransactional() && c.Aborted.Contains(h.ProducerID, h.BaseOffset) {
		st.AbortedRemoved += int64(h.NumRecords)
		return c.empty(h, st)
	}
	// Decide from the keys alone (no value is copied); decode the kept
	// records only when the batch must be rebuilt.
	keep := make([]bool, 0, h.NumRecords) // by record index, in order
	nkept := 0
	needHorizon, keptTomb := false, false
	changed := false
	err := record.ForEachKey(batch, func(delta int32, key []byte, tomb bool) bool {
		off := h.BaseOffset + int64(delta)
		switch {
		case off >= c.MapEnd:
		case key == nil:
			st.KeylessRemoved++
			changed = true
			keep = append(keep, false)
			return true
		case c.Keys.Get(key) > off:
			changed = true
			keep = append(keep, false)
			return true
		case tomb && expired:
			st.TombstonesRemoved++
			changed = true
			keep = append(keep, false)
			return true
		case tomb && !hasHorizon:
			needHorizon = true
		}
		keptTomb = keptTomb || tomb && off < c.MapEnd
		keep = append(keep, true)
		nkept++
		return true
	})
	if err != nil {
		return nil, err
	}
	if keptTomb && hasHorizon {
		st.noteHorizon(horizon)
	}
	if !changed && !needHorizon {
		st.BatchesKept++
		st.RecordsKept += int64(h.NumRecords)
		return batch, nil
	}
	if nkept == 0 {
		return c.empty(h, st)
	}
	kept := make([]record.Record, 0, nkept)
	i := 0
	if err := record.ForEachRecord(batch, func(r record.Record) bool {
		if i < len(keep) && keep[i] {
			kept = append(kept, r)
		}
		i++
		return true
	}); err != nil {
		return nil, err
	}
	newHorizon := int64(0)
	if hasHorizon {
		newHorizon = horizon
	} else if needHorizon {
		newHorizon = c.horizon()
		st.noteHorizon(newHorizon)
	}
	return c.rebuild(h, kept, newHorizon, st)
}

// horizon is the delete horizon a batch cleaned now gets, saturating at
// the largest time for a retention of "forever".
func (c *Cleaner) horizon() int64 {
	if c.DeleteRetentionMs > math.MaxInt64-c.Now {
		return math.MaxInt64
	}
	return c.Now + c.DeleteRetentionMs
}

func (c *Cleaner) rebuild(h record.Header, recs []record.Record, horizon int64, st *Stats) ([]byte, error) {
	b, err := record.Rebuild(h, recs, horizon)
	if err != nil {
		return nil, fmt.Errorf("rebuilding batch at offset %d: %w", h.BaseOffset, err)
	}
	st.BatchesKept++
	st.BatchesRewritten++
	st.RecordsKept += int64(len(recs))
	return b, nil
}

// empty drops a batch that keeps no record, or keeps it empty when it is
// its producer's newest batch.
func (c *Cleaner) empty(h record.Header, st *Stats) ([]byte, error) {
	if h.ProducerID >= 0 && c.LastBatch != nil {
		if last, ok := c.LastBatch(h.ProducerID); ok && last == h.LastOffset() {
			return c.rebuild(h, nil, 0, st)
		}
	}
	return nil, nil
}
