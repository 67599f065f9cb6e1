package loadtest

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// tsHeader carries the intended send time of a record (Unix nanoseconds,
// big-endian) for end-to-end latency.
const tsHeader = "lt-ts"

// minJSONSize is the smallest json record: the event without its padding.
const minJSONSize = 256

// jsonPool is how many distinct json values one producer cycles through.
// JSON payloads are meant to compress like real events, so repeating a
// pool of them is honest; random payloads never repeat (see value).
const jsonPool = 256

// randomChunk is how many bytes of fresh random values are generated and
// allocated at once; values are handed out as consecutive, non-overlapping
// slices of it, so no two records share a byte of random data.
const randomChunk = 256 << 10

// fillerText is the low-entropy part of a compressible random payload:
// printable text repeated as often as needed.
const fillerText = "strata load-test filler: the quick brown fox jumps over the lazy dog 0123456789. "

// payloadSource hands out record keys and values for one producer. It is
// not safe for concurrent use; each producer has its own.
type payloadSource struct {
	kind   string
	size   int
	random int    // random bytes at the start of each random-kind value
	filler []byte // the low-entropy rest of each random-kind value
	pcg    *rand.PCG
	rng    *rand.Rand
	chunk  []byte   // fresh random bytes not yet handed out
	pool   [][]byte // json values, or the payload files' contents
	next   int
	keys   string
	nkeys  int
	keyBuf [16]byte
}

// newPayloadSource builds a producer's source. files holds the payload
// files' contents for payload kind file (shared, never mutated).
func newPayloadSource(w *Workload, files [][]byte, seed uint64) *payloadSource {
	pcg := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	s := &payloadSource{
		kind:  w.Payload.Kind,
		size:  int(w.RecordSize),
		pcg:   pcg,
		rng:   rand.New(pcg),
		keys:  w.Keys,
		nkeys: w.DistinctKeys,
	}
	switch s.kind {
	case PayloadJSON:
		for range jsonPool {
			s.pool = append(s.pool, jsonEvent(s.rng, s.size))
		}
	case PayloadFile:
		s.pool = files
	default:
		low := lowEntropyBytes(s.size, w.Payload.Compressibility)
		s.random = s.size - low
		if low > 0 {
			s.filler = bytes.Repeat([]byte(fillerText), low/len(fillerText)+1)[:low]
		}
	}
	return s
}

// lowEntropyBytes is how many bytes of a size-byte random-kind value are
// filler for compressibility c.
func lowEntropyBytes(size int, c float64) int {
	return min(size, int(math.Round(float64(size)*c)))
}

// value returns the next value. Values are shared with the producer and
// must not be mutated.
func (s *payloadSource) value() []byte {
	switch s.kind {
	case PayloadJSON:
		v := s.pool[s.next]
		s.next = (s.next + 1) % len(s.pool)
		return v
	case PayloadFile:
		if len(s.pool) == 1 {
			return s.pool[0]
		}
		return s.pool[s.rng.IntN(len(s.pool))]
	}
	if len(s.chunk) < s.size {
		s.chunk = make([]byte, max(randomChunk, s.size))
	}
	v := s.chunk[:s.size:s.size]
	s.chunk = s.chunk[s.size:]
	fillRandom(s.pcg, v[:s.random])
	copy(v[s.random:], s.filler)
	return v
}

// fillRandom fills b with pseudo-random bytes from pcg, 8 at a time.
func fillRandom(pcg *rand.PCG, b []byte) {
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, pcg.Uint64())
		b = b[8:]
	}
	if len(b) > 0 {
		var tail [8]byte
		binary.LittleEndian.PutUint64(tail[:], pcg.Uint64())
		copy(b, tail[:])
	}
}

// key returns the next key, nil when the workload has none.
func (s *payloadSource) key() []byte {
	switch s.keys {
	case KeysRandom:
		binary.LittleEndian.PutUint64(s.keyBuf[:8], s.rng.Uint64())
		binary.LittleEndian.PutUint64(s.keyBuf[8:], s.rng.Uint64())
		return []byte(hex.EncodeToString(s.keyBuf[:]))
	case KeysDistinct:
		return []byte("key-" + strconv.Itoa(s.rng.IntN(s.nkeys)))
	}
	return nil
}

// tsValue encodes t for the tsHeader.
func tsValue(t time.Time) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(t.UnixNano()))
	return b
}

// parseTS decodes a tsHeader value; ok is false for anything malformed.
func parseTS(b []byte) (time.Time, bool) {
	if len(b) != 8 {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(b))), true
}

var (
	jsonEvents   = []string{"page_view", "click", "add_to_cart", "checkout", "search", "login", "logout", "purchase"}
	jsonPaths    = []string{"/", "/products", "/products/42", "/cart", "/checkout", "/search", "/account", "/help"}
	jsonAgents   = []string{"Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0)", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"}
	jsonCountry  = []string{"US", "DE", "FR", "GB", "JP", "BR", "IN", "CA"}
	jsonWords    = strings.Fields("the quick order shipped customer returned item price discount session cart mobile desktop search result page category account premium free trial")
	jsonTemplate = `{"event_id":"%016x","type":%q,"user_id":%d,"session":"%08x","ts":%d,"path":%q,"country":%q,"agent":%q,"amount":%d.%02d,"note":"`
)

// jsonEvent builds a realistic event of exactly size bytes (size >=
// minJSONSize): fixed fields, then a note of words padding it out.
func jsonEvent(rng *rand.Rand, size int) []byte {
	head := fmt.Sprintf(jsonTemplate,
		rng.Uint64(), jsonEvents[rng.IntN(len(jsonEvents))], rng.IntN(1_000_000), rng.Uint32(),
		time.Now().UnixMilli()-int64(rng.IntN(86_400_000)),
		jsonPaths[rng.IntN(len(jsonPaths))], jsonCountry[rng.IntN(len(jsonCountry))],
		jsonAgents[rng.IntN(len(jsonAgents))], rng.IntN(500), rng.IntN(100))
	const tail = `"}`
	b := make([]byte, 0, size)
	b = append(b, head...)
	for len(b) < size-len(tail) {
		w := jsonWords[rng.IntN(len(jsonWords))]
		if len(b)+len(w)+1 > size-len(tail) {
			for len(b) < size-len(tail) {
				b = append(b, '.')
			}
			break
		}
		b = append(b, w...)
		b = append(b, ' ')
	}
	return append(b, tail...)
}
