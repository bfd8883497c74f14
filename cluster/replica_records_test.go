package cluster

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// The leader refuses a batch with a correct CRC and a broken record, and
// answers per-record refusals with the refused records; acks=0 gets no
// answer and no append either.
func TestReplicaProduceValidatesRecords(t *testing.T) {
	const now = 1_000_000_000
	// A record's offset delta rewritten (byte 4 of the first record: length,
	// attributes, timestamp delta, offset delta), CRC recomputed.
	badDelta := testBatch(t, 3, now, now, 0)
	badDelta[61+3] = 4 // zigzag 2
	logstore.ChecksumBatch(badDelta)
	keyless := testBatchKeyed(t, 3, now, now, 0, func(i int) []byte {
		if i == 1 {
			return nil
		}
		return []byte{byte(i)}
	})
	for _, c := range []struct {
		name      string
		records   []byte
		acks      int16
		compacted bool
		want      int16
		indexes   []int32
	}{
		{"offset delta", badDelta, 1, false, kerr.InvalidRecord.Code, nil},
		{"offset delta acks=0", badDelta, 0, false, -1, nil},
		{"keyless on compacted", keyless, -1, true, kerr.InvalidRecord.Code, []int32{1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testReplicaConfig()
			cfg.Compacted = c.compacted
			r := newTestReplica(cfg, ReplicaState{})
			r.Produce(1, ProduceRequest{Records: c.records, Acks: c.acks, TimeoutMs: 1000}, Instant{WallMs: now})
			rd := r.Ready()
			if len(rd.Appends) != 0 {
				t.Fatalf("appended a refused batch: %+v", rd.Appends)
			}
			if c.want < 0 {
				if len(rd.ProduceReplies) != 0 {
					t.Fatalf("acks=0 answered: %+v", rd.ProduceReplies)
				}
				return
			}
			if len(rd.ProduceReplies) != 1 || rd.ProduceReplies[0].ErrorCode != c.want || rd.ProduceReplies[0].ErrorMessage == "" {
				t.Fatalf("got %+v, want error %d with a message", rd.ProduceReplies, c.want)
			}
			var idx []int32
			for _, re := range rd.ProduceReplies[0].RecordErrors {
				idx = append(idx, re.BatchIndex)
			}
			if len(idx) != len(c.indexes) || len(idx) > 0 && idx[0] != c.indexes[0] {
				t.Fatalf("record errors at %v, want %v", idx, c.indexes)
			}
		})
	}
}
