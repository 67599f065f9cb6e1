package node

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/stratalog/strata/storage"
)

// Fetch responses carry record batches straight from segment files. The
// response is encoded by kmsg like every other response, with each
// partition's Records field set to a 16-byte placeholder; spliceSet then
// writes the encoded bytes up to each placeholder, the placeholder's real
// length prefix, and the file range itself — with sendfile(2) on TCP, so the
// data never passes through user space.

// markerNonce makes placeholders unique to this process: 8 random bytes
// followed by the placeholder's index.
var markerNonce = func() [8]byte {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return b
}()

func marker(i int) []byte {
	m := make([]byte, 16)
	copy(m, markerNonce[:])
	binary.BigEndian.PutUint64(m[8:], uint64(i)|1<<63)
	return m
}

// spliceSet holds the file ranges of one fetch response, in placeholder order.
type spliceSet struct {
	parts []*storage.ReadResult
}

// add registers a read result and returns the placeholder to put in the
// response's Records field.
func (s *spliceSet) add(rr *storage.ReadResult) []byte {
	s.parts = append(s.parts, rr)
	return marker(len(s.parts) - 1)
}

func (s *spliceSet) release() {
	for _, p := range s.parts {
		p.Release()
	}
	s.parts = nil
}

var errMarkerMissing = errors.New("fetch placeholder missing from encoded response")

// write writes the framed response buf (size prefix still zero) with every
// placeholder replaced by its file data. It returns the bytes written.
func (s *spliceSet) write(bw *bufio.Writer, nc net.Conn, buf []byte, flexible bool) (int64, error) {
	type cut struct{ start, end int } // placeholder and its length prefix
	cuts := make([]cut, len(s.parts))
	total := int64(len(buf)) - 4
	from := 0
	for i, p := range s.parts {
		m := marker(i)
		at := bytes.Index(buf[from:], m)
		if at < 0 {
			return 0, errMarkerMissing
		}
		at += from
		prefix := 4
		if flexible {
			prefix = 1 // uvarint(16+1)
		}
		cuts[i] = cut{at - prefix, at + len(m)}
		total += int64(lenPrefixSize(p.Size, flexible)) + p.Size - int64(prefix+len(m))
		from = at + len(m)
	}
	if total > 1<<31-1 {
		return 0, fmt.Errorf("fetch response too large: %d bytes", total)
	}
	binary.BigEndian.PutUint32(buf[:4], uint32(total))
	var written int64
	prev := 0
	var lp [binary.MaxVarintLen64]byte
	for i, p := range s.parts {
		n, err := bw.Write(buf[prev:cuts[i].start])
		written += int64(n)
		if err != nil {
			return written, err
		}
		l := appendLenPrefix(lp[:0], p.Size, flexible)
		n, err = bw.Write(l)
		written += int64(n)
		if err != nil {
			return written, err
		}
		for _, ch := range p.Chunks {
			m, err := sendChunk(bw, nc, ch)
			written += m
			if err != nil {
				return written, err
			}
		}
		prev = cuts[i].end
	}
	n, err := bw.Write(buf[prev:])
	written += int64(n)
	return written, err
}

func lenPrefixSize(n int64, flexible bool) int {
	if !flexible {
		return 4
	}
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n+1))
}

func appendLenPrefix(dst []byte, n int64, flexible bool) []byte {
	if !flexible {
		return binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	return binary.AppendUvarint(dst, uint64(n+1))
}

// sendChunk writes one file range: with sendfile on a TCP connection (after
// flushing buffered bytes), with pread and copy otherwise.
func sendChunk(bw *bufio.Writer, nc net.Conn, ch storage.Chunk) (int64, error) {
	if tc, ok := nc.(*net.TCPConn); ok && ch.Len >= 16<<10 {
		if err := bw.Flush(); err != nil {
			return 0, err
		}
		return sendfile(tc, ch.File, ch.Pos, ch.Len)
	}
	return io.Copy(bw, io.NewSectionReader(ch.File, ch.Pos, ch.Len))
}

// sendfile copies n bytes of f at off to the socket with sendfile(2), which
// leaves the file's own offset untouched so concurrent fetches of the same
// segment do not interfere.
func sendfile(tc *net.TCPConn, f *os.File, off, n int64) (int64, error) {
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, err
	}
	fc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var written int64
	var serr error
	ferr := fc.Control(func(infd uintptr) {
		werr := rc.Write(func(outfd uintptr) bool {
			for written < n {
				chunk := n - written
				if chunk > 1<<30 {
					chunk = 1 << 30
				}
				m, err := syscall.Sendfile(int(outfd), int(infd), &off, int(chunk))
				if m > 0 {
					written += int64(m)
				}
				if err == syscall.EAGAIN {
					return false // wait until writable
				}
				if err == syscall.EINTR {
					continue
				}
				if err != nil {
					serr = err
					return true
				}
				if m == 0 {
					serr = io.ErrUnexpectedEOF // file shorter than promised
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr == nil {
		serr = ferr
	}
	return written, serr
}
