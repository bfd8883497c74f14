package logstore

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// FuzzFilterBatch feeds arbitrary bytes to the compaction functions, once as
// they are and once with the length, magic and CRC fixed up so the fuzzer
// reaches the record decoding and the codecs. Nothing may panic, and any
// batch produced must parse and filter to itself when everything is kept.
func FuzzFilterBatch(f *testing.F) {
	for _, codec := range compactCodecs {
		f.Add(buildCompactTestBatch(f, compactTestBatch{BaseOffset: 7, LastOffsetDelta: 5, Codec: codec, Records: []compactTestRecord{
			kv(0, 100, "a", "1"), kv(2, 90, "b", "<tombstone>"), kv(3, 120, "", "x"), kv(4, 100, "a", ""),
		}}))
	}
	f.Add(buildCompactTestBatch(f, compactTestBatch{LastOffsetDelta: -1, LogAppendTimeMs: 5, Records: []compactTestRecord{kv(0, 1, "k", "v")}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFilterNeverPanics(t, data)
		if len(data) >= BatchHeaderBytes {
			fixed := append([]byte(nil), data...)
			binary.BigEndian.PutUint32(fixed[batchLengthPos:], uint32(len(fixed)-batchLengthOverhead))
			fixed[batchMagicPos] = 2
			binary.BigEndian.PutUint32(fixed[batchCRCPos:], crc32.Checksum(fixed[batchCRCCoveredStart:], crc32.MakeTable(crc32.Castagnoli)))
			checkFilterNeverPanics(t, fixed)
		}
	})
}

func checkFilterNeverPanics(t *testing.T, data []byte) {
	m := newTestKeyOffsetMap(16)
	_, _ = addBatches(m, data)
	keepEven := func(r CompactionRecord) bool { return r.Offset%2 == 0 }
	res, err := filterOneBatch(data, keepEven, true)
	if err != nil || res.Batch == nil {
		return
	}
	b, err := ParseBatch(res.Batch)
	if err != nil {
		t.Fatalf("filter output does not parse: %v", err)
	}
	if int(b.NumRecords) != res.Kept {
		t.Fatalf("output holds %d records, Kept says %d", b.NumRecords, res.Kept)
	}
	again, err := filterOneBatch(res.Batch, func(CompactionRecord) bool { return true }, true)
	if err != nil || again.Dropped != 0 || &again.Batch[0] != &res.Batch[0] {
		t.Fatalf("keeping everything of the output: %+v, %v", again, err)
	}
	_, _, _ = filterBatches(data, m.Keep(0, 0), nil)
}
