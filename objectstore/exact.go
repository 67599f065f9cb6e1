package objectstore

import (
	"errors"
	"fmt"
	"io"
)

// ExactReader returns a reader of r that fails with an ErrInvalid error
// instead of delivering its last bytes if r holds more or fewer than size
// bytes, so a backend that trusts the declared size can never commit an
// object of the wrong length.
func ExactReader(r io.Reader, size int64) io.Reader {
	return &exactReader{r: r, remaining: size, size: size}
}

type exactReader struct {
	r         io.Reader
	remaining int64
	size      int64
	err       error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.remaining {
		p = p[:e.remaining]
	}
	n, err := e.r.Read(p)
	e.remaining -= int64(n)
	if e.remaining == 0 {
		// Withhold the final bytes until r is known to end here.
		var one [1]byte
		m, perr := io.ReadFull(e.r, one[:])
		if m > 0 {
			e.err = fmt.Errorf("%w: reader longer than the declared %d bytes", ErrInvalid, e.size)
			return 0, e.err
		}
		if perr != nil && !errors.Is(perr, io.EOF) {
			e.err = perr
			return 0, e.err
		}
		return n, nil
	}
	if errors.Is(err, io.EOF) {
		e.err = fmt.Errorf("%w: reader ended %d bytes before the declared %d", ErrInvalid, e.remaining, e.size)
		return n, e.err
	}
	return n, err
}
