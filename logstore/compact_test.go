package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"pgregory.net/rapid"
)

var compactCodecs = []kgo.CompressionCodecType{kgo.CodecNone, kgo.CodecGzip, kgo.CodecSnappy, kgo.CodecLz4, kgo.CodecZstd}

// drawNullableBytes draws nil, empty or a short byte string.
func drawNullableBytes(t *rapid.T, label string) []byte {
	switch rapid.IntRange(0, 4).Draw(t, label+"_kind") {
	case 0:
		return nil
	case 1:
		return []byte{}
	default:
		return rapid.SliceOfN(rapid.Byte(), 1, 24).Draw(t, label)
	}
}

// drawCompactTestBatch draws a data batch of 1 to 30 records with gaps in the
// offsets (as after an earlier compaction), any timestamps, nil and empty
// keys, values and header values.
func drawCompactTestBatch(t *rapid.T) compactTestBatch {
	tb := compactTestBatch{
		BaseOffset:      rapid.Int64Range(0, 1<<40).Draw(t, "base"),
		LastOffsetDelta: -1,
		Codec:           rapid.SampledFrom(compactCodecs).Draw(t, "codec"),
		ProducerID:      rapid.Int64Range(-1, 1000).Draw(t, "pid"),
		ProducerEpoch:   int16(rapid.IntRange(-1, 5).Draw(t, "epoch")),
		BaseSequence:    int32(rapid.IntRange(-1, 1000).Draw(t, "seq")),
		LeaderEpoch:     int32(rapid.IntRange(0, 9).Draw(t, "leader_epoch")),
	}
	if rapid.Bool().Draw(t, "log_append_time") {
		tb.LogAppendTimeMs = rapid.Int64Range(1, 1<<42).Draw(t, "append_time")
	}
	n := rapid.IntRange(1, 30).Draw(t, "records")
	delta := int32(-1)
	baseTs := rapid.Int64Range(0, 1<<42).Draw(t, "base_ts")
	for i := range n {
		delta += int32(rapid.IntRange(1, 3).Draw(t, fmt.Sprintf("gap%d", i)))
		r := compactTestRecord{
			OffsetDelta: delta,
			TimestampMs: baseTs + rapid.Int64Range(-5000, 5000).Draw(t, "ts"),
			Key:         drawNullableBytes(t, "key"),
			Value:       drawNullableBytes(t, "value"),
		}
		for range rapid.IntRange(0, 2).Draw(t, "headers") {
			h := kmsg.Header{Key: rapid.StringN(0, 8, 8).Draw(t, "hkey"), Value: drawNullableBytes(t, "hvalue")}
			r.Headers = append(r.Headers, h)
		}
		tb.Records = append(tb.Records, r)
	}
	if rapid.Bool().Draw(t, "trailing_gap") {
		tb.LastOffsetDelta = delta + int32(rapid.IntRange(1, 5).Draw(t, "trailing"))
	}
	return tb
}

// Filtering keeps exactly the records the predicate keeps, with their
// offsets, keys, values, headers and timestamps, for every codec, in a batch
// with the original base offset, last offset delta, codec and producer
// fields.
func TestFilterBatchKeepsExactlyThePredicate(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		tb := drawCompactTestBatch(rt)
		raw := buildCompactTestBatch(rt, tb)
		keepIdx := rapid.SliceOfN(rapid.Bool(), len(tb.Records), len(tb.Records)).Draw(rt, "keep")
		retainEmpty := rapid.Bool().Draw(rt, "retain_empty")

		var seen []CompactionRecord
		i := 0
		res, err := filterOneBatch(raw, func(r CompactionRecord) bool {
			seen = append(seen, r)
			i++
			return keepIdx[i-1]
		}, retainEmpty)
		if err != nil {
			rt.Fatal(err)
		}
		in := consumeLikeFranzGo(rt, raw)
		checkPredicateSaw(rt, tb, in, seen)

		var want []consumedRecord
		for j, c := range in {
			if keepIdx[j] {
				want = append(want, c)
			}
		}
		if res.Kept != len(want) || res.Dropped != len(in)-len(want) {
			rt.Fatalf("Kept %d Dropped %d, want %d %d", res.Kept, res.Dropped, len(want), len(in)-len(want))
		}
		checkFilteredHeader(rt, raw, res, len(want), retainEmpty)
		if res.Batch == nil {
			return
		}
		got := consumeLikeFranzGo(rt, res.Batch)
		if len(got) != len(want) {
			rt.Fatalf("consumer reads %d records, want %d", len(got), len(want))
		}
		for j := range want {
			g, w := got[j], want[j]
			if g.Offset != w.Offset || g.TimestampMs != w.TimestampMs || !sameNullableBytes(g.Key, w.Key) || !sameNullableBytes(g.Value, w.Value) || !sameConsumedHeaders(g.Headers, w.Headers) {
				rt.Fatalf("record %d: got %+v, want %+v", j, g, w)
			}
		}
	})
}

