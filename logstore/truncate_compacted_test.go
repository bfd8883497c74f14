package logstore

import (
	"fmt"
	"slices"
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

// compactedHead is a log whose first removed records compaction took away
// (one record per batch, about 30 a segment): offsets [0, keptFrom) share
// one key, whose newest record is at keptFrom-1 (kept), so the segments
// below it lost all their records and the one holding it starts with a
// stretch that holds none; every later record has a key of its own.
func compactedHead(t *testing.T, keptFrom int64) *Log {
	t.Helper()
	l := openTestLog(t, vfs.NewMem(), "/p", cleanerConfig(), nil, 0)
	t.Cleanup(func() { l.Close() })
	for i := range int64(300) {
		key := fmt.Sprintf("k%d", i)
		if i < keptFrom {
			key = "x"
		}
		appendKeyed(t, l, i, keyedRecord{key: key, value: fmt.Sprintf("v%d-%090d", i, 0)})
	}
	if _, ok := cleanOnce(t, l, 1000, CleanerOptions{}); !ok {
		t.Fatal("no clean pass")
	}
	if recs := readAllRecords(t, l); len(recs) == 0 || recs[0].Offset != keptFrom-1 {
		t.Fatalf("compaction left records from %v, want from %d", recs[:min(len(recs), 1)], keptFrom-1)
	}
	return l
}

// Truncating a compacted log to an offset inside a stretch compaction
// emptied, at its end, or after it, leaves the log ending at that offset,
// whatever the segment: one compaction emptied entirely, one whose first
// batch lies past the offset (an older build ended the log at the
// segment's base offset there: Truncate(327) of a compacted
// __transaction_state ended it at 0), or one whose kept batches lie below
// it. The log reads what it kept below the offset and nothing past it,
// and takes a follower's next batch at the offset.
func TestTruncateToACompactedStretch(t *testing.T) {
	const keptFrom = 200 // offsets [0, 199) hold no record after compaction
	l := compactedHead(t, keptFrom)
	var targets []int64
	for _, s := range l.Segments() {
		if s.BaseOffset > 0 && s.BaseOffset < keptFrom {
			targets = append(targets, s.BaseOffset, s.BaseOffset+3)
		}
	}
	targets = append(targets, 1, 17, keptFrom-2, keptFrom-1, keptFrom, keptFrom+5)
	t.Logf("segments %v", l.Segments())
	for _, target := range targets {
		t.Run(fmt.Sprint(target), func(t *testing.T) {
			l := compactedHead(t, keptFrom)
			if err := l.Truncate(target, 2000); err != nil {
				t.Fatal(err)
			}
			if end := l.LogEndOffset(); end != target {
				t.Fatalf("truncated to %d, the log ends at %d", target, end)
			}
			if start := l.LogStartOffset(); start != 0 {
				t.Fatalf("truncated to %d, the log starts at %d, want 0", target, start)
			}
			var kept []int64
			for _, r := range readAllRecords(t, l) {
				kept = append(kept, r.Offset)
			}
			var want []int64
			for o := int64(keptFrom - 1); o < target; o++ {
				want = append(want, o)
			}
			if !slices.Equal(kept, want) {
				t.Fatalf("truncated to %d, the log holds %v, want %v", target, kept, want)
			}
			if _, err := l.AppendAsFollower([][]byte{followerBatch(t, target, 1, 7)}, 3000); err != nil {
				t.Fatalf("a follower's append at %d: %v", target, err)
			}
			if end := l.LogEndOffset(); end != target+1 {
				t.Fatalf("log end %d after appending at %d", end, target)
			}
		})
	}
}
