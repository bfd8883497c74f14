package logstore

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkFilterBatch filters a batch of 200 records of 100-byte values,
// dropping every other one. ref-decompress is the decompression alone, the
// part of the work the codec costs.
func BenchmarkFilterBatch(b *testing.B) {
	names := map[kgo.CompressionCodecType]string{kgo.CodecNone: "none", kgo.CodecGzip: "gzip", kgo.CodecSnappy: "snappy", kgo.CodecLz4: "lz4", kgo.CodecZstd: "zstd"}
	for _, codec := range compactCodecs {
		tb := compactTestBatch{BaseOffset: 1000, LastOffsetDelta: -1, Codec: codec}
		for i := range 200 {
			tb.Records = append(tb.Records, kv(int32(i), int64(1_700_000_000_000+i), fmt.Sprintf("key-%04d", i%50), fmt.Sprintf("%0100d", i)))
		}
		raw := buildCompactTestBatch(b, tb)
		parsed, err := ParseBatch(raw)
		if err != nil {
			b.Fatal(err)
		}
		keepHalf := func(r CompactionRecord) bool { return r.Offset%2 == 0 }
		prefix := "codec=" + names[codec] + "/keep=half/"
		codecs := NewCodecs() // the cleaner reuses its log's across batches
		b.Run(prefix+"gregor", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := filterBatch(codecs, raw, keepHalf, false, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(prefix+"ref-decompress", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := codecs.decompress(parsed.Records, codec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
