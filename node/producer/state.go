package producer

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/record"
)

// MaxBatches is how many recent batches per producer are remembered for
// duplicate detection: a producer has at most five requests in flight per
// partition, so a retry is always one of the last five.
const MaxBatches = 5

// Errors a produce batch can be refused with. Each wraps the Kafka error a
// Produce response carries.
var (
	ErrOutOfOrderSequence = fmt.Errorf("producer: %w", kerr.OutOfOrderSequenceNumber)
	ErrInvalidEpoch       = fmt.Errorf("producer: %w", kerr.InvalidProducerEpoch)
	ErrInvalidTxnState    = fmt.Errorf("producer: %w", kerr.InvalidTxnState)
	ErrCorruptSnapshot    = errors.New("producer: corrupt snapshot")
)

// Batch is one appended batch of a producer: its sequence range and the
// offsets it got.
type Batch struct {
	FirstSeq    int32 `json:"fs"`
	LastSeq     int32 `json:"ls"`
	FirstOffset int64 `json:"fo"`
	LastOffset  int64 `json:"lo"`
}

// Entry is one producer's state on the partition.
type Entry struct {
	ProducerID       int64   `json:"pid"`
	Epoch            int16   `json:"epoch"`
	Batches          []Batch `json:"batches,omitempty"` // oldest first, at most MaxBatches
	CoordinatorEpoch int32   `json:"coord_epoch"`
	// TxnFirstOffset is the first offset of the producer's open
	// transaction on this partition, -1 when there is none.
	TxnFirstOffset int64 `json:"txn_first"`
	// LastWriteMs is when the producer last wrote here (unix ms), for
	// expiration.
	LastWriteMs int64 `json:"last_write_ms"`
}

// LastSeq is the last sequence number appended, -1 when none.
func (e *Entry) LastSeq() int32 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastSeq
}

func (e *Entry) addBatch(b Batch) {
	if len(e.Batches) == MaxBatches {
		copy(e.Batches, e.Batches[1:])
		e.Batches = e.Batches[:MaxBatches-1]
	}
	e.Batches = append(e.Batches, b)
}

func (e *Entry) clone() *Entry {
	c := *e
	c.Batches = append([]Batch(nil), e.Batches...)
	return &c
}

// AbortedTxn is one aborted transaction on the partition: the producer,
// the first offset of its data and the offset of its abort marker.
type AbortedTxn struct {
	ProducerID  int64 `json:"pid"`
	FirstOffset int64 `json:"first"`
	LastOffset  int64 `json:"last"`
	// LastStableOffset is the partition's last stable offset once the
	// abort completed.
	LastStableOffset int64 `json:"lso"`
}

// State is the producer state of one partition. The zero value is not
// usable; call New.
type State struct {
	entries map[int64]*Entry
}

// New returns an empty state.
func New() *State { return &State{entries: map[int64]*Entry{}} }

// Entry returns a copy of a producer's state.
func (s *State) Entry(pid int64) (Entry, bool) {
	e, ok := s.entries[pid]
	if !ok {
		return Entry{}, false
	}
	return *e.clone(), true
}

// Entries returns copies of every producer's state, by producer ID.
func (s *State) Entries() []Entry {
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, *e.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out
}

// Len is the number of producers with state.
func (s *State) Len() int { return len(s.entries) }

// Duplicate is a batch already in the log: the retried batch gets these
// offsets in its response and is not appended again.
type Duplicate struct {
	FirstOffset, LastOffset int64
}

