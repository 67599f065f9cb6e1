package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// Frame errors: each closes the connection.
var (
	errFrameSize    = errors.New("bad request frame size")
	errFrameTimeout = errors.New("request frame not completed in time")
)

// frameFirstStep is the first buffer a frame body gets; the buffer then
// doubles as bytes arrive, so a frame holds at most about twice the bytes
// that actually arrived (plus this step), whatever size it announced.
const frameFirstStep = 4 << 10

// frameReader reads Kafka request frames (a 4-byte big-endian length, then
// the body) from a buffered connection against the broker-wide budget of
// request bytes. It never allocates a frame's announced size up front: the
// body buffer grows only as bytes arrive, and each growth first takes its
// bytes from the budget, waiting while the budget is used up (the socket is
// then not read: back-pressure).
type frameReader struct {
	br          *bufio.Reader
	setDeadline func(time.Time) error // the connection's SetReadDeadline
	budget      *memBudget            // queued.max.request.bytes
	onWait      func()                // called when the reader must wait for the budget
}

// checkFrameSize validates an announced frame size against the frame limit
// in force (socket.request.max.bytes, or the smaller limit for a connection
// that has not sent a valid request yet) and the budget, which a frame can
// never exceed.
func checkFrameSize(size int32, maxSize int64, budget int64) error {
	switch {
	case size < 8:
		return fmt.Errorf("%w: %d bytes is shorter than a request header", errFrameSize, size)
	case int64(size) > maxSize:
		return fmt.Errorf("%w: %d bytes, limit %d", errFrameSize, size, maxSize)
	case int64(size) > budget:
		return fmt.Errorf("%w: %d bytes, queued.max.request.bytes %d", errOverBudget, size, budget)
	}
	return nil
}

// readSize reads a frame's length prefix under the deadline already set.
func (fr *frameReader) readSize() (int32, error) {
	var b [4]byte
	if _, err := io.ReadFull(fr.br, b[:]); err != nil {
		return 0, frameReadErr(err)
	}
	return int32(binary.BigEndian.Uint32(b[:])), nil
}

// readBody reads a body of size bytes (already checked by checkFrameSize),
// which must arrive by deadline; waiting for the budget counts too, so
// partial frames that all wait for each other cannot hold the budget for
// ever. held is the budget the body holds, to be released once its request
// is answered; on error nothing is held.
func (fr *frameReader) readBody(ctx context.Context, size int32, deadline time.Time) (body []byte, held int64, err error) {
	// An error here means the connection is closed; the read reports it.
	_ = fr.setDeadline(deadline)
	if err := ctx.Err(); err != nil { // a drain may have set its deadline before ours
		return nil, 0, err
	}
	total := int(size)
	var buf []byte
	for len(buf) < total {
		step := max(len(buf), frameFirstStep, min(fr.br.Buffered(), total))
		step = min(step, total-len(buf))
		if !fr.budget.tryAcquire(int64(step)) {
			if fr.onWait != nil {
				fr.onWait()
			}
			wctx, cancel := context.WithDeadline(ctx, deadline)
			err := fr.budget.acquire(wctx, int64(step))
			cancel()
			if err != nil {
				fr.budget.release(held)
				if errors.Is(err, context.DeadlineExceeded) {
					return nil, 0, fmt.Errorf("%w: waiting for queued.max.request.bytes", errFrameTimeout)
				}
				return nil, 0, err
			}
		}
		held += int64(step)
		grown := make([]byte, len(buf), len(buf)+step)
		copy(grown, buf)
		buf = grown
		n, err := io.ReadFull(fr.br, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			fr.budget.release(held)
			return nil, 0, frameReadErr(err)
		}
	}
	return buf, held, nil
}

func frameReadErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", errFrameTimeout, err)
	}
	return err
}
