package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"pgregory.net/rapid"
)

func kv(delta int32, ts int64, key, value string) compactTestRecord {
	r := compactTestRecord{OffsetDelta: delta, TimestampMs: ts, Key: []byte(key)}
	if key == "" {
		r.Key = nil
	}
	if value != "<tombstone>" {
		r.Value = []byte(value)
	}
	return r
}

// compactionTestLog is offsets 0-9 in three batches:
//
//	0 a=1   1 b=1   2 c=1  | 3 a=2  4 (no key)  5 b=tombstone(ts 5000) | 6 c=2  7 a=3 8 d=1 9 e=tombstone(ts 9000)
func compactionTestLog(t *testing.T, codec kgo.CompressionCodecType) []byte {
	var log []byte
	for _, tb := range []compactTestBatch{
		{BaseOffset: 0, LastOffsetDelta: -1, Codec: codec, Records: []compactTestRecord{kv(0, 1000, "a", "1"), kv(1, 1000, "b", "1"), kv(2, 1000, "c", "1")}},
		{BaseOffset: 3, LastOffsetDelta: -1, Codec: codec, Records: []compactTestRecord{kv(0, 3000, "a", "2"), kv(1, 4000, "", "x"), kv(2, 5000, "b", "<tombstone>")}},
		{BaseOffset: 6, LastOffsetDelta: -1, Codec: codec, Records: []compactTestRecord{kv(0, 6000, "c", "2"), kv(1, 7000, "a", "3"), kv(2, 8000, "d", "1"), kv(3, 9000, "e", "<tombstone>")}},
	} {
		log = append(log, buildCompactTestBatch(t, tb)...)
	}
	return log
}

func offsetsOf(t compactTB, log []byte) []int64 {
	var offs []int64
	for _, c := range consumeLikeFranzGo(t, log) {
		offs = append(offs, c.Offset)
	}
	return offs
}

func TestCompactionKeepsLatestPerKeyAndYoungTombstones(t *testing.T) {
	const retentionMs = 10_000
	for _, codec := range compactCodecs {
		log := compactionTestLog(t, codec)
		m := newTestKeyOffsetMap(100)
		if n, err := addBatches(m, log); err != nil || n != len(log) {
			t.Fatalf("addBatches = %d, %v", n, err)
		}
		if m.Len() != 5 || m.LatestOffset() != 9 {
			t.Fatalf("map holds %d keys up to %d, want 5 up to 9", m.Len(), m.LatestOffset())
		}
		if off, ok := m.Latest([]byte("a")); !ok || off != 7 {
			t.Fatalf("Latest(a) = %d %v, want 7", off, ok)
		}
		for _, c := range []struct {
			nowMs int64
			want  []int64
		}{
			// Both tombstones are young: b's (5) and e's (9) stay.
			{nowMs: 5000 + retentionMs - 1, want: []int64{5, 6, 7, 8, 9}},
			// b's tombstone reached delete.retention.ms; e's has not.
			{nowMs: 5000 + retentionMs, want: []int64{6, 7, 8, 9}},
			{nowMs: 9000 + retentionMs, want: []int64{6, 7, 8}},
		} {
			out, stats, err := filterBatches(log, m.Keep(c.nowMs, retentionMs), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := offsetsOf(t, out); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("codec %d at %d: offsets %v, want %v", codec, c.nowMs, got, c.want)
			}
			if stats.RecordsKept != len(c.want) || stats.RecordsKept+stats.RecordsDropped != 10 {
				t.Fatalf("stats %+v", stats)
			}
		}
	}
}

func TestCompactionRetainsEmptyBatchOnRequest(t *testing.T) {
	log := compactionTestLog(t, kgo.CodecZstd)
	m := newTestKeyOffsetMap(100)
	if _, err := addBatches(m, log); err != nil {
		t.Fatal(err)
	}
	// The first batch loses every record; keep it empty, as for the last
	// batch of an active producer.
	out, stats, err := filterBatches(log, m.Keep(0, 1<<40), func(b *Batch) bool { return b.FirstOffset == 0 })
	if err != nil {
		t.Fatal(err)
	}
	if stats.BatchesKept != 3 || stats.BatchesDropped != 0 {
		t.Fatalf("stats %+v", stats)
	}
	first, err := ParseBatch(out[:mustBatchSize(t, out)])
	if err != nil {
		t.Fatal(err)
	}
	if first.NumRecords != 0 || first.FirstOffset != 0 || first.NextOffset() != 3 || first.Attributes&0x07 != 0 {
		t.Fatalf("empty batch header %+v", first.RecordBatch)
	}
	out, stats, err = filterBatches(log, m.Keep(0, 1<<40), nil)
	if err != nil || stats.BatchesDropped != 1 {
		t.Fatalf("without retain: stats %+v, %v", stats, err)
	}
	if b, _ := ParseBatch(out[:mustBatchSize(t, out)]); b.FirstOffset != 3 {
		t.Fatalf("first batch left starts at %d, want 3", b.FirstOffset)
	}
}

