package logstore

import (
	"fmt"
	"testing"

	"gregor/logstore/vfs"
)

// Truncating a compacted log at an offset whose batch compaction removed
// (a follower asked to truncate into the gap) leaves the log ending at
// that offset, never past it: the batch after the gap goes too. The
// simulator found it: the log ended at the next kept batch's end, past the
// offset the replica core asked for.
func TestTruncateIntoACompactedGap(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", cleanerConfig(), nil, 0)
	defer l.Close()
	// One record per batch: every fifth has a key of its own (kept), the
	// others share one (removed), so compaction leaves gaps between kept
	// batches inside its segments.
	for i := range 200 {
		key := "x"
		if i%5 == 0 {
			key = fmt.Sprintf("k%d", i)
		}
		appendKeyed(t, l, int64(i), keyedRecord{key: key, value: fmt.Sprintf("v%d-%090d", i, 0)})
	}
	if _, ok := cleanOnce(t, l, 1000, CleanerOptions{}); !ok {
		t.Fatal("no clean pass")
	}
	kept := map[int64]bool{}
	for _, r := range readAllRecords(t, l) {
		kept[r.Offset] = true
	}
	// A removed offset, below the active segment, between kept batches.
	segs := l.Segments()
	gap := int64(-1)
	for o := l.LogStartOffset() + 5; o < segs[len(segs)-1].BaseOffset-1; o++ {
		if !kept[o] && kept[o+1] && kept[o-4] {
			gap = o
			break
		}
	}
	if gap < 0 {
		t.Fatal("compaction left no gap")
	}
	if err := l.Truncate(gap, 2000); err != nil {
		t.Fatal(err)
	}
	if end := l.LogEndOffset(); end > gap {
		t.Fatalf("truncated to %d, the log ends at %d", gap, end)
	}
	for _, r := range readAllRecords(t, l) {
		if r.Offset >= gap {
			t.Fatalf("record at %d after truncating to %d", r.Offset, gap)
		}
	}
	// A follower appends from the leader's next batch on.
	if _, err := l.AppendAsFollower([][]byte{followerBatch(t, gap+1, 1, 7)}, 3000); err != nil {
		t.Fatalf("append after the gap: %v", err)
	}
	if end := l.LogEndOffset(); end != gap+2 {
		t.Fatalf("log end %d after appending at %d", end, gap+1)
	}
}
