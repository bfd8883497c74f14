package logstore

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawRecord encodes a v2 record field by field; length -1 writes the
// record's true body length, anything else is written as given.
type rawRecord struct {
	length         int64
	timestampDelta int64
	offsetDelta    int64
	keyLen         int64 // -1: null; otherwise len(key) unless key is nil
	key, value     []byte
	valueLen       int64
	headers        [][2][]byte
	headerCount    int64 // -1: len(headers)
	tail           []byte
}

func goodRecord(i int, key string) rawRecord {
	r := rawRecord{length: -1, offsetDelta: int64(i), keyLen: -1, value: []byte("value"), valueLen: 5, headerCount: -1}
	if key != "" {
		r.key, r.keyLen = []byte(key), int64(len(key))
	}
	return r
}

func (r rawRecord) encode() []byte {
	body := []byte{0}
	body = binary.AppendVarint(body, r.timestampDelta)
	body = binary.AppendVarint(body, r.offsetDelta)
	body = binary.AppendVarint(body, r.keyLen)
	body = append(body, r.key...)
	body = binary.AppendVarint(body, r.valueLen)
	body = append(body, r.value...)
	hc := r.headerCount
	if hc == -1 {
		hc = int64(len(r.headers))
	}
	body = binary.AppendVarint(body, hc)
	for _, h := range r.headers {
		body = binary.AppendVarint(body, int64(len(h[0])))
		body = append(body, h[0]...)
		body = binary.AppendVarint(body, int64(len(h[1])))
		body = append(body, h[1]...)
	}
	body = append(body, r.tail...)
	l := r.length
	if l == -1 {
		l = int64(len(body))
	}
	return append(binary.AppendVarint(nil, l), body...)
}

// sectionBatch wraps a record section (uncompressed; compressed here with
// codec) in a batch with a correct CRC that declares n records and a last
// offset delta of n-1.
func sectionBatch(tb testingT, section []byte, n int32, codec int8, firstTs int64) []byte {
	tb.Helper()
	if codec != 0 {
		c, err := kgo.DefaultCompressor(compressionFor(codec))
		if err != nil {
			tb.Fatal(err)
		}
		out, _ := c.Compress(new(bytes.Buffer), section)
		section = append([]byte(nil), out...)
	}
	b := kmsg.RecordBatch{Magic: 2, Attributes: int16(codec), LastOffsetDelta: max(n-1, 0), FirstTimestamp: firstTs, MaxTimestamp: firstTs,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: n, Records: section}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[batchLengthPos:], uint32(len(raw)-batchLengthOverhead))
	ChecksumBatch(raw)
	return raw
}

func concatRecords(recs ...rawRecord) []byte {
	var out []byte
	for _, r := range recs {
		out = append(out, r.encode()...)
	}
	return out
}