// checkPredicateSaw checks that the predicate saw every record, as a consumer reads
// it.
func checkPredicateSaw(rt *rapid.T, tb compactTestBatch, in []consumedRecord, seen []CompactionRecord) {
	if len(seen) != len(in) {
		rt.Fatalf("predicate saw %d records, the batch has %d", len(seen), len(in))
	}
	for j, c := range in {
		s := seen[j]
		if s.Offset != c.Offset || s.TimestampMs != c.TimestampMs || !sameNullableBytes(s.Key, c.Key) || s.Tombstone != (c.Value == nil) {
			rt.Fatalf("predicate saw %+v, consumer reads %+v", s, c)
		}
		if c.Offset != tb.BaseOffset+int64(tb.Records[j].OffsetDelta) {
			rt.Fatalf("oracle reads offset %d for record %d", c.Offset, j)
		}
	}
}

// checkFilteredHeader checks the batch-level fields of a filter result.
func checkFilteredHeader(rt *rapid.T, raw []byte, res FilterResult, kept int, retainEmpty bool) {
	orig, err := ParseBatch(raw)
	if err != nil {
		rt.Fatal(err)
	}
	switch {
	case kept == int(orig.NumRecords):
		if &res.Batch[0] != &raw[0] {
			rt.Fatal("a batch with every record kept was re-encoded")
		}
		return
	case kept == 0 && !retainEmpty:
		if res.Batch != nil {
			rt.Fatal("a batch with no record kept was not dropped")
		}
		return
	}
	b, err := ParseBatch(res.Batch)
	if err != nil {
		rt.Fatalf("filtered batch does not parse: %v", err)
	}
	wantAttrs := orig.Attributes
	if kept == 0 {
		wantAttrs &^= 0x07
	}
	if b.FirstOffset != orig.FirstOffset || b.LastOffsetDelta != orig.LastOffsetDelta || b.Attributes != wantAttrs ||
		b.ProducerID != orig.ProducerID || b.ProducerEpoch != orig.ProducerEpoch || b.FirstSequence != orig.FirstSequence ||
		b.PartitionLeaderEpoch != orig.PartitionLeaderEpoch || int(b.NumRecords) != kept {
		rt.Fatalf("header %+v, original %+v", b.RecordBatch, orig.RecordBatch)
	}
	if kept == 0 && (b.FirstTimestamp != orig.MaxTimestamp || b.MaxTimestamp != orig.MaxTimestamp) {
		rt.Fatalf("empty batch timestamps %d %d, want both %d", b.FirstTimestamp, b.MaxTimestamp, orig.MaxTimestamp)
	}
}

func sameConsumedHeaders(a, b []kgo.RecordHeader) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !sameNullableBytes(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// CreateTime batches get first and max timestamps of the kept records.
func TestFilterBatchRecomputesTimestamps(t *testing.T) {
	raw := buildCompactTestBatch(t, compactTestBatch{BaseOffset: 10, LastOffsetDelta: -1, Records: []compactTestRecord{
		{OffsetDelta: 0, TimestampMs: 1000, Key: []byte("a"), Value: []byte("1")},
		{OffsetDelta: 1, TimestampMs: 5000, Key: []byte("b"), Value: []byte("2")},
		{OffsetDelta: 2, TimestampMs: 3000, Key: []byte("c"), Value: []byte("3")},
	}})
	res, err := filterOneBatch(raw, func(r CompactionRecord) bool { return r.Offset != 11 }, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBatch(res.Batch)
	if err != nil {
		t.Fatal(err)
	}
	if b.FirstTimestamp != 1000 || b.MaxTimestamp != 3000 || b.NextOffset() != 13 {
		t.Fatalf("first %d max %d next %d, want 1000 3000 13", b.FirstTimestamp, b.MaxTimestamp, b.NextOffset())
	}
}

func TestFilterBatchLeavesControlAndTransactionalAlone(t *testing.T) {
	for _, tb := range []compactTestBatch{
		{BaseOffset: 5, LastOffsetDelta: -1, Transactional: true, ProducerID: 7, Records: []compactTestRecord{{Key: []byte("k"), Value: []byte("v")}}},
		{BaseOffset: 6, LastOffsetDelta: -1, Transactional: true, Control: true, ProducerID: 7, Records: []compactTestRecord{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}}},
	} {
		raw := buildCompactTestBatch(t, tb)
		called := false
		res, err := filterOneBatch(raw, func(CompactionRecord) bool { called = true; return false }, false)
		if err != nil {
			t.Fatal(err)
		}
		if called || !bytes.Equal(res.Batch, raw) || res.Kept != 1 {
			t.Fatalf("batch %+v was touched: called=%v res=%+v", tb, called, res)
		}
	}
}

func TestFilterBatchRejectsCorruptInput(t *testing.T) {
	good := buildCompactTestBatch(t, compactTestBatch{LastOffsetDelta: -1, Records: []compactTestRecord{{Key: []byte("k"), Value: []byte("v")}}})
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	if _, err := filterOneBatch(bad, func(CompactionRecord) bool { return true }, false); !errors.Is(err, ErrCorruption) {
		t.Fatalf("flipped byte: %v, want ErrCorruption", err)
	}
	// Offsets that go backwards inside a batch are corruption, even with a
	// good CRC.
	backwards := buildCompactTestBatch(t, compactTestBatch{LastOffsetDelta: 3, Records: []compactTestRecord{
		{OffsetDelta: 2, Key: []byte("a")}, {OffsetDelta: 1, Key: []byte("b")},
	}})
	if _, err := filterOneBatch(backwards, func(CompactionRecord) bool { return true }, false); !errors.Is(err, ErrCorruption) {
		t.Fatalf("backwards offsets: %v, want ErrCorruption", err)
	}
}
