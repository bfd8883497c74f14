package logstore

// Record-level log compaction: pure functions over RecordBatch v2 bytes, no
// files. The segment-level cleaner builds a KeyOffsetMap over the dirty part
// of the log, then rewrites each batch with filterBatch using the map's Keep
// decision.
//
// Choices, following Kafka's LogCleaner and MemoryRecords.filterTo:
//   - A rewritten batch keeps its base offset, its last offset delta (so the
//     next offset, and an idempotent producer's last sequence, are unchanged),
//     its producer id, epoch and base sequence, partition leader epoch,
//     attributes and codec. Kept records keep their offsets (offset deltas are
//     relative to the unchanged base offset, so they are copied as they are),
//     keys, values, headers and timestamps. For CreateTime batches the first
//     and max timestamps are recomputed over the kept records, as Kafka's
//     MemoryRecordsBuilder does; LogAppendTime batches keep theirs.
//   - A batch whose every record is kept is returned as it is, not
//     re-encoded (Kafka's writeOriginalBatch).
//   - A batch with no record kept is dropped, unless the caller asks to retain
//     it empty (Kafka's RETAIN_EMPTY, for the last batch of a producer that is
//     still active, whose sequence numbers must survive): then it becomes a
//     header with no records and no codec, the same base offset and last
//     offset delta, and both timestamps set to the max timestamp, as Kafka's
//     DefaultRecordBatch.writeEmptyHeader.
//   - Control batches and transactional batches are left alone for now: they
//     are neither filtered nor added to the key map (so a record of an aborted
//     transaction never shadows a committed one). Transactions come later.
//   - Records without a key are dropped, as Kafka's cleaner does (a compacted
//     topic refuses them at produce).
//   - Tombstones (null values) are kept while nowMs < timestamp +
//     delete.retention.ms, the timestamp being the record's own (the batch's
//     max timestamp under LogAppendTime). Kafka instead stamps a delete
//     horizon into the batch on the first cleaning that sees it (KIP-534),
//     which protects against producer clocks far in the past; this simpler
//     rule is what the cleaner has until that is needed.
//
// The segment-level cleaner (cleaner.go, cleaner_run.go) is built on these:
//   - Choosing: a partition is cleanable when its dirty ratio, the bytes
//     after the cleaner checkpoint over the bytes of the cleanable closed
//     segments, reaches min.cleanable.dirty.ratio (or the first dirty batch
//     is older than max.compaction.lag.ms); segments younger than
//     min.compaction.lag.ms, or holding offsets at or past the high watermark
//     the caller passes, are not cleanable. The active segment never is.
//   - Mapping: add the dirty segments' batches to a bounded KeyOffsetMap in
//     offset order; when it is full (ErrKeyOffsetMapFull) clean only up to
//     the map's LatestOffset and leave the rest for the next round.
//   - Rewriting: for each closed segment from the log start up to the map's
//     end, in groups whose input fits one segment, filterBatch into a new
//     file named <base>.log.cleaned, index it in memory and fsync it; then,
//     on the appender, swap it in with the .cleaned → .swap → .log replace of
//     ReplaceSegments and advance the cleaner checkpoint (WriteFileAtomic).
//     Recovery deletes .cleaned files and completes .swap ones.
//   - Not blocking appends: Run runs on the caller's goroutine (one cleaner
//     per node, throttled through CleanerThrottle), reads only closed,
//     immutable segments it holds references to, and the Log's lock is taken
//     only to swap the segment list; readers holding the old segment keep
//     their open file until they release it.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Attribute bits of a RecordBatch v2 that compaction reads.
const (
	compactAttrCodecMask     = 0x07
	compactAttrLogAppendTime = 0x08
	compactAttrTransactional = 0x10
	compactAttrControl       = 0x20
)

// ErrKeyOffsetMapFull is returned by KeyOffsetMap.addBatch when the batch's
// new keys do not fit; the map is unchanged and still valid up to its
// LatestOffset.
var ErrKeyOffsetMapFull = errors.New("key offset map full")

