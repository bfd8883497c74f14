package logstore

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Codecs decompresses and compresses the record sections of batches with
// kgo's codecs, keeping their pooled decoders and encoders (a zstd one is
// costly to make) for reuse. Each is made on first use, so an unused Codecs
// costs next to nothing. It is safe for concurrent use.
//
// There is no process-wide instance: a Log holds one for its timestamp
// lookups and its clean jobs, a KeyOffsetMap another, and a caller that
// decodes many batches (produce validation of a compacted topic) keeps its
// own.
type Codecs struct {
	decompressorOnce sync.Once
	decompressor     kgo.Decompressor

	// pooled decompresses into pool's buffers, for ValidateRecords, and
	// refuses a section that inflates past MaxDecompressedBatchBytes.
	pooledOnce sync.Once
	pooled     *boundedDecompressor
	pool       decompressBufferPool

	compressorsMu sync.Mutex
	compressors   map[codecLevel]kgo.Compressor
}

// codecLevel names a compressor: a codec (1 to 4) and its level in kgo's
// terms (0: the codec's default).
type codecLevel struct {
	codec kgo.CompressionCodecType
	level int
}

// NewCodecs returns codecs that make their decoders and encoders on first
// use.
func NewCodecs() *Codecs { return &Codecs{} }

// decompress decompresses a record section written with codec (1 to 4).
func (c *Codecs) decompress(section []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	c.decompressorOnce.Do(func() { c.decompressor = kgo.DefaultDecompressor() })
	data, err := c.decompressor.Decompress(section, codec)
	if err != nil {
		return nil, fmt.Errorf("%w: decompress records: %v", ErrCorruption, err)
	}
	return data, nil
}

// compress compresses a record section with codec (1 to 4) at level (kgo's
// terms, 0 the codec's default).
func (c *Codecs) compress(section []byte, codec kgo.CompressionCodecType, level int) ([]byte, error) {
	comp, err := c.compressor(codecLevel{codec, level})
	if err != nil {
		return nil, err
	}
	out, used := comp.Compress(new(bytes.Buffer), section)
	if used != codec {
		return nil, fmt.Errorf("compress %d bytes: codec %d used %d", len(section), codec, used)
	}
	return out, nil
}

// compressor returns the compressor of cl, made on first use; kgo
// compressors pool their encoders and are safe for concurrent use.
func (c *Codecs) compressor(cl codecLevel) (kgo.Compressor, error) {
	c.compressorsMu.Lock()
	defer c.compressorsMu.Unlock()
	if comp, ok := c.compressors[cl]; ok {
		return comp, nil
	}
	var codec kgo.CompressionCodec
	switch cl.codec {
	case kgo.CodecGzip:
		codec = kgo.GzipCompression()
	case kgo.CodecSnappy:
		codec = kgo.SnappyCompression()
	case kgo.CodecLz4:
		codec = kgo.Lz4Compression()
	case kgo.CodecZstd:
		codec = kgo.ZstdCompression()
	default:
		return nil, fmt.Errorf("%w: unknown codec %d", ErrCorruption, cl.codec)
	}
	if cl.level != 0 {
		codec = codec.WithLevel(cl.level)
	}
	comp, err := kgo.DefaultCompressor(codec)
	if err != nil {
		return nil, fmt.Errorf("compressor of codec %d level %d: %w", cl.codec, cl.level, err)
	}
	if c.compressors == nil {
		c.compressors = map[codecLevel]kgo.Compressor{}
	}
	c.compressors[cl] = comp
	return comp, nil
}

// kgoLevel turns a codec's level on Kafka's scale (its topic config
// compression.<codec>.level, KIP-390) into kgo's:
//   - gzip: the same (1 fastest to 9 smallest, -1 the default);
//   - lz4: 9, Kafka's default, is Kafka's fast compressor, kgo's 0 (lz4's
//     Fast); another level is lz4's high-compression compressor at that
//     level, which the Go lz4 has up to 9 (levels 10 to 17 compress as 9);
//   - zstd: the Go encoder has four speeds, chosen as zstd levels map onto
//     them (below 3 fastest, 3 to 5 and 0 default, 6 to 9 better, 10 up
//     best).
//
// Snappy has no level.
func kgoLevel(codec int8, level int32) int {
	switch kgo.CompressionCodecType(codec) {
	case kgo.CodecGzip:
		return int(level)
	case kgo.CodecLz4:
		if level == 9 || level < 1 {
			return 0
		}
		return 1 << (8 + min(level, 9)) // lz4.Level1 is 1<<9, ... Level9 1<<17
	case kgo.CodecZstd:
		switch {
		case level == 0: // zstd's 0 is its default, 3
			return 2
		case level < 3:
			return 1 // zstd.SpeedFastest
		case level < 6:
			return 2 // zstd.SpeedDefault
		case level < 10:
			return 3 // zstd.SpeedBetterCompression
		}
		return 4 // zstd.SpeedBestCompression
	}
	return 0
}

// Recompress re-encodes the record section of raw, one whole batch, with
// codec (0: none, 1 gzip, 2 snappy, 3 lz4, 4 zstd) at level (on Kafka's
// scale, see kgoLevel; ignored for none and snappy), as Kafka's log
// validator stores a batch on a topic whose compression.type names another
// codec than the producer's: the header (offsets, producer id, epoch and
// sequence, timestamps, the transactional bit) is kept, the codec bits,
// length and CRC are the new encoding's. raw's records must have passed
// ValidateRecords, which bounds what they decompress to.
func (c *Codecs) Recompress(raw []byte, codec int8, level int32) ([]byte, error) {
	if codec < 0 || codec > 4 {
		return nil, fmt.Errorf("recompress: unknown codec %d", codec)
	}
	b, err := ParseBatch(raw)
	if err != nil {
		return nil, err
	}
	section := b.Records
	if from := b.Attributes & compactAttrCodecMask; from != 0 {
		if section, err = c.decompress(section, kgo.CompressionCodecType(from)); err != nil {
			return nil, err
		}
	}
	if codec != 0 {
		if section, err = c.compress(section, kgo.CompressionCodecType(codec), kgoLevel(codec, level)); err != nil {
			return nil, err
		}
	}
	out := b.RecordBatch
	out.Attributes = out.Attributes&^compactAttrCodecMask | int16(codec)
	out.Records = section
	return encodeBatch(&out), nil
}
