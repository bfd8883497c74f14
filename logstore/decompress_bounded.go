package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kgo"
)

// MaxDecompressedBatchBytes bounds the decompressed record section of a
// produced batch. gregor decompresses a compressed batch whole to validate
// its records (Kafka streams through it), so without a bound a small batch
// of a few hundred KiB could inflate to gigabytes and exhaust the node's
// memory. 64 MiB is far above what producers build (a Java producer's
// batch.size is 16 KiB, franz-go's 1 MB before compression) yet small enough
// that a few requests at once cannot take the node down.
const MaxDecompressedBatchBytes = 64 << 20

// ErrDecompressedTooLarge is returned when a record section inflates past
// the bound.
var ErrDecompressedTooLarge = errors.New("decompressed record section exceeds its bound")

// errMalformedXerial is a snappy section whose xerial (Java) framing is cut.
var errMalformedXerial = errors.New("malformed xerial snappy framing")

// xerialMagic starts a snappy section framed by the Java producer: the
// magic, a version and a compatible version (4 bytes each), then blocks.
const xerialMagic = "\x82SNAPPY\x00"

const xerialHeaderBytes = 16

// boundedDecompressor decompresses record sections into pooled buffers,
// refusing any that would inflate past maxBytes: snappy sections by their
// declared lengths before any byte is written, gzip, lz4 and zstd by
// reading at most maxBytes+1 bytes of their streams. It keeps its
// gzip, lz4 and zstd readers for reuse and is safe for concurrent use.
type boundedDecompressor struct {
	maxBytes int
	pool     *decompressBufferPool
	gzips    sync.Pool // *gzipReader
	lz4s     sync.Pool // *lz4Reader
	zstds    sync.Pool // *zstdReader
}

type gzipReader struct {
	src bytes.Reader
	r   gzip.Reader
}

type lz4Reader struct {
	src bytes.Reader
	r   *lz4.Reader
}

type zstdReader struct {
	src bytes.Reader
	d   *zstd.Decoder
}

func newBoundedDecompressor(maxBytes int, pool *decompressBufferPool) *boundedDecompressor {
	d := &boundedDecompressor{maxBytes: maxBytes, pool: pool}
	d.gzips.New = func() any { return new(gzipReader) }
	d.lz4s.New = func() any { return &lz4Reader{r: lz4.NewReader(nil)} }
	d.zstds.New = func() any {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderLowmem(true), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(uint64(maxBytes)))
		if err != nil {
			panic(fmt.Sprintf("logstore: zstd decoder with fixed options: %v", err))
		}
		z := &zstdReader{d: dec}
		runtime.SetFinalizer(z, func(z *zstdReader) { z.d.Close() })
		return z
	}
	return d
}

