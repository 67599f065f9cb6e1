package storetest

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
)

// patternReader yields n deterministic pseudo-random bytes derived from
// seed without holding them in memory, so 100 MiB objects cost no RAM.
type patternReader struct {
	state     uint64
	remaining int64
	buf       [8]byte
	bufLen    int
}

func newPattern(seed uint64, n int64) *patternReader {
	return &patternReader{state: seed*0x9e3779b97f4a7c15 + 1, remaining: n}
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n := 0
	for n < len(p) {
		if r.bufLen == 0 {
			// xorshift64*
			r.state ^= r.state >> 12
			r.state ^= r.state << 25
			r.state ^= r.state >> 27
			binary.LittleEndian.PutUint64(r.buf[:], r.state*0x2545f4914f6cdd1d)
			r.bufLen = 8
		}
		c := copy(p[n:], r.buf[8-r.bufLen:])
		r.bufLen -= c
		n += c
	}
	r.remaining -= int64(n)
	return n, nil
}

// patternBytes materialises a small pattern.
func patternBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	io.ReadFull(newPattern(seed, int64(n)), b)
	return b
}

// patternSum is the SHA-256 of a pattern.
func patternSum(seed uint64, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, newPattern(seed, n))
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// hideSize strips any WriterTo/Seeker/Len methods so a backend cannot learn
// the length of a reader passed with SizeUnknown.
type hideSize struct{ r io.Reader }

func (h hideSize) Read(p []byte) (int, error) { return h.r.Read(p) }
