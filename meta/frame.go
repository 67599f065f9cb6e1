package meta

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxForwardFrame bounds one forward frame (request or response).
const maxForwardFrame = 16 << 20

// ErrBadFrame: a forward frame that is oversized, truncated or not a
// request or response.
var ErrBadFrame = errors.New("meta: bad forward frame")

// forwardRequest is one forwarded call: a Store method name and its
// arguments as JSON. TimeoutMS is the caller's remaining deadline.
type forwardRequest struct {
	Method    string          `json:"method"`
	TimeoutMS int64           `json:"timeout_ms,omitempty"`
	Args      json.RawMessage `json:"args,omitempty"`
}

// forwardResponse is the leader's answer: the method's result, or an
// error as a code from errorCodes and its message; Index is the version
// the caller waits for before returning.
type forwardResponse struct {
	Result json.RawMessage `json:"result,omitempty"`
	Index  uint64          `json:"index,omitempty"`
	Code   string          `json:"code,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// writeFrame writes a 4-byte big-endian length and payload.
func writeFrame(w io.Writer, payload []byte) error {
	if len(payload) > maxForwardFrame {
		return fmt.Errorf("%w: %d bytes", ErrBadFrame, len(payload))
	}
	buf := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(buf, uint32(len(payload)))
	copy(buf[4:], payload)
	_, err := w.Write(buf)
	return err
}

// readFrame reads one frame. A length above maxForwardFrame is refused
// before anything is allocated; the body is read as it arrives, so a
// length that lies costs no more memory than the bytes actually sent.
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxForwardFrame {
		return nil, fmt.Errorf("%w: length %d above %d", ErrBadFrame, n, maxForwardFrame)
	}
	body, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil {
		return nil, err
	}
	if len(body) != int(n) {
		return nil, fmt.Errorf("%w: %d of %d bytes: %w", ErrBadFrame, len(body), n, io.ErrUnexpectedEOF)
	}
	return body, nil
}

func decodeRequest(b []byte) (forwardRequest, error) {
	var req forwardRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return forwardRequest{}, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	if req.Method == "" {
		return forwardRequest{}, fmt.Errorf("%w: no method", ErrBadFrame)
	}
	return req, nil
}

func decodeResponse(b []byte) (forwardResponse, error) {
	var resp forwardResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return forwardResponse{}, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return resp, nil
}