func TestValidateRecords(t *testing.T) {
	with := func(r rawRecord, f func(*rawRecord)) rawRecord { f(&r); return r }
	three := concatRecords(goodRecord(0, "a"), goodRecord(1, "b"), goodRecord(2, "c"))
	tests := []struct {
		name    string
		section []byte
		n       int32
		rules   RecordRules
		kind    RecordsErrorKind // -1: accepted
		want    string           // part of the message
		indexes []int32          // RecordErrors
		// firstTs is the batch's first timestamp (0: 1000); maxTs the
		// largest record timestamp an accepted batch has (0: 1000).
		firstTs, maxTs int64
		// logAppendTime sets the batch's LogAppendTime attribute.
		logAppendTime bool
	}{
		{name: "good", section: three, n: 3, kind: -1},
		{name: "good with headers and null value", n: 1, kind: -1, section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) {
			r.headers = [][2][]byte{{[]byte("h"), []byte("v")}, {[]byte("h2"), nil}}
			r.value, r.valueLen = nil, -1
		}))},
		{name: "zero length prefix", n: 1, kind: InvalidRecords, want: "length prefix 0", section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) { r.length = 0 }))},
		{name: "length prefix too short", n: 1, kind: InvalidRecords, want: "past the record's 7 bytes", section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) { r.length = 7 }))},
		{name: "length prefix past the batch", n: 1, kind: InvalidRecords, want: "remain in the batch", section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) { r.length = 200 }))},
		{name: "negative length prefix", n: 1, kind: InvalidRecords, want: "length prefix -3", section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) { r.length = -3 }))},
		{name: "bytes left in the record", n: 1, kind: InvalidRecords, want: "left over", section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) { r.tail = []byte{1, 2} }))},
		{name: "count above the records", section: three, n: 4, kind: InvalidRecords, want: "declares 4 records but holds 3"},
		{name: "count below the records", section: three, n: 2, kind: InvalidRecords, want: "past its 2 declared"},
		{name: "offset delta out of order", n: 2, kind: InvalidRecords, want: "offset delta 0, expected 1", section: concatRecords(goodRecord(0, "a"), goodRecord(0, "b"))},
		{name: "offset delta not from 0", n: 1, kind: InvalidRecords, want: "offset delta 5", section: concatRecords(goodRecord(5, "a"))},
		{name: "key past the record", n: 1, kind: InvalidRecords, want: "past the record", section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) { r.keyLen = 50 }))},
		{name: "value past the record", n: 1, kind: InvalidRecords, want: "past the record", section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) { r.valueLen = 60 }))},
		{name: "key length below -1", n: 1, kind: InvalidRecords, want: "invalid key length -2", section: concatRecords(with(goodRecord(0, ""), func(r *rawRecord) { r.keyLen = -2 }))},
		{name: "negative header count", n: 1, kind: InvalidRecords, want: "headers -2", section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) { r.headerCount = -2 }))},
		{name: "header count past the record", n: 1, kind: InvalidRecords, want: "headers", section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) { r.headerCount = 3 }))},
		{name: "varint past the batch end", n: 1, kind: InvalidRecords, want: "malformed length prefix", section: []byte{0xff, 0xff}},
		{name: "varint too long", n: 1, kind: InvalidRecords, want: "malformed", section: concatRecords(with(goodRecord(0, "k"), func(r *rawRecord) { r.offsetDelta = 1 << 40 }))},
		{name: "keyless on a compacted topic", section: concatRecords(goodRecord(0, "a"), goodRecord(1, ""), goodRecord(2, "")), n: 3,
			rules: RecordRules{RequireKeys: true}, kind: InvalidRecords, want: "2 record errors", indexes: []int32{1, 2}},
		{name: "keys present on a compacted topic", section: three, n: 3, rules: RecordRules{RequireKeys: true}, kind: -1},
		{name: "timestamp out of range", n: 2, kind: InvalidTimestamps, want: "invalid timestamp", indexes: []int32{1},
			rules:   RecordRules{CheckTimestamps: true, MinTimestampMs: 0, MaxTimestampMs: 2000},
			section: concatRecords(goodRecord(0, "a"), with(goodRecord(1, "b"), func(r *rawRecord) { r.timestampDelta = 5000 }))},
		{name: "largest timestamp", n: 3, kind: -1, maxTs: 1300,
			section: concatRecords(with(goodRecord(0, "a"), func(r *rawRecord) { r.timestampDelta = 300 }), goodRecord(1, "b"),
				with(goodRecord(2, "c"), func(r *rawRecord) { r.timestampDelta = -200 }))},
		// Kafka's LogValidator judges each record's timestamp, and none
		// without one (-1), whatever the batch's header says.
		{name: "no timestamp passes the bounds", n: 2, kind: -1, firstTs: -1, maxTs: -1,
			rules:   RecordRules{CheckTimestamps: true, MinTimestampMs: 500, MaxTimestampMs: 2000},
			section: concatRecords(goodRecord(0, "a"), goodRecord(1, "b"))},
		{name: "a record without a timestamp beside one out of range", n: 2, kind: InvalidTimestamps, firstTs: -1, indexes: []int32{1},
			rules:   RecordRules{CheckTimestamps: true, MinTimestampMs: 500, MaxTimestampMs: 2000},
			section: concatRecords(goodRecord(0, "a"), with(goodRecord(1, "b"), func(r *rawRecord) { r.timestampDelta = 1 }))},
		// Only a broker sets LogAppendTime: refused on a LogAppendTime
		// topic, and for records without a timestamp on a CreateTime one.
		{name: "LogAppendTime from a producer", n: 2, kind: InvalidTimestamps, want: "invalid timestamp", indexes: []int32{0, 1},
			logAppendTime: true, section: concatRecords(goodRecord(0, "a"), goodRecord(1, "b"))},
		{name: "LogAppendTime from a producer, CreateTime topic", n: 2, kind: -1, logAppendTime: true,
			rules:   RecordRules{CheckTimestamps: true, MinTimestampMs: 500, MaxTimestampMs: 2000},
			section: concatRecords(goodRecord(0, "a"), goodRecord(1, "b"))},
		{name: "LogAppendTime from a producer without timestamps", n: 1, kind: InvalidTimestamps, firstTs: -1, logAppendTime: true, indexes: []int32{0},
			rules:   RecordRules{CheckTimestamps: true, MinTimestampMs: 500, MaxTimestampMs: 2000},
			section: concatRecords(goodRecord(0, "a"))},
	}
	for _, tt := range tests {
		for _, codec := range []int8{0, 1, 2, 3, 4} {
			firstTs, wantMax := cmp.Or(tt.firstTs, 1000), cmp.Or(tt.maxTs, 1000)
			raw := sectionBatch(t, tt.section, tt.n, codec, firstTs)
			if tt.logAppendTime {
				binary.BigEndian.PutUint16(raw[batchAttributesPos:], uint16(codec)|attrLogAppendTime)
				ChecksumBatch(raw)
			}
			b, err := ParseBatch(raw)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			maxTs, err := NewCodecs().ValidateRecords(&b, tt.rules)
			if tt.kind < 0 {
				if err != nil {
					t.Errorf("%s (codec %d): refused: %v", tt.name, codec, err)
				} else if maxTs != wantMax {
					t.Errorf("%s (codec %d): largest timestamp %d, want %d", tt.name, codec, maxTs, wantMax)
				}
				continue
			}
			var ire *InvalidRecordsError
			if !errors.As(err, &ire) || ire.Kind != tt.kind || !strings.Contains(ire.Message, tt.want) {
				t.Errorf("%s (codec %d): got %v, want kind %d with %q", tt.name, codec, err, tt.kind, tt.want)
				continue
			}
			var idx []int32
			for _, re := range ire.Records {
				idx = append(idx, re.BatchIndex)
			}
			if !slicesEqual(idx, tt.indexes) {
				t.Errorf("%s (codec %d): record errors at %v, want %v", tt.name, codec, idx, tt.indexes)
			}
		}
	}
}