// Check decides whether batches (the headers of one produce request's
// records for this partition, in order) may be appended. It returns a
// non-nil Duplicate when the first batch already in the log is found — the
// request is answered with its offsets and nothing is appended — or an
// error wrapping the Kafka code to refuse the whole request with.
//
// The rules are Kafka's (ProducerAppendInfo): a batch without a producer
// ID is not checked; an epoch below the producer's is fenced; a new epoch
// must start at sequence 0; within an epoch a batch that matches one of the
// last five batches' sequence ranges is a duplicate and any other must
// continue the last sequence (wrapping at MaxInt32). A producer the
// partition has no state for (new, or expired) may start at any sequence.
func (s *State) Check(hdrs []record.Header) (*Duplicate, error) {
	staged := map[int64]*Entry{}
	for _, h := range hdrs {
		if h.ProducerID < 0 {
			continue
		}
		cur := staged[h.ProducerID]
		if cur == nil {
			if e, ok := s.entries[h.ProducerID]; ok {
				cur = e.clone()
			}
		}
		if h.IsControl() {
			return nil, fmt.Errorf("%w: producers may not write control batches", kerr.InvalidRecord)
		}
		first, last := h.BaseSequence, lastSeq(h)
		if cur != nil {
			if d := cur.duplicate(h.ProducerEpoch, first, last); d != nil {
				return d, nil
			}
			if err := cur.checkSequence(h.ProducerEpoch, first); err != nil {
				return nil, err
			}
			if !h.IsTransactional() && cur.TxnFirstOffset >= 0 && h.ProducerEpoch == cur.Epoch {
				return nil, fmt.Errorf("%w: a non-transactional batch from producer %d during its open transaction", ErrInvalidTxnState, h.ProducerID)
			}
		} else {
			cur = &Entry{ProducerID: h.ProducerID, TxnFirstOffset: -1, CoordinatorEpoch: -1}
		}
		cur.Epoch = h.ProducerEpoch
		cur.addBatch(Batch{FirstSeq: first, LastSeq: last})
		staged[h.ProducerID] = cur
	}
	return nil, nil
}

func (e *Entry) duplicate(epoch int16, first, last int32) *Duplicate {
	if epoch != e.Epoch {
		return nil
	}
	for _, b := range e.Batches {
		if b.FirstSeq == first && b.LastSeq == last {
			return &Duplicate{FirstOffset: b.FirstOffset, LastOffset: b.LastOffset}
		}
	}
	return nil
}

func (e *Entry) checkSequence(epoch int16, first int32) error {
	switch {
	case epoch < e.Epoch:
		return fmt.Errorf("%w: producer %d epoch %d is older than the current %d", ErrInvalidEpoch, e.ProducerID, epoch, e.Epoch)
	case epoch > e.Epoch:
		if first != 0 {
			return fmt.Errorf("%w: producer %d starts epoch %d at sequence %d, want 0", ErrOutOfOrderSequence, e.ProducerID, epoch, first)
		}
		return nil
	}
	last := e.LastSeq()
	if last < 0 {
		// Known epoch without batches (a marker or an expired tail): any
		// sequence continues it.
		return nil
	}
	if !inSequence(last, first) {
		return fmt.Errorf("%w: producer %d sent sequence %d after %d", ErrOutOfOrderSequence, e.ProducerID, first, last)
	}
	return nil
}

func inSequence(last, next int32) bool {
	if last == math.MaxInt32 {
		return next == 0
	}
	return next == last+1
}

// lastSeq is the batch's last sequence number, wrapping past MaxInt32.
func lastSeq(h record.Header) int32 {
	if h.BaseSequence < 0 {
		return h.BaseSequence
	}
	l := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if l > math.MaxInt32 {
		l -= math.MaxInt32 + 1
	}
	return int32(l)
}

// Update records batches that were appended (hdrs carry their assigned
// base offsets) at nowMs. It never refuses: it is also how a log tail is
// replayed on open.
func (s *State) Update(hdrs []record.Header, nowMs int64) {
	for _, h := range hdrs {
		if h.ProducerID < 0 || h.IsControl() {
			continue
		}
		e := s.entries[h.ProducerID]
		if e == nil {
			e = &Entry{ProducerID: h.ProducerID, TxnFirstOffset: -1, CoordinatorEpoch: -1}
			s.entries[h.ProducerID] = e
		}
		if h.ProducerEpoch != e.Epoch {
			e.Batches = e.Batches[:0]
			e.Epoch = h.ProducerEpoch
		}
		e.addBatch(Batch{FirstSeq: h.BaseSequence, LastSeq: lastSeq(h), FirstOffset: h.BaseOffset, LastOffset: h.LastOffset()})
		if h.IsTransactional() && e.TxnFirstOffset < 0 {
			e.TxnFirstOffset = h.BaseOffset
		}
		e.LastWriteMs = nowMs
	}
}

