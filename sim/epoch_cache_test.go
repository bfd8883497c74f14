package sim

import (
	"testing"

	"gregor/logstore"
)

// TestEpochCacheCheckSkipsFilledBatches: S4's check of a leader-epoch
// cache looks at the last batch the log holds. A follower that fetched a
// compacted leader's log never held the batches compaction dropped (the
// shadow fills them back in), so its cache starts their epoch at its first
// surviving batch, or not at all (seed 1097: a truncation to 28 left the
// follower holding epoch 3 up to 21 and a gap to 28 where the leader's
// epoch 5 had begun at 22).
func TestEpochCacheCheckSkipsFilledBatches(t *testing.T) {
	b := func(base int64, epoch int32, filled bool) shadowBatch {
		return shadowBatch{base: base, last: base, epoch: epoch, filled: filled}
	}
	es := func(pairs ...int64) []logstore.EpochEntry {
		var out []logstore.EpochEntry
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, logstore.EpochEntry{Epoch: int32(pairs[i]), StartOffset: pairs[i+1]})
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		cache   []logstore.EpochEntry
		batches []shadowBatch
		fault   bool
	}{
		{"held batches agree", es(3, 16, 5, 22), []shadowBatch{b(16, 3, false), b(21, 3, false), b(22, 5, false)}, false},
		{"the last held batch's epoch is missing", es(3, 16), []shadowBatch{b(16, 3, false), b(22, 5, false)}, true},
		{"a filled batch past the last held one (seed 1097)", es(3, 16),
			[]shadowBatch{b(16, 3, false), b(21, 3, false), b(22, 5, true), b(27, 5, true)}, false},
		{"only filled batches", nil, []shadowBatch{b(0, 5, true)}, false},
		{"the last held batch before filled ones disagrees", es(3, 16, 5, 20),
			[]shadowBatch{b(16, 3, false), b(21, 3, false), b(22, 5, true)}, true},
		{"out of order", es(5, 16, 3, 20), nil, true},
	} {
		if got := epochCacheFault(tc.cache, tc.batches); (got != "") != tc.fault {
			t.Errorf("%s: fault %q, want one: %v", tc.name, got, tc.fault)
		}
	}
}

// TestSeed1097 plays the seed whose S4 check took a batch compaction
// dropped upstream for one the follower's log held.
func TestSeed1097(t *testing.T) {
	if rep := Run(Options{Seed: 1097, DurationMs: 60_000}); rep.Failed() {
		t.Fatalf("seed 1097: %v", rep.Violations[0])
	}
}