func slicesEqual(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestValidateRecordsCorruptCompression(t *testing.T) {
	for _, codec := range []int8{1, 2, 3, 4} {
		raw := sectionBatch(t, []byte("not compressed at all, nothing like it"), 1, 0, 0)
		binary.BigEndian.PutUint16(raw[batchAttributesPos:], uint16(codec))
		ChecksumBatch(raw)
		b, err := ParseBatch(raw)
		if err != nil {
			t.Fatal(err)
		}
		var ire *InvalidRecordsError
		if _, err := NewCodecs().ValidateRecords(&b, RecordRules{}); !errors.As(err, &ire) || ire.Kind != CorruptRecords {
			t.Errorf("codec %d: got %v, want CorruptRecords", codec, err)
		}
	}
}

// TestValidateRecordsAllocs checks the claim of no allocation per record (nor
// per batch once the pools are warm), uncompressed and compressed.
func TestValidateRecordsAllocs(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector makes sync.Pool drop buffers at random")
	}
	recs := make([]recordSpec, 200)
	for i := range recs {
		recs[i] = recordSpec{timestampMs: int64(i), value: bytes.Repeat([]byte{byte(i)}, 100)}
	}
	for _, codec := range []int8{0, 1, 2, 3, 4} {
		b, err := ParseBatch(makeBatch(t, codec, recs))
		if err != nil {
			t.Fatal(err)
		}
		c := NewCodecs()
		rules := RecordRules{CheckTimestamps: true, MinTimestampMs: -1, MaxTimestampMs: 1 << 40}
		if _, err := c.ValidateRecords(&b, rules); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(50, func() { _, _ = c.ValidateRecords(&b, rules) })
		// sync.Pool may drop a buffer at a GC; allow a little.
		if allocs > 1 {
			t.Errorf("codec %d: %.1f allocations per batch of %d records", codec, allocs, len(recs))
		}
	}
}