// CompactionRecord is what a keep decision sees of one record.
type CompactionRecord struct {
	Offset      int64
	TimestampMs int64
	// Key is nil for a record without a key. It aliases the batch: copy it
	// to keep it.
	Key []byte
	// Tombstone is true when the value is null (a delete marker).
	Tombstone bool
}

// KeepFunc decides whether a record survives compaction.
type KeepFunc func(r CompactionRecord) bool

// KeyOffsetMap maps each key to the offset of its latest record, over batches
// added in offset order. It holds at most maxKeys keys.
type KeyOffsetMap struct {
	offsets      map[string]int64
	maxKeys      int
	latestOffset int64
	codecs       *Codecs
}

// newKeyOffsetMap is NewKeyOffsetMap decoding with codecs (a clean job
// shares its log's).
func newKeyOffsetMap(maxKeys int, codecs *Codecs) *KeyOffsetMap {
	return &KeyOffsetMap{offsets: make(map[string]int64), maxKeys: maxKeys, latestOffset: -1, codecs: codecs}
}

// Len is the number of keys in the map.
func (m *KeyOffsetMap) Len() int { return len(m.offsets) }

// LatestOffset is the last offset of the last batch added, -1 before any.
// Records past it are outside what the map knows.
func (m *KeyOffsetMap) LatestOffset() int64 { return m.latestOffset }

// Latest returns the offset of key's latest record.
func (m *KeyOffsetMap) Latest(key []byte) (int64, bool) {
	off, ok := m.offsets[string(key)]
	return off, ok
}

// addBatch adds the keyed records of the batch that fills raw. Batches must
// come in offset order. Control batches add no keys but advance
// LatestOffset; so do transactional ones unless committed, which the
// cleaner passes for a batch whose transaction it knows committed (Kafka's
// cleaner maps committed transactional records and compacts them by key).
// If the batch's new keys would pass the bound, it returns
// ErrKeyOffsetMapFull and changes nothing.
func (m *KeyOffsetMap) addBatch(raw []byte, committed bool) error {
	b, err := ParseBatch(raw)
	if err != nil {
		return fmt.Errorf("add batch to key offset map: %w", err)
	}
	if b.FirstOffset <= m.latestOffset {
		return fmt.Errorf("add batch to key offset map: base offset %d not after %d", b.FirstOffset, m.latestOffset)
	}
	if b.Attributes&compactAttrControl != 0 || (b.Attributes&compactAttrTransactional != 0 && !committed) {
		m.latestOffset = b.LastOffset()
		return nil
	}
	recs, err := decodeCompactionRecords(m.codecs, &b)
	if err != nil {
		return fmt.Errorf("add batch at offset %d to key offset map: %w", b.FirstOffset, err)
	}
	newKeys := make(map[string]bool)
	for i := range recs {
		if k := recs[i].Key; k != nil {
			if _, ok := m.offsets[string(k)]; !ok {
				newKeys[string(k)] = true
			}
		}
	}
	if len(m.offsets)+len(newKeys) > m.maxKeys {
		return fmt.Errorf("batch at offset %d brings %d new keys to %d of %d: %w",
			b.FirstOffset, len(newKeys), len(m.offsets), m.maxKeys, ErrKeyOffsetMapFull)
	}
	for i := range recs {
		if k := recs[i].Key; k != nil {
			m.offsets[string(k)] = b.FirstOffset + int64(recs[i].OffsetDelta)
		}
	}
	m.latestOffset = b.LastOffset()
	return nil
}

// Keep is the compaction decision over this map at time nowMs: a record is
// kept if it is past the map, or is its key's latest record and is either a
// value or a tombstone younger than deleteRetentionMs. Records without a key
// are dropped. A key the map does not hold (a record before the mapped range)
// is kept.
func (m *KeyOffsetMap) Keep(nowMs, deleteRetentionMs int64) KeepFunc {
	return func(r CompactionRecord) bool {
		if r.Offset > m.latestOffset {
			return true
		}
		if r.Key == nil {
			return false
		}
		if latest, ok := m.offsets[string(r.Key)]; ok && r.Offset < latest {
			return false
		}
		if r.Tombstone {
			return nowMs < addSaturating(r.TimestampMs, deleteRetentionMs)
		}
		return true
	}
}

