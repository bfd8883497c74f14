package cluster

import (
	"fmt"
	"testing"
)

// BenchmarkReplicaValidateBatch measures the leader's produce validation of
// one batch (header, CRC, every record) and reports ns and allocations per
// record, uncompressed and per codec, on a plain and a compacted topic.
func BenchmarkReplicaValidateBatch(b *testing.B) {
	const now, records = 1_000_000_000, 100
	for _, compacted := range []bool{false, true} {
		for codec, name := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
			b.Run(fmt.Sprintf("compacted=%v/codec=%s", compacted, name), func(b *testing.B) {
				cfg := testReplicaConfig()
				cfg.Compacted = compacted
				r := newTestReplica(cfg, ReplicaState{})
				batch := testBatch(b, records, now, now, int8(codec))
				if code := benchValidate(r, batch, now); code != 0 {
					b.Fatalf("refused: %d", code)
				}
				b.SetBytes(int64(len(batch)))
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					benchValidate(r, batch, now)
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
			})
		}
	}
}

func benchValidate(r *Replica, batch []byte, nowMs int64) int16 {
	_, code, _, _ := r.validateBatch(batch, nowMs)
	return code
}