// FuzzValidateRecords feeds arbitrary record sections, in batches with a
// correct CRC, to ValidateRecords: it must never panic, and what it accepts
// must decode with kmsg record by record, with offset deltas 0..n-1.
func FuzzValidateRecords(f *testing.F) {
	f.Add(concatRecords(goodRecord(0, "a"), goodRecord(1, "")), int32(2), int8(0), true)
	f.Add(concatRecords(goodRecord(0, "a"), goodRecord(1, "b")), int32(2), int8(1), false)
	f.Add(concatRecords(goodRecord(0, "a")), int32(1), int8(4), true)
	f.Add([]byte{0}, int32(1), int8(0), false)
	f.Add([]byte{0x0c, 0, 0, 0, 1, 0, 0, 0}, int32(1), int8(0), false)
	f.Add([]byte{}, int32(0), int8(3), false)
	f.Fuzz(func(t *testing.T, section []byte, n int32, codec int8, requireKeys bool) {
		codec &= 0x07
		if codec > 4 {
			codec = 0
		}
		raw := sectionBatch(t, section, n, codec, 1000)
		b, err := ParseBatch(raw)
		if err != nil {
			return
		}
		codecs := NewCodecs()
		// The record decoders a follower's log uses later (timestamp
		// lookups, compaction) get the same batch, which followers do not
		// validate: they must not panic either.
		_ = eachRecord(codecs, &b, func(*kmsg.Record) bool { return true })
		_, _ = decodeCompactionRecords(codecs, &b)
		if _, err := codecs.ValidateRecords(&b, RecordRules{RequireKeys: requireKeys}); err != nil {
			var ire *InvalidRecordsError
			if !errors.As(err, &ire) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// Accepted: an independent decoder agrees.
		rest := section
		for i := int32(0); i < n; i++ {
			if codec != 0 {
				return // the raw section is the uncompressed input only when codec is 0
			}
			var rec kmsg.Record
			length, ln := binary.Varint(rest)
			if ln <= 0 || int(length) > len(rest)-ln {
				t.Fatalf("accepted record %d with a bad length", i)
			}
			if err := rec.ReadFrom(rest[:ln+int(length)]); err != nil {
				t.Fatalf("accepted record %d that kmsg cannot read: %v", i, err)
			}
			if rec.OffsetDelta != i || requireKeys && rec.Key == nil {
				t.Fatalf("accepted record %d with offset delta %d, key %v", i, rec.OffsetDelta, rec.Key)
			}
			rest = rest[ln+int(length):]
		}
		if codec == 0 && len(rest) != 0 {
			t.Fatalf("accepted %d trailing bytes", len(rest))
		}
	})
}

// BenchmarkValidateRecords measures ValidateRecords alone over a batch of
// 100-byte records, per codec, and reports ns and allocations per record.
func BenchmarkValidateRecords(b *testing.B) {
	const n = 160
	recs := make([]recordSpec, n)
	for i := range recs {
		recs[i] = recordSpec{timestampMs: int64(i), value: bytes.Repeat([]byte{byte(i)}, 100)}
	}
	for codec, name := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		b.Run("codec="+name, func(b *testing.B) {
			batch, err := ParseBatch(makeBatch(b, int8(codec), recs))
			if err != nil {
				b.Fatal(err)
			}
			c := NewCodecs()
			rules := RecordRules{RequireKeys: false, CheckTimestamps: true, MinTimestampMs: -1, MaxTimestampMs: 1 << 40}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := c.ValidateRecords(&batch, rules); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
		})
	}
}

