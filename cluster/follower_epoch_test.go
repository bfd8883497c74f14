package cluster

import (
	"testing"

	"gregor/logstore"
)

// TestBelowEpochDropsNewerBatches checks a follower keeps only the fetched
// batches before the first one written past the leader epoch it fetched at.
func TestBelowEpochDropsNewerBatches(t *testing.T) {
	batch := func(epoch int32) []byte {
		b := make([]byte, logstore.BatchHeaderBytes)
		logstore.SetBatchLeaderEpoch(b, epoch)
		return b
	}
	batches := [][]byte{batch(1), batch(2), batch(3), batch(2)}
	if got := belowEpoch(batches, 2); len(got) != 2 {
		t.Fatalf("at epoch 2 kept %d batches, want 2", len(got))
	}
	if got := belowEpoch(batches, 3); len(got) != 4 {
		t.Fatalf("at epoch 3 kept %d batches, want 4", len(got))
	}
	if got := belowEpoch(batches, 0); len(got) != 0 {
		t.Fatalf("at epoch 0 kept %d batches, want 0", len(got))
	}
}
