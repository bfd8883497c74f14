package logstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// compactTB is what the helpers need of a *testing.T or a *rapid.T.
type compactTB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// compactTestRecord is a record as a test writes it and as a consumer reads it back.
type compactTestRecord struct {
	OffsetDelta int32
	TimestampMs int64
	Key, Value  []byte
	Headers     []kmsg.Header
}

// compactTestBatch describes a batch to build.
type compactTestBatch struct {
	BaseOffset      int64
	LastOffsetDelta int32 // -1: that of the last record
	Codec           kgo.CompressionCodecType
	LogAppendTimeMs int64 // > 0: LogAppendTime with this max timestamp
	Transactional   bool
	Control         bool
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	LeaderEpoch     int32
	Records         []compactTestRecord
}

// buildCompactTestBatch encodes tb independently of compact.go: lengths by
// encoding each record twice, the CRC straight from hash/crc32.
func buildCompactTestBatch(t compactTB, tb compactTestBatch) []byte {
	t.Helper()
	var first, maxTs int64
	if len(tb.Records) > 0 {
		first, maxTs = tb.Records[0].TimestampMs, tb.Records[0].TimestampMs
	}
	var section []byte
	for _, r := range tb.Records {
		maxTs = max(maxTs, r.TimestampMs)
		rec := kmsg.Record{TimestampDelta64: r.TimestampMs - first, OffsetDelta: r.OffsetDelta, Key: r.Key, Value: r.Value, Headers: r.Headers}
		rec.TimestampDelta = int32(rec.TimestampDelta64)
		once := rec.AppendTo(nil)
		rec.Length = int32(len(once) - 1)
		section = rec.AppendTo(section)
	}
	attrs := int16(tb.Codec)
	if tb.Codec != kgo.CodecNone {
		out, used := compactTestCompressors()[tb.Codec].Compress(new(bytes.Buffer), section)
		if used != tb.Codec {
			t.Fatalf("compressed with %d, want %d", used, tb.Codec)
		}
		section = append([]byte(nil), out...)
	}
	if tb.LogAppendTimeMs > 0 {
		attrs |= 0x08
		maxTs = tb.LogAppendTimeMs
	}
	if tb.Transactional {
		attrs |= 0x10
	}
	if tb.Control {
		attrs |= 0x20
	}
	lastDelta := tb.LastOffsetDelta
	if lastDelta < 0 && len(tb.Records) > 0 {
		lastDelta = tb.Records[len(tb.Records)-1].OffsetDelta
	}
	rb := kmsg.RecordBatch{
		FirstOffset: tb.BaseOffset, PartitionLeaderEpoch: tb.LeaderEpoch, Magic: 2,
		Attributes: attrs, LastOffsetDelta: max(lastDelta, 0), FirstTimestamp: first, MaxTimestamp: maxTs,
		ProducerID: tb.ProducerID, ProducerEpoch: tb.ProducerEpoch, FirstSequence: tb.BaseSequence,
		NumRecords: int32(len(tb.Records)), Records: section,
	}
	rb.Length = int32(49 + len(section))
	p := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(p[17:], crc32.Checksum(p[21:], crc32.MakeTable(crc32.Castagnoli)))
	return p
}

// compactTestCompressors are made once: a zstd encoder is costly to build.
var compactTestCompressors = sync.OnceValue(func() map[kgo.CompressionCodecType]kgo.Compressor {
	m := make(map[kgo.CompressionCodecType]kgo.Compressor)
	for typ, codec := range compactCodecByType {
		comp, err := kgo.DefaultCompressor(codec)
		if err != nil {
			panic(err)
		}
		m[typ] = comp
	}
	return m
})

var compactCodecByType = map[kgo.CompressionCodecType]kgo.CompressionCodec{
	kgo.CodecNone:   kgo.NoCompression(),
	kgo.CodecGzip:   kgo.GzipCompression(),
	kgo.CodecSnappy: kgo.SnappyCompression(),
	kgo.CodecLz4:    kgo.Lz4Compression(),
	kgo.CodecZstd:   kgo.ZstdCompression(),
}

var compactTestDecompressor = kgo.DefaultDecompressor()

// consumedRecord is one record as franz-go's consumer decodes it.
type consumedRecord struct {
	Offset      int64
	TimestampMs int64
	Key, Value  []byte
	Headers     []kgo.RecordHeader
}