// addSaturating is a+b clamped to the int64 range, so extreme timestamps or
// retentions cannot wrap around.
func addSaturating(a, b int64) int64 {
	sum := a + b
	switch {
	case a > 0 && b > 0 && sum < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && sum >= 0:
		return math.MinInt64
	}
	return sum
}

// FilterResult is the outcome of filterBatch.
type FilterResult struct {
	// Batch is the filtered batch: the input itself when nothing was
	// dropped (or the batch is left alone), a new batch when some records
	// were, and nil when the whole batch is dropped.
	Batch []byte
	// Kept and Dropped count records.
	Kept, Dropped int
}

// filterBatch keeps the records of the batch filling raw for which keep
// returns true, in a new valid batch as described at the top of this file.
// Control batches are returned unchanged without consulting keep; so are
// transactional ones unless committed, which the cleaner passes for a batch
// whose transaction it knows committed. With retainEmpty, a batch with no
// record kept becomes an empty batch instead of being dropped.
func filterBatch(codecs *Codecs, raw []byte, keep KeepFunc, retainEmpty, committed bool) (FilterResult, error) {
	b, err := ParseBatch(raw)
	if err != nil {
		return FilterResult{}, fmt.Errorf("filter batch: %w", err)
	}
	if b.Attributes&compactAttrControl != 0 || (b.Attributes&compactAttrTransactional != 0 && !committed) {
		return FilterResult{Batch: raw, Kept: int(b.NumRecords)}, nil
	}
	recs, err := decodeCompactionRecords(codecs, &b)
	if err != nil {
		return FilterResult{}, fmt.Errorf("filter batch at offset %d: %w", b.FirstOffset, err)
	}
	logAppendTime := b.Attributes&compactAttrLogAppendTime != 0
	kept := recs[:0:0]
	for i := range recs {
		r := &recs[i]
		ts := b.FirstTimestamp + r.TimestampDelta64
		if logAppendTime {
			ts = b.MaxTimestamp
		}
		if keep(CompactionRecord{Offset: b.FirstOffset + int64(r.OffsetDelta), TimestampMs: ts, Key: r.Key, Tombstone: r.Value == nil}) {
			kept = append(kept, *r)
		}
	}
	res := FilterResult{Kept: len(kept), Dropped: len(recs) - len(kept)}
	switch {
	case res.Dropped == 0:
		res.Batch = raw
	case len(kept) > 0:
		res.Batch, err = rewriteBatch(codecs, &b, kept)
	case retainEmpty:
		res.Batch = emptyBatch(&b)
	}
	if err != nil {
		return FilterResult{}, fmt.Errorf("filter batch at offset %d: %w", b.FirstOffset, err)
	}
	return res, nil
}

// decodeCompactionRecords decompresses and decodes every record of b,
// checking that there are exactly NumRecords of them, with offset deltas
// strictly increasing within [0, LastOffsetDelta].
func decodeCompactionRecords(codecs *Codecs, b *Batch) ([]kmsg.Record, error) {
	data := b.Records
	if codec := b.Attributes & compactAttrCodecMask; codec != 0 {
		var err error
		if data, err = codecs.decompress(data, kgo.CompressionCodecType(codec)); err != nil {
			return nil, err
		}
	}
	// Each record takes at least 7 bytes; this bounds the allocation by
	// the data actually present.
	if int64(b.NumRecords) > int64(len(data))/7+1 {
		return nil, fmt.Errorf("%w: %d records in %d bytes", ErrCorruption, b.NumRecords, len(data))
	}
	recs := make([]kmsg.Record, b.NumRecords)
	lastDelta := int32(-1)
	for i := range recs {
		length, n := binary.Varint(data)
		if n <= 0 || length < 0 || int64(len(data)-n) < length {
			return nil, fmt.Errorf("%w: record %d of %d: bad length", ErrCorruption, i, b.NumRecords)
		}
		if err := recs[i].ReadFrom(data[:n+int(length)]); err != nil {
			return nil, fmt.Errorf("%w: record %d of %d: %v", ErrCorruption, i, b.NumRecords, err)
		}
		data = data[n+int(length):]
		d := recs[i].OffsetDelta
		if d <= lastDelta || d > b.LastOffsetDelta {
			return nil, fmt.Errorf("%w: record %d offset delta %d after %d, last %d", ErrCorruption, i, d, lastDelta, b.LastOffsetDelta)
		}
		lastDelta = d
	}
	if len(data) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last of %d records", ErrCorruption, len(data), b.NumRecords)
	}
	return recs, nil
}

