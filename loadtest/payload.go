package loadtest

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
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

// payloadPool is how many distinct values one producer cycles through.
const payloadPool = 256

// payloadSource hands out record keys and values for one producer.
// Values are generated up front so producing costs no CPU per record.
type payloadSource struct {
	rng    *rand.Rand
	values [][]byte
	next   int
	keys   string
	nkeys  int
	keyBuf [16]byte
}

func newPayloadSource(w *Workload, seed uint64) *payloadSource {
	s := &payloadSource{
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		keys:  w.Keys,
		nkeys: w.DistinctKeys,
	}
	size := int(w.RecordSize)
	switch w.Payload {
	case PayloadJSON:
		for range payloadPool {
			s.values = append(s.values, jsonEvent(s.rng, size))
		}
	default:
		// Slices of one random buffer: as incompressible as fresh bytes.
		buf := make([]byte, size+payloadPool*8)
		for i := 0; i+8 <= len(buf); i += 8 {
			binary.LittleEndian.PutUint64(buf[i:], s.rng.Uint64())
		}
		for i := range payloadPool {
			off := i * 8
			s.values = append(s.values, buf[off:off+size:off+size])
		}
	}
	return s
}

// value returns the next value. Values are shared and must not be mutated.
func (s *payloadSource) value() []byte {
	v := s.values[s.next]
	s.next++
	if s.next == len(s.values) {
		s.next = 0
	}
	return v
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
