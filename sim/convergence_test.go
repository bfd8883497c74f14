package sim

import (
	"testing"
)

// TestShadowFillsGapsWhoseSuccessorWasTruncated: compaction drops a batch
// whose key a later batch superseded, a truncation then takes that later
// batch, and the replica's log, read again (a restart's recovery), holds
// a gap before a batch of another history, or nothing up to its end. Its
// shadow still holds the log as first written, as the shadow of the
// replica that lived through it does (seeds 13 and 529).
func TestShadowFillsGapsWhoseSuccessorWasTruncated(t *testing.T) {
	rec := func(offset int64, key string, value uint64) viewRecord {
		return viewRecord{offset: offset, key: key, value: value}
	}
	batch := func(base int64, epoch int32, crc uint32, recs ...viewRecord) viewBatch {
		return viewBatch{id: batchID{base: base, last: base, epoch: epoch, crc: crc}, records: recs}
	}
	for _, tc := range []struct {
		name string
		// next is the batch after the gap in the log as read again; none
		// when the log ends at the gap.
		next *batchID
	}{
		{"a gap before another history's batch", &batchID{base: 2, last: 2, epoch: 1, crc: 30}},
		{"nothing up to the log end", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(Options{Seed: 1, Profile: &Profile{}})
			tp := tpKey{"t", 0}
			// Key a at 0 and 1, superseded at 2; b at 3.
			before := &logView{batches: []viewBatch{batch(0, 0, 10, rec(0, "a", 1)), batch(1, 0, 11, rec(1, "a", 2)),
				batch(2, 0, 12, rec(2, "a", 3)), batch(3, 0, 13, rec(3, "b", 4))}}
			after := &logView{batches: []viewBatch{batch(2, 0, 12, rec(2, "a", 3)), batch(3, 0, 13, rec(3, "b", 4))}}
			lived := &shadowLog{canon: w.compactionOf(tp)}
			for _, b := range before.batches {
				lived.pushID(b.id.base, b.id.last, b.id.epoch, b.id.crc)
			}
			if removed := w.compactionCommitted(w.node(1), tp, lived, before, after); removed != 2 || len(w.violations) > 0 {
				t.Fatalf("removed %d, violations %v", removed, w.violations)
			}
			// A truncation to 2 takes what superseded the dropped batches;
			// the next leader's batch comes at 2, in leader epoch 1.
			lived.truncate(2)
			fresh := &shadowLog{canon: w.compactionOf(tp)}
			if tc.next != nil {
				lived.pushID(tc.next.base, tc.next.last, tc.next.epoch, tc.next.crc)
				fresh.fillDropped(*tc.next)
				fresh.pushID(tc.next.base, tc.next.last, tc.next.epoch, tc.next.crc)
			} else if !fresh.fillForward(2) {
				t.Fatalf("nothing fills the log up to its end at 2")
			}
			if fresh.end() != lived.end() || len(fresh.batches) != len(lived.batches) ||
				fresh.batches[len(fresh.batches)-1].chain != lived.batches[len(lived.batches)-1].chain {
				t.Fatalf("the shadow of the log read again is %v, the one that lived through it %v", fresh.batches, lived.batches)
			}
		})
	}
}

// TestLongSeedsConverge plays the seeds that failed to converge: 529 (a
// compacted __transaction_state replica went offline at its restart) and
// 13 with three minutes of faults (S4 on a gap compaction left before a
// later history's batch).
func TestLongSeedsConverge(t *testing.T) {
	for _, opts := range []Options{{Seed: 529, DurationMs: 60_000}, {Seed: 13, DurationMs: 180_000}} {
		rep := Run(opts)
		if rep.Failed() {
			t.Errorf("seed %d (%s of faults): %v", opts.Seed, fmtMs(opts.DurationMs), rep.Violations[0])
		}
	}
}