// rewriteBatch encodes kept, a non-empty subset of b's records, as a batch
// with b's header.
func rewriteBatch(codecs *Codecs, b *Batch, kept []kmsg.Record) ([]byte, error) {
	out := b.RecordBatch
	out.NumRecords = int32(len(kept))
	if b.Attributes&compactAttrLogAppendTime == 0 {
		retimeRecords(&out, kept)
	}
	section := encodeRecordSection(kept, len(b.Records))
	codec := kgo.CompressionCodecType(b.Attributes & compactAttrCodecMask)
	if codec != 0 {
		var err error
		if section, err = codecs.compress(section, codec, 0); err != nil {
			return nil, err
		}
	}
	out.Records = section
	return encodeBatch(&out), nil
}

// retimeRecords sets out's first and max timestamps to those of the kept
// records and makes their deltas relative to the new first timestamp.
func retimeRecords(out *kmsg.RecordBatch, kept []kmsg.Record) {
	first := out.FirstTimestamp + kept[0].TimestampDelta64
	maxTs := first
	for i := range kept {
		ts := out.FirstTimestamp + kept[i].TimestampDelta64
		maxTs = max(maxTs, ts)
		kept[i].TimestampDelta64 = ts - first
		kept[i].TimestampDelta = int32(ts - first)
	}
	out.FirstTimestamp, out.MaxTimestamp = first, maxTs
}

// encodeRecordSection encodes records back to back, computing each Length
// (kmsg.Record.AppendTo writes it verbatim). sizeHint is the expected size.
func encodeRecordSection(recs []kmsg.Record, sizeHint int) []byte {
	dst := make([]byte, 0, sizeHint)
	var scratch []byte
	for i := range recs {
		r := recs[i]
		r.Length = 0
		scratch = r.AppendTo(scratch[:0])
		body := scratch[1:] // a zero Length is the one byte 0x00
		dst = binary.AppendVarint(dst, int64(len(body)))
		dst = append(dst, body...)
	}
	return dst
}

// emptyBatch is b as a batch with no records, as Kafka writes one to keep a
// producer's last sequence: no codec, first and max timestamp the max.
func emptyBatch(b *Batch) []byte {
	out := b.RecordBatch
	out.Attributes &^= compactAttrCodecMask
	out.FirstTimestamp = out.MaxTimestamp
	out.NumRecords = 0
	out.Records = nil
	return encodeBatch(&out)
}

// encodeBatch encodes rb with its Length and CRC computed, and checks the
// result parses back to the same header (a failure is a bug here).
func encodeBatch(rb *kmsg.RecordBatch) []byte {
	rb.Magic = 2
	rb.Length = int32(BatchHeaderBytes - batchLengthOverhead + len(rb.Records))
	p := rb.AppendTo(make([]byte, 0, BatchHeaderBytes+len(rb.Records)))
	ChecksumBatch(p)
	back, err := ParseBatch(p)
	if err != nil || back.FirstOffset != rb.FirstOffset || back.LastOffsetDelta != rb.LastOffsetDelta || back.NumRecords != rb.NumRecords {
		panic(fmt.Sprintf("logstore: re-encoded batch at offset %d does not parse back: %v", rb.FirstOffset, err))
	}
	return p
}
