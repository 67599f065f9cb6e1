package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// MaxUncompressedBytes caps how many bytes the records of one batch may
// decompress to. Decompression is streamed, so the cap bounds the work a
// decompression bomb can cause; memory stays bounded by the codecs' window
// sizes.
const MaxUncompressedBytes = 256 << 20

// maxZstdWindow rejects zstd frames that would need a larger history
// buffer. Producers at ordinary levels use windows of 8 MiB or less.
const maxZstdWindow = 32 << 20

// maxSnappyRatio bounds the decoded length a raw snappy block may claim
// relative to its compressed size: a snappy copy op expands 3 bytes to at
// most 64, so a real block can never claim more.
const maxSnappyRatio = 22

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

var (
	gzipPool sync.Pool // *gzip.Reader
	lz4Pool  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
	zstdPool = sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return err
		}
		return d
	}}
)

// decompressor is a stream of decompressed record bytes plus a way to
// return pooled state.
type decompressor struct {
	io.Reader
	release func()
}

// newDecompressor returns a reader over the decompressed form of src.
func newDecompressor(codec Codec, src []byte) (decompressor, error) {
	noop := func() {}
	switch codec {
	case CodecNone:
		return decompressor{bytes.NewReader(src), noop}, nil
	case CodecGzip:
		var zr *gzip.Reader
		var err error
		if v := gzipPool.Get(); v != nil {
			zr = v.(*gzip.Reader)
			err = zr.Reset(bytes.NewReader(src))
		} else {
			zr, err = gzip.NewReader(bytes.NewReader(src))
		}
		if err != nil {
			return decompressor{}, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		return decompressor{zr, func() { gzipPool.Put(zr) }}, nil
	case CodecSnappy:
		if len(src) >= xerialHeaderLen && bytes.HasPrefix(src, xerialMagic) {
			return decompressor{&xerialReader{src: src[xerialHeaderLen:]}, noop}, nil
		}
		out, err := decodeSnappyBlock(src, MaxUncompressedBytes)
		if err != nil {
			return decompressor{}, err
		}
		return decompressor{bytes.NewReader(out), noop}, nil
	case CodecLz4:
		zr := lz4Pool.Get().(*lz4.Reader)
		zr.Reset(bytes.NewReader(src))
		return decompressor{zr, func() { zr.Reset(nil); lz4Pool.Put(zr) }}, nil
	case CodecZstd:
		v := zstdPool.Get()
		d, ok := v.(*zstd.Decoder)
		if !ok {
			return decompressor{}, fmt.Errorf("%w: zstd decoder: %v", ErrCorrupt, v)
		}
		if err := d.Reset(bytes.NewReader(src)); err != nil {
			zstdPool.Put(d)
			return decompressor{}, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		return decompressor{d, func() { _ = d.Reset(nil); zstdPool.Put(d) }}, nil
	}
	return decompressor{}, fmt.Errorf("%w: %v", ErrUnsupportedCodec, codec)
}

// decodeSnappyBlock decodes one raw snappy block after checking the length
// it claims against max and against what its size can possibly expand to.
func decodeSnappyBlock(src []byte, max int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	if n > max {
		return nil, fmt.Errorf("%w: snappy block decodes to %d bytes", ErrTooLarge, n)
	}
	if n > maxSnappyRatio*len(src)+64 {
		return nil, fmt.Errorf("%w: snappy block of %d bytes claims %d", ErrCorrupt, len(src), n)
	}
	out, err := snappy.Decode(nil, src)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
	}
	return out, nil
}

// xerialReader streams the xerial framing Java producers use for snappy: a
// 16-byte header, then blocks of a big-endian int32 length and a raw snappy
// block. One block is decoded at a time.
type xerialReader struct {
	src     []byte
	cur     []byte
	decoded int
}

func (x *xerialReader) Read(p []byte) (int, error) {
	for len(x.cur) == 0 {
		if len(x.src) == 0 {
			return 0, io.EOF
		}
		if len(x.src) < 4 {
			return 0, fmt.Errorf("%w: xerial block length truncated", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(x.src)
		x.src = x.src[4:]
		if uint64(n) > uint64(len(x.src)) {
			return 0, fmt.Errorf("%w: xerial block of %d bytes, %d left", ErrCorrupt, n, len(x.src))
		}
		out, err := decodeSnappyBlock(x.src[:n], MaxUncompressedBytes-x.decoded)
		if err != nil {
			return 0, err
		}
		x.src = x.src[n:]
		x.decoded += len(out)
		x.cur = out
	}
	n := copy(p, x.cur)
	x.cur = x.cur[n:]
	return n, nil
}

// cappedReader fails with ErrTooLarge once more than n bytes are read, and
// marks every other error of the underlying codec as corruption.
type cappedReader struct {
	r io.Reader
	n int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		// Anything more than the cap is an error, even one byte.
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w: records decompress to more than %d bytes", ErrTooLarge, MaxUncompressedBytes)
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if err != nil && err != io.EOF && !isOurs(err) {
		err = fmt.Errorf("%w: decompress: %v", ErrCorrupt, err)
	}
	return n, err
}

func isOurs(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge) ||
		errors.Is(err, ErrInvalidRecord) || errors.Is(err, ErrUnsupportedCodec)
}
