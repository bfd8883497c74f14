package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
)

// xerialSection frames data as the Java producer's snappy stream: the
// header, then blocks of at most blockBytes, each a big endian length and a
// raw snappy block.
func xerialSection(data []byte, blockBytes int) []byte {
	out := append([]byte{}, xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for len(data) > 0 {
		n := min(blockBytes, len(data))
		block := s2.EncodeSnappy(nil, data[:n])
		out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
		out = append(out, block...)
		data = data[n:]
	}
	return out
}

// zstdStream compresses data as a stream, so its frame declares no content
// size: only the decoder's running bound can stop it.
func zstdStream(t *testing.T, data []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	enc, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// compressedForms are data compressed in every form a producer may send.
func compressedForms(t *testing.T, data []byte) map[string]struct {
	codec   kgo.CompressionCodecType
	section []byte
} {
	t.Helper()
	c := NewCodecs()
	forms := map[string]struct {
		codec   kgo.CompressionCodecType
		section []byte
	}{}
	for _, codec := range []kgo.CompressionCodecType{kgo.CodecGzip, kgo.CodecSnappy, kgo.CodecLz4, kgo.CodecZstd} {
		section, err := c.compress(data, codec, 0)
		if err != nil {
			t.Fatal(err)
		}
		forms[[]string{"", "gzip", "snappy", "lz4", "zstd"}[codec]] = struct {
			codec   kgo.CompressionCodecType
			section []byte
		}{codec, section}
	}
	forms["snappy-xerial"] = struct {
		codec   kgo.CompressionCodecType
		section []byte
	}{kgo.CodecSnappy, xerialSection(data, 32<<10)}
	forms["zstd-stream"] = struct {
		codec   kgo.CompressionCodecType
		section []byte
	}{kgo.CodecZstd, zstdStream(t, data)}
	return forms
}

// Every form of a section within the bound decompresses to what was
// compressed, into the pool's buffers.
func TestBoundedDecompressRoundTrip(t *testing.T) {
	data := bytes.Repeat([]byte("gregor keeps records "), 5000)
	var pool decompressBufferPool
	d := newBoundedDecompressor(len(data), &pool)
	for name, f := range compressedForms(t, data) {
		for range 2 { // the second time with warm pools
			out, err := d.decompress(f.section, f.codec)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.Equal(out, data) {
				t.Fatalf("%s: decompressed %d bytes, want the %d compressed", name, len(out), len(data))
			}
			pool.PutDecompressBytes(out)
		}
	}
}

// A zip bomb (64 MiB of zeros, a few KiB compressed) is refused with
// ErrDecompressedTooLarge in every form, and refusing it again (the codec's
// readers warm: an lz4 reader keeps 4 MiB block buffers) allocates a small
// multiple of the bound, never the bomb's size. The readers sit in a
// sync.Pool, which a garbage collection between two refusals empties (and
// which, under the race detector, drops a quarter of what is put back at
// random), so a form passes when the least of ten refusals stays under the
// bound.
func TestBoundedDecompressRefusesBomb(t *testing.T) {
	const boundBytes = 1 << 20
	bomb := make([]byte, 64<<20)
	forms := compressedForms(t, bomb)
	bomb = nil
	runtime.GC()
	var pool decompressBufferPool
	d := newBoundedDecompressor(boundBytes, &pool)
	for name, f := range forms {
		_, _ = d.decompress(f.section, f.codec)
		least := uint64(math.MaxUint64)
		for range 10 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := d.decompress(f.section, f.codec)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrDecompressedTooLarge) {
				t.Errorf("%s (%d compressed bytes): got %v, want ErrDecompressedTooLarge", name, len(f.section), err)
			}
			least = min(least, after.TotalAlloc-before.TotalAlloc)
		}
		if least > 8*boundBytes {
			t.Errorf("%s: refusing the bomb allocated at least %d bytes in each of ten tries, bound %d", name, least, boundBytes)
		}
	}
}

// Exactly the bound passes; one byte more is refused.
func TestBoundedDecompressAtTheBound(t *testing.T) {
	const boundBytes = 100_000
	var pool decompressBufferPool
	d := newBoundedDecompressor(boundBytes, &pool)
	for _, n := range []int{boundBytes, boundBytes + 1} {
		for name, f := range compressedForms(t, bytes.Repeat([]byte{7}, n)) {
			out, err := d.decompress(f.section, f.codec)
			switch {
			case n == boundBytes && (err != nil || len(out) != n):
				t.Errorf("%s of %d bytes at the bound: %d bytes, %v", name, n, len(out), err)
			case n > boundBytes && !errors.Is(err, ErrDecompressedTooLarge):
				t.Errorf("%s of %d bytes past the bound: got %v", name, n, err)
			}
		}
	}
}

