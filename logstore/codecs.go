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

	compressorsOnce sync.Once
	compressors     map[kgo.CompressionCodecType]kgo.Compressor
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

// compress compresses a record section with codec (1 to 4).
func (c *Codecs) compress(section []byte, codec kgo.CompressionCodecType) ([]byte, error) {
	c.compressorsOnce.Do(c.makeCompressors)
	comp, ok := c.compressors[codec]
	if !ok {
		return nil, fmt.Errorf("%w: unknown codec %d", ErrCorruption, codec)
	}
	out, used := comp.Compress(new(bytes.Buffer), section)
	if used != codec {
		return nil, fmt.Errorf("compress %d bytes: codec %d used %d", len(section), codec, used)
	}
	return out, nil
}

// makeCompressors makes one compressor per codec; kgo compressors pool their
// encoders and are safe for concurrent use.
func (c *Codecs) makeCompressors() {
	codecs := map[kgo.CompressionCodecType]kgo.CompressionCodec{
		kgo.CodecGzip:   kgo.GzipCompression(),
		kgo.CodecSnappy: kgo.SnappyCompression(),
		kgo.CodecLz4:    kgo.Lz4Compression(),
		kgo.CodecZstd:   kgo.ZstdCompression(),
	}
	c.compressors = make(map[kgo.CompressionCodecType]kgo.Compressor, len(codecs))
	for typ, codec := range codecs {
		comp, err := kgo.DefaultCompressor(codec)
		if err != nil {
			panic(fmt.Sprintf("logstore: kgo compressor for built-in codec %d: %v", typ, err))
		}
		c.compressors[typ] = comp
	}
}

// Recompress re-encodes the record section of raw, one whole batch, with
// codec (0: none, 1 gzip, 2 snappy, 3 lz4, 4 zstd), as Kafka's log
// validator stores a batch on a topic whose compression.type names another
// codec than the producer's: the header (offsets, producer id, epoch and
// sequence, timestamps, the transactional bit) is kept, the codec bits,
// length and CRC are the new encoding's. raw's records must have passed
// ValidateRecords, which bounds what they decompress to.
func (c *Codecs) Recompress(raw []byte, codec int8) ([]byte, error) {
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
		if section, err = c.compress(section, kgo.CompressionCodecType(codec)); err != nil {
			return nil, err
		}
	}
	out := b.RecordBatch
	out.Attributes = out.Attributes&^compactAttrCodecMask | int16(codec)
	out.Records = section
	return encodeBatch(&out), nil
}
