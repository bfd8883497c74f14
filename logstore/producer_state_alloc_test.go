//go:build !race

package logstore

import "testing"

// A transactional producer of KIP-890 part 2 bumps its epoch with every
// transaction: its marker comes at the new epoch, then its next batch. The
// entry keeps the array of its remembered batches across the bump, so a
// transaction's batch and marker cost the state no allocation (each new
// epoch reallocated it).
func TestProducerStateEpochBumpAllocs(t *testing.T) {
	s := NewProducerStates()
	offset := int64(0)
	epoch := int16(0)
	txn := func() {
		s.Apply(ProducerBatchInfo{ProducerID: 7, ProducerEpoch: epoch, BaseSequence: 0, LastSequence: 9, FirstOffset: offset, LastOffset: offset + 9,
			Transactional: true})
		epoch++
		s.Apply(ProducerBatchInfo{ProducerID: 7, ProducerEpoch: epoch, BaseSequence: -1, LastSequence: -1, FirstOffset: offset + 10,
			LastOffset: offset + 10, Transactional: true, Control: true, Commit: true})
		offset += 11
	}
	txn() // the entry and its array
	if n := testing.AllocsPerRun(100, txn); n != 0 {
		t.Fatalf("%.1f allocations per transaction, want 0", n)
	}
}