func mustBatchSize(t *testing.T, p []byte) int {
	n, err := BatchSize(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Records past the map's range, and keys the map never saw, are kept.
func TestKeepOutsideTheMap(t *testing.T) {
	log := compactionTestLog(t, kgo.CodecNone)
	m := newTestKeyOffsetMap(100)
	second := log[mustBatchSize(t, log):]
	n := mustBatchSize(t, second)
	if _, err := addBatches(m, second[:n]); err != nil { // offsets 3-5 only
		t.Fatal(err)
	}
	keep := m.Keep(0, 1<<40)
	for _, c := range []struct {
		r    CompactionRecord
		want bool
	}{
		{CompactionRecord{Offset: 0, Key: []byte("a")}, false}, // a's latest is 3
		{CompactionRecord{Offset: 2, Key: []byte("c")}, true},  // c is not in the map
		{CompactionRecord{Offset: 4}, false},                   // no key
		{CompactionRecord{Offset: 6, Key: []byte("a")}, true},  // past the map
		{CompactionRecord{Offset: 6}, true},                    // past the map, even keyless
	} {
		if got := keep(c.r); got != c.want {
			t.Errorf("keep(%+v) = %v, want %v", c.r, got, c.want)
		}
	}
}

func TestKeyOffsetMapBoundAndOrder(t *testing.T) {
	log := compactionTestLog(t, kgo.CodecSnappy)
	m := newTestKeyOffsetMap(3)
	n, err := addBatches(m, log)
	if !errors.Is(err, ErrKeyOffsetMapFull) {
		t.Fatalf("addBatches into 3 keys: %v, want ErrKeyOffsetMapFull", err)
	}
	// The first two batches (keys a, b, c) fit; the third brings d and e.
	if first := mustBatchSize(t, log); n != first+mustBatchSize(t, log[first:]) || m.Len() != 3 || m.LatestOffset() != 5 {
		t.Fatalf("added %d bytes, %d keys up to %d", n, m.Len(), m.LatestOffset())
	}
	if err := m.addBatch(log[:mustBatchSize(t, log)], false); err == nil {
		t.Fatal("adding a batch out of offset order succeeded")
	}
}

func TestKeyOffsetMapSkipsTransactionalBatches(t *testing.T) {
	m := newTestKeyOffsetMap(10)
	data := buildCompactTestBatch(t, compactTestBatch{BaseOffset: 0, LastOffsetDelta: -1, Records: []compactTestRecord{kv(0, 1, "k", "committed")}})
	txn := buildCompactTestBatch(t, compactTestBatch{BaseOffset: 1, LastOffsetDelta: -1, Transactional: true, ProducerID: 3, Records: []compactTestRecord{kv(0, 2, "k", "maybe aborted")}})
	if _, err := addBatches(m, append(append([]byte(nil), data...), txn...)); err != nil {
		t.Fatal(err)
	}
	if off, _ := m.Latest([]byte("k")); off != 0 || m.LatestOffset() != 1 {
		t.Fatalf("Latest(k) = %d, LatestOffset %d; want 0 and 1", off, m.LatestOffset())
	}
}

// Against a naive model: a random log of keyed records in random batches
// and codecs, compacted with the map over all of it, keeps for each key
// only its latest record (unless it is an old tombstone), and compacting the
// result again changes nothing.
func TestCompactionMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const retentionMs = 100
		nowMs := rapid.Int64Range(0, 400).Draw(rt, "now")
		var (
			log    []byte
			latest = map[string]int{}
			all    []compactTestRecord
			offset int64
		)
		for range rapid.IntRange(1, 8).Draw(rt, "batches") {
			tb := compactTestBatch{BaseOffset: offset, LastOffsetDelta: -1, Codec: rapid.SampledFrom(compactCodecs).Draw(rt, "codec")}
			for i := range rapid.IntRange(1, 6).Draw(rt, "records") {
				key := string(rune('a' + rapid.IntRange(0, 4).Draw(rt, "key")))
				value := rapid.SampledFrom([]string{"v", "w", "<tombstone>"}).Draw(rt, "value")
				r := kv(int32(i), rapid.Int64Range(0, 300).Draw(rt, "ts"), key, value)
				tb.Records = append(tb.Records, r)
				latest[key] = len(all)
				all = append(all, r)
			}
			log = append(log, buildCompactTestBatch(rt, tb)...)
			offset += int64(len(tb.Records))
		}
		var want []int64
		for i, r := range all {
			if latest[string(r.Key)] == i && (r.Value != nil || nowMs < r.TimestampMs+retentionMs) {
				want = append(want, int64(i))
			}
		}
		m := newTestKeyOffsetMap(10)
		if _, err := addBatches(m, log); err != nil {
			rt.Fatal(err)
		}
		out, _, err := filterBatches(log, m.Keep(nowMs, retentionMs), nil)
		if err != nil {
			rt.Fatal(err)
		}
		if got := offsetsOf(rt, out); fmt.Sprint(got) != fmt.Sprint(want) {
			rt.Fatalf("kept offsets %v, model %v", got, want)
		}
		again, _, err := filterBatches(out, m.Keep(nowMs, retentionMs), nil)
		if err != nil || !bytes.Equal(again, out) {
			rt.Fatalf("second compaction changed the log (err %v)", err)
		}
	})
}