// consumeLikeFranzGo decodes log as a franz-go consumer would a fetch response: the
// oracle for what compaction wrote.
func consumeLikeFranzGo(t compactTB, log []byte) []consumedRecord {
	t.Helper()
	rp := kmsg.NewFetchResponseTopicPartition()
	rp.HighWatermark = 1 << 62
	rp.LastStableOffset = 1 << 62
	rp.RecordBatches = log
	fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: "t"}, &rp, compactTestDecompressor, nil)
	if fp.Err != nil {
		t.Fatalf("franz-go rejects the log: %v", fp.Err)
	}
	out := make([]consumedRecord, 0, len(fp.Records))
	for _, r := range fp.Records {
		out = append(out, consumedRecord{Offset: r.Offset, TimestampMs: r.Timestamp.UnixMilli(), Key: r.Key, Value: r.Value, Headers: r.Headers})
	}
	return out
}

// sameNullableBytes compares with nil and empty told apart.
func sameNullableBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// Test shorthands over the cleaner's pure compaction functions: a key offset
// map with codecs of its own, the batches of a buffer added to it, and
// filterBatch over one batch or over each of a buffer's batches.

// newTestKeyOffsetMap returns an empty map bounded to maxKeys keys.
func newTestKeyOffsetMap(maxKeys int) *KeyOffsetMap { return newKeyOffsetMap(maxKeys, NewCodecs()) }

// addBatches adds the concatenated batches of log to m in order, none
// counted as committed, and returns how many bytes of log it added: all of
// them, or those before the batch that failed (ErrKeyOffsetMapFull when the
// map filled up).
func addBatches(m *KeyOffsetMap, log []byte) (int, error) {
	pos := 0
	for pos < len(log) {
		size, err := BatchSize(log[pos:])
		if err == nil && size > len(log)-pos {
			err = fmt.Errorf("%w: batch of %d bytes, %d left", ErrCorruption, size, len(log)-pos)
		}
		if err == nil {
			err = m.addBatch(log[pos:pos+size], false)
		}
		if err != nil {
			return pos, fmt.Errorf("at byte %d: %w", pos, err)
		}
		pos += size
	}
	return pos, nil
}

// filterOneBatch is filterBatch with codecs of its own, the batch not
// counted as committed.
func filterOneBatch(raw []byte, keep KeepFunc, retainEmpty bool) (FilterResult, error) {
	return filterBatch(NewCodecs(), raw, keep, retainEmpty, false)
}

// filterStats sums filterBatch results over many batches.
type filterStats struct {
	BatchesKept, BatchesDropped int
	RecordsKept, RecordsDropped int
}

// filterBatches filters each batch of the concatenated batches in log and
// returns the concatenation of the results. retainEmpty (nil means never)
// says which batches left with no record are kept empty.
func filterBatches(log []byte, keep KeepFunc, retainEmpty func(b *Batch) bool) ([]byte, filterStats, error) {
	codecs := NewCodecs()
	var (
		out   []byte
		stats filterStats
	)
	for pos := 0; pos < len(log); {
		size, err := BatchSize(log[pos:])
		if err == nil && size > len(log)-pos {
			err = fmt.Errorf("%w: batch of %d bytes, %d left", ErrCorruption, size, len(log)-pos)
		}
		if err != nil {
			return nil, stats, fmt.Errorf("filter batches at byte %d: %w", pos, err)
		}
		raw := log[pos : pos+size]
		pos += size
		retain := false
		if retainEmpty != nil {
			b, err := ParseBatch(raw)
			if err != nil {
				return nil, stats, fmt.Errorf("filter batches at byte %d: %w", pos-size, err)
			}
			retain = retainEmpty(&b)
		}
		res, err := filterBatch(codecs, raw, keep, retain, false)
		if err != nil {
			return nil, stats, fmt.Errorf("filter batches at byte %d: %w", pos-size, err)
		}
		stats.RecordsKept += res.Kept
		stats.RecordsDropped += res.Dropped
		if res.Batch == nil {
			stats.BatchesDropped++
			continue
		}
		stats.BatchesKept++
		out = append(out, res.Batch...)
	}
	return out, stats, nil
}