// CheckMarker reports whether a transaction marker for producer pid at
// epoch may be written: a marker from an epoch older than the producer's
// is fenced.
func (s *State) CheckMarker(pid int64, epoch int16) error {
	if e, ok := s.entries[pid]; ok && epoch < e.Epoch {
		return fmt.Errorf("%w: marker for producer %d epoch %d, current %d", ErrInvalidEpoch, pid, epoch, e.Epoch)
	}
	return nil
}

// CompleteTxn records a commit or abort marker for producer pid written at
// markerOffset. It ends the producer's open transaction and, for an abort
// of a transaction that wrote data here, returns the AbortedTxn to index;
// hw is the partition's high watermark, for the entry's last stable offset.
func (s *State) CompleteTxn(pid int64, epoch int16, coordinatorEpoch int32, commit bool, markerOffset int64, nowMs int64) (AbortedTxn, bool) {
	e := s.entries[pid]
	if e == nil {
		e = &Entry{ProducerID: pid, TxnFirstOffset: -1}
		s.entries[pid] = e
	}
	if epoch != e.Epoch {
		e.Batches = e.Batches[:0]
		e.Epoch = epoch
	}
	e.CoordinatorEpoch = coordinatorEpoch
	e.LastWriteMs = nowMs
	first := e.TxnFirstOffset
	e.TxnFirstOffset = -1
	if commit || first < 0 {
		return AbortedTxn{}, false
	}
	lso := markerOffset + 1
	if f := s.FirstOpenTxnOffset(); f >= 0 && f < lso {
		lso = f
	}
	return AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: markerOffset, LastStableOffset: lso}, true
}

// FirstOpenTxnOffset is the first offset of the earliest open transaction,
// -1 when none is open. The last stable offset is this or the high
// watermark, whichever is lower.
func (s *State) FirstOpenTxnOffset() int64 {
	first := int64(-1)
	for _, e := range s.entries {
		if e.TxnFirstOffset >= 0 && (first < 0 || e.TxnFirstOffset < first) {
			first = e.TxnFirstOffset
		}
	}
	return first
}

// OpenTxns returns the producers with an open transaction and its first
// offset.
func (s *State) OpenTxns() map[int64]int64 {
	out := map[int64]int64{}
	for pid, e := range s.entries {
		if e.TxnFirstOffset >= 0 {
			out[pid] = e.TxnFirstOffset
		}
	}
	return out
}

// Expire forgets producers with no open transaction that have not written
// since before nowMs-maxAgeMs, and returns how many it dropped.
func (s *State) Expire(nowMs, maxAgeMs int64) int {
	n := 0
	for pid, e := range s.entries {
		if e.TxnFirstOffset < 0 && nowMs-e.LastWriteMs >= maxAgeMs {
			delete(s.entries, pid)
			n++
		}
	}
	return n
}

// TruncateTo drops what the state knows about offsets at or after end
// (the log was cut back): batches past it are forgotten, and producers
// left with nothing are removed. Open transactions that started past end
// are closed.
func (s *State) TruncateTo(end int64) {
	for pid, e := range s.entries {
		kept := e.Batches[:0]
		for _, b := range e.Batches {
			if b.LastOffset < end {
				kept = append(kept, b)
			}
		}
		e.Batches = kept
		if e.TxnFirstOffset >= end {
			e.TxnFirstOffset = -1
		}
		if len(e.Batches) == 0 && e.TxnFirstOffset < 0 {
			delete(s.entries, pid)
		}
	}
}
