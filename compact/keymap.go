package compact

import "hash/maphash"

// EntryBytes is what one key takes in a KeyMap: a 128-bit hash of the key
// and its offset.
const EntryBytes = 24

// maxLoad is the fraction of slots a KeyMap fills before it reports full:
// linear probing stays short below it.
const maxLoad = 0.75

type slot struct {
	h1, h2 uint64
	off    int64 // offset+1; 0 marks an empty slot
}

// KeyMap maps keys to the latest offset seen for them, in bounded memory:
// keys are stored as 128-bit hashes (two seeded maphash values), so two
// keys collide with probability about n²/2¹²⁹. The table starts small and
// doubles as keys arrive, up to the memory it was given. A KeyMap is for
// one pass; Reset reuses its memory.
type KeyMap struct {
	slots      []slot
	used       int
	grow       int // keys the current table takes before it grows
	maxSlots   int // the table never grows past it
	max        int // keys the largest table takes: Capacity
	seed1      maphash.Seed
	seed2      maphash.Seed
	lastOffset int64
}

// initialSlots is where a table starts (1.5 MiB).
const initialSlots = 1 << 16

// NewKeyMap returns a map that uses at most about bytes of memory (and
// holds at least one key).
func NewKeyMap(bytes int64) *KeyMap {
	n := max(1, int(bytes/EntryBytes))
	m := &KeyMap{maxSlots: n, max: max(1, int(float64(n)*maxLoad))}
	m.slots = make([]slot, min(n, initialSlots))
	m.Reset()
	return m
}

// Reset empties the map for a new pass.
func (m *KeyMap) Reset() {
	clear(m.slots)
	m.used = 0
	m.lastOffset = -1
	m.seed1, m.seed2 = maphash.MakeSeed(), maphash.MakeSeed()
	m.setGrow()
}

func (m *KeyMap) setGrow() {
	m.grow = max(1, int(float64(len(m.slots))*maxLoad))
	if len(m.slots) == m.maxSlots {
		m.grow = m.max
	}
}

// Bytes is the memory the table takes now.
func (m *KeyMap) Bytes() int64 { return int64(len(m.slots)) * EntryBytes }

// Capacity is how many keys the map holds before it is full.
func (m *KeyMap) Capacity() int { return m.max }

// Len is the number of distinct keys in the map.
func (m *KeyMap) Len() int { return m.used }

// Free is how many more distinct keys fit.
func (m *KeyMap) Free() int { return m.max - m.used }

// LastOffset is the largest offset put, -1 if none.
func (m *KeyMap) LastOffset() int64 { return m.lastOffset }

func (m *KeyMap) hash(key []byte) (uint64, uint64) {
	return maphash.Bytes(m.seed1, key), maphash.Bytes(m.seed2, key)
}

// Put records offset as the latest for key. Offsets are put in increasing
// order. It returns false, changing nothing, when the key is new and the
// map is full.
func (m *KeyMap) Put(key []byte, offset int64) bool {
	h1, h2 := m.hash(key)
	i := int(h1 % uint64(len(m.slots)))
	for {
		s := &m.slots[i]
		if s.off == 0 {
			if m.used >= m.max {
				return false
			}
			if m.used >= m.grow {
				m.resize()
				return m.Put(key, offset)
			}
			*s = slot{h1: h1, h2: h2, off: offset + 1}
			m.used++
			break
		}
		if s.h1 == h1 && s.h2 == h2 {
			if offset+1 > s.off {
				s.off = offset + 1
			}
			break
		}
		if i++; i == len(m.slots) {
			i = 0
		}
	}
	if offset > m.lastOffset {
		m.lastOffset = offset
	}
	return true
}

// Get returns the latest offset put for key, or -1.
func (m *KeyMap) Get(key []byte) int64 {
	h1, h2 := m.hash(key)
	i := int(h1 % uint64(len(m.slots)))
	for {
		s := &m.slots[i]
		if s.off == 0 {
			return -1
		}
		if s.h1 == h1 && s.h2 == h2 {
			return s.off - 1
		}
		if i++; i == len(m.slots) {
			i = 0
		}
	}
}

// resize doubles the table (up to maxSlots) and reinserts every key.
func (m *KeyMap) resize() {
	old := m.slots
	m.slots = make([]slot, min(2*len(old), m.maxSlots))
	for _, s := range old {
		if s.off == 0 {
			continue
		}
		i := int(s.h1 % uint64(len(m.slots)))
		for m.slots[i].off != 0 {
			if i++; i == len(m.slots) {
				i = 0
			}
		}
		m.slots[i] = s
	}
	m.setGrow()
}
