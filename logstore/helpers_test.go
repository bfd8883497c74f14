package logstore

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"gregor/logstore/vfs"
)

// testingT is what the helpers need of *testing.T, *testing.B and *rapid.T.
type testingT interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// recordSpec is one record for makeBatch.
type recordSpec struct {
	timestampMs int64
	value       []byte
}

// makeBatch encodes a RecordBatch v2 with kmsg holding recs (base offset 0),
// compressed with codec (0 for none).
func makeBatch(tb testingT, codec int8, recs []recordSpec) []byte {
	tb.Helper()
	if len(recs) == 0 {
		tb.Fatal("makeBatch needs records")
	}
	first, maxTs := recs[0].timestampMs, recs[0].timestampMs
	for _, r := range recs {
		first, maxTs = min(first, r.timestampMs), max(maxTs, r.timestampMs)
	}
	var records []byte
	for i, r := range recs {
		rec := kmsg.Record{TimestampDelta64: r.timestampMs - first, OffsetDelta: int32(i), Value: r.value}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		records = rec.AppendTo(records)
	}
	if codec != 0 {
		c, err := kgo.DefaultCompressor(compressionFor(codec))
		if err != nil {
			tb.Fatal(err)
		}
		records, _ = c.Compress(new(bytes.Buffer), records)
		records = append([]byte(nil), records...)
	}
	b := kmsg.RecordBatch{
		Magic: 2, Attributes: int16(codec), LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp: first, MaxTimestamp: maxTs, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(recs)), Records: records,
	}
	raw := b.AppendTo(nil)
	b.Length = int32(len(raw) - batchLengthOverhead)
	raw = b.AppendTo(raw[:0])
	ChecksumBatch(raw)
	if _, err := ParseBatch(raw); err != nil {
		tb.Fatalf("makeBatch built an invalid batch: %v", err)
	}
	return raw
}

func compressionFor(codec int8) kgo.CompressionCodec {
	switch codec {
	case 1:
		return kgo.GzipCompression()
	case 2:
		return kgo.SnappyCompression()
	case 3:
		return kgo.Lz4Compression()
	default:
		return kgo.ZstdCompression()
	}
}

// simpleBatch makes n records of valueBytes each with timestamps tsMs,
// tsMs+1, ..., values derived from seed.
func simpleBatch(tb testingT, n, valueBytes int, tsMs int64, seed int) []byte {
	recs := make([]recordSpec, n)
	for i := range recs {
		v := make([]byte, valueBytes)
		for j := range v {
			v[j] = byte(seed*31 + i*7 + j)
		}
		recs[i] = recordSpec{timestampMs: tsMs + int64(i), value: v}
	}
	return makeBatch(tb, 0, recs)
}

// mapCache is a BlockCache backed by a map, for tests. With maxBytes > 0 it
// evicts the oldest blocks (FIFO) past that many bytes, releasing them, so
// that blocks go back to their pool and are handed out again while readers
// may still hold them.
type mapCache struct {
	mu            sync.Mutex
	blocks        map[uint64]*Block
	order         []uint64
	bytes         int64
	maxBytes      int64
	hits          int
	lastSegmentID uint64
}

func newMapCache() *mapCache { return &mapCache{blocks: make(map[uint64]*Block)} }

// newEvictingCache is a mapCache holding at most maxBytes of blocks.
func newEvictingCache(maxBytes int64) *mapCache {
	c := newMapCache()
	c.maxBytes = maxBytes
	return c
}

func (c *mapCache) Get(key uint64) (*Block, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blocks[key]
	if ok {
		c.hits++
	}
	return b, ok
}

func (c *mapCache) Set(key uint64, block *Block) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.blocks[key]; ok {
		c.bytes -= int64(old.Len())
		old.Release()
	} else {
		c.order = append(c.order, key)
	}
	c.blocks[key] = block
	c.bytes += int64(block.Len())
	for c.maxBytes > 0 && c.bytes > c.maxBytes && len(c.order) > 0 {
		victim := c.order[0]
		c.order = c.order[1:]
		if b, ok := c.blocks[victim]; ok {
			c.bytes -= int64(b.Len())
			delete(c.blocks, victim)
			b.Release()
		}
	}
}

// len is the number of blocks held.
func (c *mapCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.blocks)
}

// evictAll drops every block.
func (c *mapCache) evictAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, b := range c.blocks {
		delete(c.blocks, k)
		b.Release()
	}
	c.order, c.bytes = nil, 0
}

func (c *mapCache) NewSegmentID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastSegmentID++
	return c.lastSegmentID
}

// testBlockPoolBytes bounds the free blocks of a test log's pool.
const testBlockPoolBytes = 4 << 20

// openTestLog opens a log in dir on fsys, failing the test on error.
func openTestLog(tb testingT, fsys vfs.FS, dir string, cfg Config, cache BlockCache, nowMs int64) *Log {
	tb.Helper()
	logger := zap.NewNop()
	if zt, ok := tb.(zaptest.TestingT); ok {
		logger = zaptest.NewLogger(zt)
	}
	// Released blocks are poisoned: a read of one after its release
	// returns bytes that fail the tests' comparisons.
	pool := NewBlockPool(testBlockPoolBytes, true)
	l, err := Open(Options{FS: fsys, Dir: dir, Config: cfg, Cache: cache, BlockPool: pool, Logger: logger, NowMs: nowMs})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	return l
}

// splitBatches cuts concatenated stored batches apart.
func splitBatches(tb testingT, p []byte) [][]byte {
	tb.Helper()
	var out [][]byte
	for len(p) > 0 {
		n, err := BatchSize(p)
		if err != nil || n > len(p) {
			tb.Fatalf("split batches: size %d of %d left: %v", n, len(p), err)
		}
		out = append(out, p[:n])
		p = p[n:]
	}
	return out
}

// readAllBatches reads the whole log, batch by batch, with Read(maxBytes).
func readAllBatches(tb testingT, l *Log, maxBytes int64) [][]byte {
	tb.Helper()
	var out [][]byte
	offset, end := l.LogStartOffset(), l.LogEndOffset()
	for offset < end {
		recs, err := l.Read(offset, maxBytes, end)
		if err != nil {
			tb.Fatalf("read at %d: %v", offset, err)
		}
		p, err := recs.Bytes()
		recs.Release()
		if err != nil {
			tb.Fatalf("read bytes at %d: %v", offset, err)
		}
		if len(p) == 0 {
			tb.Fatalf("read at %d (end %d) returned nothing", offset, end)
		}
		for _, b := range splitBatches(tb, p) {
			if _, err := ParseBatch(b); err != nil {
				tb.Fatalf("read at %d returned an invalid batch: %v", offset, err)
			}
			out = append(out, b)
		}
		offset = recs.NextOffset
	}
	return out
}

func batchDigest(p []byte) string {
	h := fnv.New64a()
	h.Write(p)
	return fmt.Sprintf("%x", h.Sum64())
}
