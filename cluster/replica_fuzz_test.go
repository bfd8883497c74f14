package cluster

import (
	"encoding/binary"
	"testing"

	"gregor/logstore"
)

// FuzzReplicaProduce feeds arbitrary produce records to the replica core, as
// a topic with and without compaction: it never panics, and every produce
// either asks for exactly one append or is answered with an error. With
// fix set, the batch length and CRC are made right first, so that the
// fuzzer reaches the record decoding behind them.
func FuzzReplicaProduce(f *testing.F) {
	const now = 1_000_000_000
	f.Add(testBatch(f, 3, now, now, 0), false, false)
	f.Add(testBatch(f, 3, now, now, 1), true, true)
	f.Add(testBatch(f, 2, now, now, 4), true, true)
	f.Add(testBatchKeyed(f, 2, now, now, 2, func(int) []byte { return nil }), true, true)
	f.Add([]byte{}, false, false)
	f.Fuzz(func(t *testing.T, records []byte, compacted, fix bool) {
		if fix && len(records) >= logstore.BatchHeaderBytes {
			binary.BigEndian.PutUint32(records[8:], uint32(len(records)-12))
			records[16] = 2
			logstore.ChecksumBatch(records)
		}
		cfg := testReplicaConfig()
		cfg.Compacted = compacted
		r := newTestReplica(cfg, ReplicaState{})
		r.Produce(1, ProduceRequest{Records: records, Acks: 1, TimeoutMs: 1000}, Instant{WallMs: now})
		rd := r.Ready()
		switch {
		case len(rd.Appends) == 1 && len(rd.ProduceReplies) == 0:
			if len(rd.Appends[0].Batches) != 1 {
				t.Fatalf("append of %d batches", len(rd.Appends[0].Batches))
			}
		case len(rd.Appends) == 0 && len(rd.ProduceReplies) == 1:
			if rd.ProduceReplies[0].ErrorCode == 0 {
				t.Fatal("a produce answered without an append and without an error")
			}
		default:
			t.Fatalf("produce gave %d appends and %d replies", len(rd.Appends), len(rd.ProduceReplies))
		}
	})
}