// Sections that are not what their codec says fail without panicking, and
// not as too large.
func TestBoundedDecompressMalformed(t *testing.T) {
	var pool decompressBufferPool
	d := newBoundedDecompressor(1<<20, &pool)
	good := xerialSection(bytes.Repeat([]byte("x"), 1000), 100)
	cases := map[string]struct {
		codec   kgo.CompressionCodecType
		section []byte
	}{
		"gzip garbage":         {kgo.CodecGzip, []byte("not gzip at all")},
		"snappy garbage":       {kgo.CodecSnappy, []byte{0x05, 0xff, 0xff, 0xff}},
		"lz4 garbage":          {kgo.CodecLz4, []byte("not an lz4 frame")},
		"zstd garbage":         {kgo.CodecZstd, []byte("not a zstd frame")},
		"xerial cut length":    {kgo.CodecSnappy, good[:xerialHeaderBytes+2]},
		"xerial cut block":     {kgo.CodecSnappy, good[:len(good)-3]},
		"unknown codec":        {kgo.CompressionCodecType(5), []byte{1}},
		"empty gzip":           {kgo.CodecGzip, nil},
		"xerial header alone":  {kgo.CodecSnappy, good[:xerialHeaderBytes]},
		"xerial negative size": {kgo.CodecSnappy, append(append([]byte{}, good[:xerialHeaderBytes]...), 0xff, 0xff, 0xff, 0xff, 1)},
	}
	for name, c := range cases {
		out, err := d.decompress(c.section, c.codec)
		if name == "xerial header alone" {
			if err != nil || len(out) != 0 {
				t.Errorf("%s: %d bytes, %v; want none and no error", name, len(out), err)
			}
			continue
		}
		if err == nil || errors.Is(err, ErrDecompressedTooLarge) {
			t.Errorf("%s: got %v, want a decoding error", name, err)
		}
	}
}

// A produced batch whose records inflate past MaxDecompressedBatchBytes is
// refused as TooLargeRecords (MESSAGE_TOO_LARGE), not decoded whole.
func TestValidateRecordsRefusesBomb(t *testing.T) {
	section, err := NewCodecs().compress(make([]byte, MaxDecompressedBatchBytes+1), kgo.CodecZstd, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw := sectionBatch(t, section, 1, 0, 0)
	binary.BigEndian.PutUint16(raw[batchAttributesPos:], uint16(kgo.CodecZstd))
	ChecksumBatch(raw)
	b, err := ParseBatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	var ire *InvalidRecordsError
	if _, err := NewCodecs().ValidateRecords(&b, RecordRules{}); !errors.As(err, &ire) || ire.Kind != TooLargeRecords {
		t.Fatalf("got %v, want TooLargeRecords", err)
	}
}

// FuzzBoundedDecompress feeds arbitrary sections to every codec: the
// bounded decompressor never panics, never returns more than its bound,
// and decodes to the same bytes every section kgo's unbounded decompressor
// decodes to no more than the bound, except a zstd frame asking for a
// window past the bound, which it refuses.
func FuzzBoundedDecompress(f *testing.F) {
	data := bytes.Repeat([]byte("fuzzed records "), 40)
	c := NewCodecs()
	for _, codec := range []kgo.CompressionCodecType{kgo.CodecGzip, kgo.CodecSnappy, kgo.CodecLz4, kgo.CodecZstd} {
		section, err := c.compress(data, codec, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(codec), section)
	}
	f.Add(uint8(kgo.CodecSnappy), xerialSection(data, 64))
	const boundBytes = 4 << 10
	var pool decompressBufferPool
	d := newBoundedDecompressor(boundBytes, &pool)
	reference := kgo.DefaultDecompressor()
	f.Fuzz(func(t *testing.T, codec uint8, section []byte) {
		typ := kgo.CompressionCodecType(codec%4 + 1)
		want, werr := reference.Decompress(section, typ)
		out, err := d.decompress(section, typ)
		switch {
		case err == nil && len(out) > boundBytes:
			t.Fatalf("codec %d: %d bytes past the bound %d", typ, len(out), boundBytes)
		case werr == nil && len(want) <= boundBytes && err != nil && !errors.Is(err, zstd.ErrWindowSizeExceeded):
			t.Fatalf("codec %d: refused (%v) a section kgo decodes to %d bytes", typ, err, len(want))
		case werr == nil && err == nil && !bytes.Equal(out, want):
			t.Fatalf("codec %d: %d bytes, kgo decodes %d", typ, len(out), len(want))
		}
		if err == nil {
			pool.PutDecompressBytes(out)
		}
	})
}
