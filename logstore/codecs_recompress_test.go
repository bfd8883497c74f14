package logstore

import (
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
			out, err := codecs.Recompress(raw, int8(to))
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
	if _, err := codecs.Recompress(buildCompactTestBatch(t, compactTestBatch{Records: []compactTestRecord{kv(0, 1, "a", "b")}}), 5); err == nil {
		t.Error("recompress to codec 5 succeeded")
	}
}