// decompress decompresses section, written with codec (1 to 4), into a
// buffer of the pool, which the caller puts back once done with it. On an
// error the buffer is back in the pool already; an error wrapping
// ErrDecompressedTooLarge says the section would inflate past the bound.
func (d *boundedDecompressor) decompress(section []byte, codec kgo.CompressionCodecType) (out []byte, err error) {
	buf := d.pool.GetDecompressBytes(section, codec)[:0]
	defer func() {
		if err != nil {
			d.pool.PutDecompressBytes(buf[:0])
		}
	}()
	switch codec {
	case kgo.CodecGzip:
		return d.gzip(buf, section)
	case kgo.CodecSnappy:
		if len(section) >= xerialHeaderBytes && string(section[:len(xerialMagic)]) == xerialMagic {
			return d.xerial(buf, section[xerialHeaderBytes:])
		}
		return d.snappy(buf, section)
	case kgo.CodecLz4:
		return d.lz4(buf, section)
	case kgo.CodecZstd:
		return d.zstd(buf, section)
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}

func (d *boundedDecompressor) gzip(buf, section []byte) ([]byte, error) {
	g := d.gzips.Get().(*gzipReader)
	defer d.gzips.Put(g)
	g.src.Reset(section)
	if err := g.r.Reset(&g.src); err != nil {
		return nil, err
	}
	return d.readAtMost(buf, &g.r)
}

func (d *boundedDecompressor) lz4(buf, section []byte) ([]byte, error) {
	l := d.lz4s.Get().(*lz4Reader)
	defer d.lz4s.Put(l)
	l.src.Reset(section)
	l.r.Reset(&l.src)
	return d.readAtMost(buf, l.r)
}

// readAtMost reads r to its end into buf, refusing more than maxBytes. It
// grows buf by doubling but never past maxBytes+1, so a refused section
// costs at most about twice the bound in allocations, whatever it would
// inflate to.
func (d *boundedDecompressor) readAtMost(buf []byte, r io.Reader) ([]byte, error) {
	out := buf[:0]
	for empty := 0; ; {
		if len(out) == cap(out) {
			if len(out) > d.maxBytes {
				return nil, fmt.Errorf("%w: more than %d bytes", ErrDecompressedTooLarge, d.maxBytes)
			}
			want := min(max(2*cap(out), 64<<10), d.maxBytes+1)
			out = slices.Grow(out, want-len(out))
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if empty++; n > 0 || err != nil {
			empty = 0
		} else if empty > 100 {
			return nil, io.ErrNoProgress // a reader stuck returning nothing
		}
		switch {
		case len(out) > d.maxBytes:
			return nil, fmt.Errorf("%w: more than %d bytes", ErrDecompressedTooLarge, d.maxBytes)
		case err == io.EOF:
			return out, nil
		case err != nil:
			return nil, err
		}
	}
}

// snappy decodes a raw snappy block, whose decoded length its header
// declares.
func (d *boundedDecompressor) snappy(buf, section []byte) ([]byte, error) {
	n, err := s2.DecodedLen(section)
	if err != nil {
		return nil, err
	}
	if n > d.maxBytes {
		return nil, fmt.Errorf("%w: %d bytes declared", ErrDecompressedTooLarge, n)
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	return s2.Decode(buf[:n], section)
}

// xerial decodes the blocks of a Java-framed snappy section, each a big
// endian length and a raw snappy block, after checking that their declared
// lengths add up to no more than the bound.
func (d *boundedDecompressor) xerial(buf, blocks []byte) ([]byte, error) {
	total := 0
	for rest := blocks; len(rest) > 0; {
		block, next, err := nextXerialBlock(rest)
		if err != nil {
			return nil, err
		}
		n, err := s2.DecodedLen(block)
		if err != nil {
			return nil, err
		}
		if total += n; total > d.maxBytes {
			return nil, fmt.Errorf("%w: %d bytes declared", ErrDecompressedTooLarge, total)
		}
		rest = next
	}
	if cap(buf) < total {
		buf = make([]byte, 0, total)
	}
	out := buf[:0]
	for rest := blocks; len(rest) > 0; {
		block, next, _ := nextXerialBlock(rest)
		n, _ := s2.DecodedLen(block)
		if _, err := s2.Decode(out[len(out):len(out)+n], block); err != nil {
			return nil, err
		}
		out, rest = out[:len(out)+n], next
	}
	return out, nil
}

// nextXerialBlock splits the first block off a xerial section.
func nextXerialBlock(p []byte) (block, rest []byte, err error) {
	if len(p) < 4 {
		return nil, nil, errMalformedXerial
	}
	size := binary.BigEndian.Uint32(p)
	p = p[4:]
	if uint64(size) > uint64(len(p)) {
		return nil, nil, errMalformedXerial
	}
	return p[:size], p[size:], nil
}

// zstd decodes as a stream read at most to the bound: DecodeAll checks a
// frame that declares its content size before decoding it, but one that
// does not (a streaming producer's) it decodes whole before checking. The
// decoder's memory bound refuses a frame asking for a window larger than
// the bound, however little it holds (producers size windows to their
// batches; zstd itself refuses windows past 128 MiB by default).
func (d *boundedDecompressor) zstd(buf, section []byte) ([]byte, error) {
	z := d.zstds.Get().(*zstdReader)
	defer d.zstds.Put(z)
	z.src.Reset(section)
	if err := z.d.Reset(&z.src); err != nil {
		return nil, err
	}
	out, err := d.readAtMost(buf, z.d)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) {
		return nil, fmt.Errorf("%w: %w", ErrDecompressedTooLarge, err)
	}
	return out, err
}
