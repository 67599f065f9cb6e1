package producer

import "sort"

// Aborted is a partition's aborted transactions in marker-offset order:
// the in-memory form of its .txnindex files.
type Aborted struct {
	list []AbortedTxn
}

// Add appends an aborted transaction whose marker is past every earlier
// one's; an entry already present (same producer and marker) is ignored,
// which makes replaying a log tail over loaded index files harmless.
func (a *Aborted) Add(t AbortedTxn) bool {
	for i := len(a.list) - 1; i >= 0 && a.list[i].LastOffset >= t.LastOffset; i-- {
		if a.list[i].LastOffset == t.LastOffset && a.list[i].ProducerID == t.ProducerID {
			return false
		}
	}
	a.list = append(a.list, t)
	sort.SliceStable(a.list, func(i, j int) bool { return a.list[i].LastOffset < a.list[j].LastOffset })
	return true
}

// Overlapping returns the aborted transactions a read_committed fetch of
// [from, upto) must be told about: those whose marker is at or after from
// and whose data starts before upto.
func (a *Aborted) Overlapping(from, upto int64) []AbortedTxn {
	i := sort.Search(len(a.list), func(i int) bool { return a.list[i].LastOffset >= from })
	var out []AbortedTxn
	for _, t := range a.list[i:] {
		if t.FirstOffset < upto {
			out = append(out, t)
		}
	}
	return out
}

// DropBefore forgets transactions whose marker is below start (deleted by
// retention).
func (a *Aborted) DropBefore(start int64) {
	i := sort.Search(len(a.list), func(i int) bool { return a.list[i].LastOffset >= start })
	a.list = append(a.list[:0:0], a.list[i:]...)
}

// DropFrom forgets transactions whose marker is at or past end (the log
// was cut back).
func (a *Aborted) DropFrom(end int64) {
	i := sort.Search(len(a.list), func(i int) bool { return a.list[i].LastOffset >= end })
	a.list = a.list[:i]
}

// List returns a copy of the aborted transactions, in marker order.
func (a *Aborted) List() []AbortedTxn { return append([]AbortedTxn(nil), a.list...) }

// Len is the number of aborted transactions held.
func (a *Aborted) Len() int { return len(a.list) }
