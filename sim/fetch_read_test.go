package sim

import (
	"encoding/binary"
	"slices"
	"testing"

	"gregor/logstore"
)

// fakeBatch is the header of an empty batch at base: enough for
// batchBaseAt, which reads base offsets and lengths only.
func fakeBatch(base int64) []byte {
	b := make([]byte, logstore.BatchHeaderBytes)
	binary.BigEndian.PutUint64(b, uint64(base))
	binary.BigEndian.PutUint32(b[8:], uint32(logstore.BatchHeaderBytes-12))
	return b
}

// TestFetchReadCheck shows F1 tells a read whose bytes changed below the
// high watermark its answer announced (a violation) from one that changed
// above it (a follower's read of the uncommitted tail) or after a loss
// the guarantees allow.
func TestFetchReadCheck(t *testing.T) {
	planned := slices.Concat(fakeBatch(10), fakeBatch(11), fakeBatch(12))
	changedAt12 := slices.Concat(fakeBatch(10), fakeBatch(11), fakeBatch(12))
	changedAt12[len(changedAt12)-1] = 1
	changedAt11 := slices.Concat(fakeBatch(10), fakeBatch(11), fakeBatch(12))
	changedAt11[2*logstore.BatchHeaderBytes-1] = 1
	for _, tc := range []struct {
		name          string
		got           []byte
		highWatermark int64
		loss          bool
		violation     bool
	}{
		{name: "as planned", got: planned, highWatermark: 13},
		{name: "changed below the high watermark", got: changedAt11, highWatermark: 12, violation: true},
		{name: "changed at the high watermark", got: changedAt12, highWatermark: 12},
		{name: "changed below it after a loss", got: changedAt11, highWatermark: 13, loss: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(Options{Seed: 1, Profile: &Profile{}})
			tp := tpKey{"t", 0}
			fw := &fetchWrite{n: w.nodes[0], follower: true}
			p := writePart{tp: tp, recs: &logstore.Records{FirstOffset: 10, NextOffset: 13}, highWatermark: tc.highWatermark, planned: planned}
			if tc.loss {
				w.lossEra[tp]++
			}
			fw.checkRead(&p, tc.got)
			if got := len(w.violations) > 0; got != tc.violation {
				t.Fatalf("violation %v, want %v: %v", got, tc.violation, w.violations)
			}
			if tc.violation && w.violations[0].Check != "F1" {
				t.Fatalf("violation %s, want F1", w.violations[0].Check)
			}
		})
	}
}

// TestFetchReadsAreEvents plays a quiet run: its fetch answers' records
// are read in events of their own, none is left held, and nothing breaks.
func TestFetchReadsAreEvents(t *testing.T) {
	p := QuietProfile()
	w := playWorld(Options{Seed: 5, DurationMs: 10_000, Profile: &p})
	if rep := w.report(); rep.Failed() {
		t.Fatalf("violations: %v", rep.Violations)
	}
	if w.stats.FetchReads == 0 || w.stats.BytesFetched == 0 {
		t.Fatalf("no fetch read as an event: %+v", w.stats)
	}
	if w.reads == nil || len(w.reads.stalled.held) != 0 {
		t.Fatalf("fetch writers not set up, or writes left held")
	}
}
