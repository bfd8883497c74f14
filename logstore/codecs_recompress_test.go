package logstore

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Recompress re-encodes a batch into each codec and back: the header
// (offsets, producer, sequence, timestamps, transactional bit) and every
// record are kept, the codec bits are the target's and the CRC is valid.
func TestRecompressKeepsTheBatch(t *testing.T) {
	codecs := NewCodecs()
	all := []kgo.CompressionCodecType{kgo.CodecNone, kgo.CodecGzip, kgo.CodecSnappy, kgo.CodecLz4, kgo.CodecZstd}
	for _, from := range all {
		for _, to := range all {
			tb := compactTestBatch{BaseOffset: 40, LastOffsetDelta: -1, Codec: from, Transactional: true,
				ProducerID: 7, ProducerEpoch: 2, BaseSequence: 11, LeaderEpoch: 3,
				Records: []compactTestRecord{kv(0, 1000, "a", "one"), kv(1, 1500, "b", "two"), kv(2, 1200, "", "three")}}
			raw := buildCompactTestBatch(t, tb)
			out, err := codecs.Recompress(raw, int8(to), 0)
			if err != nil {
				t.Fatalf("%d -> %d: %v", from, to, err)
			}
			in, err := ParseBatch(raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseBatch(out) // checks the CRC too
			if err != nil {
				t.Fatalf("%d -> %d: recompressed batch does not parse: %v", from, to, err)
			}
			if codec := got.Attributes & 0x07; codec != int16(to) {
				t.Errorf("%d -> %d: codec bits %d", from, to, codec)
			}
			if got.Attributes&^0x07 != in.Attributes&^0x07 || got.FirstOffset != in.FirstOffset || got.LastOffsetDelta != in.LastOffsetDelta ||
				got.NumRecords != in.NumRecords || got.ProducerID != in.ProducerID || got.ProducerEpoch != in.ProducerEpoch ||
				got.FirstSequence != in.FirstSequence || got.FirstTimestamp != in.FirstTimestamp || got.MaxTimestamp != in.MaxTimestamp ||
				got.PartitionLeaderEpoch != in.PartitionLeaderEpoch {
				t.Errorf("%d -> %d: header %+v, want that of %+v", from, to, got.RecordBatch, in.RecordBatch)
			}
			want := consumeLikeFranzGo(t, raw)
			if back := consumeLikeFranzGo(t, out); len(back) != len(want) {
				t.Errorf("%d -> %d: %d records, want %d", from, to, len(back), len(want))
			} else {
				for i := range want {
					if back[i].Offset != want[i].Offset || string(back[i].Key) != string(want[i].Key) || string(back[i].Value) != string(want[i].Value) ||
						back[i].TimestampMs != want[i].TimestampMs {
						t.Errorf("%d -> %d: record %d is %+v, want %+v", from, to, i, back[i], want[i])
					}
				}
			}
		}
	}
	if _, err := codecs.Recompress(buildCompactTestBatch(t, compactTestBatch{Records: []compactTestRecord{kv(0, 1, "a", "b")}}), 5, 0); err == nil {
		t.Error("recompress to codec 5 succeeded")
	}
}

// Recompress honours the codec's level (Kafka's scale): gzip writes it into
// its header (XFL 4 for 1, fastest; 2 for 9, smallest; 0 otherwise), and
// lz4's and zstd's other levels encode differently from their defaults.
func TestRecompressHonoursTheLevel(t *testing.T) {
	codecs := NewCodecs()
	var recs []compactTestRecord
	for i := range 200 {
		recs = append(recs, kv(int32(i), int64(1000+i), fmt.Sprintf("key-%d", i%17), strings.Repeat(fmt.Sprintf("value %d of a compressible batch ", i*i%31), 8)))
	}
	raw := buildCompactTestBatch(t, compactTestBatch{LastOffsetDelta: -1, Records: recs})
	section := func(codec int8, level int32) []byte {
		t.Helper()
		out, err := codecs.Recompress(raw, codec, level)
		if err != nil {
			t.Fatalf("codec %d level %d: %v", codec, level, err)
		}
		b, err := ParseBatch(out)
		if err != nil {
			t.Fatalf("codec %d level %d: %v", codec, level, err)
		}
		if back := consumeLikeFranzGo(t, out); len(back) != len(recs) {
			t.Fatalf("codec %d level %d: %d records, want %d", codec, level, len(back), len(recs))
		}
		return b.Records
	}
	for level, xfl := range map[int32]byte{1: 4, 9: 2, -1: 0, 5: 0} {
		if got := section(1, level)[8]; got != xfl {
			t.Errorf("gzip level %d: header XFL %d, want %d", level, got, xfl)
		}
	}
	for _, c := range []struct {
		codec           int8
		def, other      int32
		otherIsSmallest bool
	}{{3, 9, 1, false}, {3, 9, 17, true}, {4, 3, 1, false}, {4, 3, 19, true}} {
		def, other := section(c.codec, c.def), section(c.codec, c.other)
		if bytes.Equal(def, other) {
			t.Errorf("codec %d: level %d encodes as the default %d (%d bytes)", c.codec, c.other, c.def, len(def))
		}
		if c.otherIsSmallest && len(other) > len(def) {
			t.Errorf("codec %d: level %d gives %d bytes, more than the default %d's %d", c.codec, c.other, len(other), c.def, len(def))
		}
	}
}