// FuzzVarint checks varint against encoding/binary: the same value and
// length wherever binary.Varint reads one.
func FuzzVarint(f *testing.F) {
	for _, v := range []int64{0, -1, 1, 63, -64, 64, 1 << 31, -1 << 31, 1<<63 - 1, -1 << 63} {
		f.Add(binary.AppendVarint(nil, v))
	}
	f.Add([]byte{0x80, 0x80})
	f.Add(bytes.Repeat([]byte{0xff}, 11))
	f.Fuzz(func(t *testing.T, p []byte) {
		want, wn := binary.Varint(p)
		got, n := varint(p)
		if wn > 0 && (got != want || n != wn) {
			t.Fatalf("varint(%x) = %d, %d; binary.Varint = %d, %d", p, got, n, want, wn)
		}
		if wn == 0 && n > 0 {
			t.Fatalf("varint(%x) read %d bytes of a truncated varint", p, n)
		}
	})
}

// FuzzRecordFrameFast: whatever the fast path reads, the full reader reads
// too, with the same frame (the fast path may only decline).
func FuzzRecordFrameFast(f *testing.F) {
	f.Add(goodRecord(0, "a").encode(), int32(0))
	f.Add(goodRecord(3, "").encode(), int32(3))
	big := goodRecord(70, "k")
	big.value, big.valueLen, big.timestampDelta = bytes.Repeat([]byte{7}, 300), 300, 100
	f.Add(big.encode(), int32(70))
	f.Add([]byte{0x0c, 0, 0, 0, 1, 0, 0, 0}, int32(0))
	f.Add([]byte{0x80, 0x00, 0, 0, 0, 1, 0, 0, 0}, int32(0))
	f.Fuzz(func(t *testing.T, p []byte, i int32) {
		fast, ok := readRecordFrameFast(p, i)
		if !ok {
			return
		}
		full, err := readRecordFrame(p, i)
		if err != nil {
			t.Fatalf("fast path accepted what the full reader refuses: %v", err)
		}
		if fast != full {
			t.Fatalf("fast path read %+v, the full reader %+v", fast, full)
		}
	})
}

// The fast path takes the common records and declines the rest, which the
// full reader then reads: headers, three-byte varints, wrong offset deltas.
func TestRecordFrameFastDeclines(t *testing.T) {
	plain := goodRecord(5, "key")
	if f, ok := readRecordFrameFast(plain.encode(), 5); !ok || f.keyLen != 3 {
		t.Fatalf("fast path declined a plain record (%+v, %v)", f, ok)
	}
	long := goodRecord(5, "")
	long.timestampDelta = 1 << 20 // three bytes
	withHeader := goodRecord(5, "")
	withHeader.headers = [][2][]byte{{[]byte("h"), []byte("v")}}
	for name, c := range map[string]struct {
		raw []byte
		i   int32
	}{"three-byte varint": {long.encode(), 5}, "a header": {withHeader.encode(), 5}, "other offset delta": {plain.encode(), 6}} {
		if _, ok := readRecordFrameFast(c.raw, c.i); ok {
			t.Errorf("%s: fast path took it", name)
		}
	}
	if _, err := readRecordFrame(long.encode(), 5); err != nil {
		t.Errorf("full reader refused a three-byte varint: %v", err)
	}
	if _, err := readRecordFrame(withHeader.encode(), 5); err != nil {
		t.Errorf("full reader refused a record with a header: %v", err)
	}
}
