package logstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"testing"

	"pgregory.net/rapid"

	"gregor/logstore/vfs"
)

// compactedLogWithGaps builds, on mem at dir, a compacted log whose cleaned
// segments end before the next one's base offset (their last records were
// superseded), synced, and returns it open with the records it holds.
func compactedLogWithGaps(t *testing.T, mem *vfs.Mem, dir string) (*Log, []consumedRecord) {
	t.Helper()
	cfg := cleanerConfig()
	cfg.MinCleanableDirtyRatio = 0
	l := openTestLog(t, mem, dir, cfg, nil, 0)
	// Keys are unique, so that each segment is cleaned on its own, but
	// for the key of each segment's last batch, written again in the next
	// segment: cleaning empties the end of every cleaned segment.
	for i := 0; len(l.segments) < 6; i++ {
		before := len(l.segments)
		appendKeyed(t, l, 10, keyedRecord{key: fmt.Sprint("u", i), value: fmt.Sprint("v", i)})
		if len(l.segments) > before && i > 0 {
			appendKeyed(t, l, 10, keyedRecord{key: fmt.Sprint("u", i-1), value: fmt.Sprint("again", i-1)})
		}
	}
	appendKeyed(t, l, 10, keyedRecord{key: "latest", value: "v"})
	if _, ok := cleanOnce(t, l, 5000, CleanerOptions{}); !ok {
		t.Fatal("no clean job")
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if countGaps(t, l) == 0 {
		t.Fatal("compaction left no segment ending before the next one")
	}
	return l, readAllRecords(t, l)
}

// countGaps counts the non-active segments whose last batch ends before the
// next segment's base offset.
func countGaps(t *testing.T, l *Log) int {
	gaps := 0
	for i, s := range l.segments[:len(l.segments)-1] {
		if endAfterCut(t, l, s, s.sizeBytes) < l.segments[i+1].baseOffset {
			gaps++
		}
	}
	return gaps
}

// endAfterCut is the offset after the last batch of s wholly below
// position cut (s's base offset if none).
func endAfterCut(t *testing.T, l *Log, s *segment, cut int64) int64 {
	t.Helper()
	v := s.view()
	defer v.releaseTail()
	end := s.baseOffset
	for pos := int64(0); pos < v.sizeBytes; {
		h, err := v.readBatchHeader(pos, l.cache, l.blockBytes)
		if err != nil {
			t.Fatal(err)
		}
		if pos+h.sizeBytes > cut {
			break
		}
		end, pos = h.nextOffset(), pos+h.sizeBytes
	}
	return end
}

// A compacted log whose recovery-point checkpoint is missing or damaged is
// rescanned whole after a crash; the gaps the cleaner left at the ends of
// segments are no proof of a lost tail, so recovery deletes nothing and
// every record reads back (the segments used to be dropped from the first
// gap on).
func TestRecoveryKeepsCompactionGapsWithoutRecoveryPoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, mem *vfs.Mem, dir string)
	}{
		{"missing", func(t *testing.T, mem *vfs.Mem, dir string) {
			mustRemove(t, mem, path.Join(dir, recoveryPointCheckpointFile))
		}},
		{"damaged", func(t *testing.T, mem *vfs.Mem, dir string) {
			mustWriteFile(t, mem, path.Join(dir, recoveryPointCheckpointFile), []byte("0\n12x"))
		}},
		{"every checkpoint missing", func(t *testing.T, mem *vfs.Mem, dir string) {
			for _, name := range []string{recoveryPointCheckpointFile, cleanerCheckpointFile, logStartOffsetCheckpointFile, leaderEpochCheckpointFile} {
				if _, err := mem.Stat(path.Join(dir, name)); err == nil {
					mustRemove(t, mem, path.Join(dir, name))
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			l, want := compactedLogWithGaps(t, mem, "/p")
			segments := len(l.segments)
			end := l.LogEndOffset()
			mem.Crash() // everything was synced: nothing is lost
			tc.damage(t, mem, "/p")
			mem.Crash()
			l2 := openTestLog(t, mem, "/p", cleanerConfig(), nil, 0)
			defer l2.Close()
			if n := len(l2.segments); n != segments {
				t.Fatalf("%d segments after recovery, had %d", n, segments)
			}
			if got := l2.LogEndOffset(); got != end {
				t.Fatalf("log end offset %d after recovery, was %d", got, end)
			}
			if got := readAllRecords(t, l2); !sameRecords(got, want) {
				t.Fatalf("after recovery the log holds\n%s\nwant\n%s", describeRecords(got), describeRecords(want))
			}
			// And the log goes on.
			more := appendKeyed(t, l2, 20, keyedRecord{key: "after", value: "w"})
			if got := readAllRecords(t, l2); !sameRecords(got, append(want, more...)) {
				t.Fatalf("after an append the log holds\n%s", describeRecords(got))
			}
		})
	}
}

// TestCleanerCrashKeepsEveryRecord crashes a compaction pass at any point of
// its run or its swap, on a disk that tears the last unsynced write, and
// recovers with or without the recovery-point checkpoint: the log ends
// where it did, holds only records it held, and a consumer reading it from
// the start ends with every key's latest value (the cleaned segment is
// synced before it is renamed in, and a swap file replaces the segments it
// names only once it is durable: recoverSwaps).
func TestCleanerCrashKeepsEveryRecord(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mem := vfs.NewMem(vfs.WithTornWrites(rapid.Uint64().Draw(t, "tornSeed")))
		cfg := cleanerConfig()
		cfg.MinCleanableDirtyRatio = 0
		l := openTestLog(t, mem, "/p", cfg, nil, 0)
		segments := rapid.IntRange(3, 6).Draw(t, "segments")
		keys := rapid.IntRange(2, 40).Draw(t, "keys")
		for i := 0; len(l.segments) < segments; i++ {
			before := len(l.segments)
			appendKeyed(t, l, 10, keyedRecord{key: fmt.Sprint("k", i%keys), value: fmt.Sprint("v", i)})
			if len(l.segments) > before && i > 0 {
				appendKeyed(t, l, 10, keyedRecord{key: fmt.Sprint("k", (i-1)%keys), value: fmt.Sprint("again", i-1)})
			}
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		want := readAllRecords(t, l)
		end := l.LogEndOffset()
		j, ok := l.PlanClean(5000, end)
		if !ok {
			t.Fatal("no clean job")
		}
		crashInRun := rapid.Bool().Draw(t, "crashInRun")
		ops := rapid.Int64Range(0, 60).Draw(t, "ops")
		if crashInRun {
			mem.CrashAfterOps(ops)
		}
		if err := j.Run(context.Background(), CleanerOptions{}); err == nil {
			if !crashInRun {
				mem.CrashAfterOps(ops)
			}
			_ = l.CommitClean(j)
		} else {
			j.Abandon()
		}
		mem.Crash()
		if rapid.Bool().Draw(t, "loseRecoveryPoint") {
			mustRemove(t, mem, path.Join("/p", recoveryPointCheckpointFile))
		}
		l2 := openTestLog(t, mem, "/p", cfg, nil, 0)
		defer l2.Close()
		if got := l2.LogEndOffset(); got != end {
			t.Fatalf("log end offset %d after recovery, was %d", got, end)
		}
		got := readAllRecords(t, l2)
		if !isSubsequence(got, want) {
			t.Fatalf("after recovery the log holds\n%s\nnot all of which it held:\n%s", describeRecords(got), describeRecords(want))
		}
		if !maps.Equal(latestValues(got), latestValues(want)) {
			t.Fatalf("after recovery a consumer ends with %v, before with %v", latestValues(got), latestValues(want))
		}
	})
}

// A torn last batch of the active segment is still cut off, in a compacted
// log without its recovery point too, whose gaps stay.
func TestRecoveryTruncatesTornTailOfActiveSegment(t *testing.T) {
	for _, withCheckpoint := range []bool{true, false} {
		t.Run(fmt.Sprint("checkpoint=", withCheckpoint), func(t *testing.T) {
			mem := vfs.NewMem()
			l, want := compactedLogWithGaps(t, mem, "/p")
			segments := len(l.segments)
			end := l.LogEndOffset()
			torn := appendKeyed(t, l, 20, keyedRecord{key: "torn", value: "half written"})
			active := l.active()
			tearFile(t, mem, active.logPath(), active.sizeBytes-5)
			if !withCheckpoint {
				mustRemove(t, mem, path.Join("/p", recoveryPointCheckpointFile))
			}
			mem.Crash()
			l2 := openTestLog(t, mem, "/p", cleanerConfig(), nil, 0)
			defer l2.Close()
			if got := l2.LogEndOffset(); got != end {
				t.Fatalf("log end offset %d after recovery, want %d (the torn batch at %d gone)", got, end, torn[0].Offset)
			}
			if n := len(l2.segments); n != segments {
				t.Fatalf("%d segments after recovery, had %d", n, segments)
			}
			if got := readAllRecords(t, l2); !sameRecords(got, want) {
				t.Fatalf("after recovery the log holds\n%s\nwant\n%s", describeRecords(got), describeRecords(want))
			}
		})
	}
}

// lostTailLog builds an uncompacted log of at least four segments whose
// batches all carry one timestamp and whose offset index holds no sparse
// entry, so that only the entry a roll adds for a segment's last batch
// names it. Nothing is synced: the caller plays the crash.
func lostTailLog(t *testing.T, mem *vfs.Mem) (*Log, [][]byte, Config) {
	t.Helper()
	cfg := smallConfig()
	cfg.IndexIntervalBytes = 1 << 20
	l := openTestLog(t, mem, "/p", cfg, nil, 0)
	var all [][]byte
	for i := 0; len(l.segments) < 5; i++ {
		b := simpleBatch(t, 1+i%3, 40, 100, i)
		if _, err := l.Append([][]byte{b}, 7, 100); err != nil {
			t.Fatal(err)
		}
		all = append(all, b)
	}
	return l, all, cfg
}

// batchesBelow returns the batches of all wholly below offset.
func batchesBelow(t *testing.T, all [][]byte, offset int64) [][]byte {
	t.Helper()
	var out [][]byte
	for _, raw := range all {
		b, err := ParseBatch(raw)
		if err != nil {
			t.Fatal(err)
		}
		if b.NextOffset() <= offset {
			out = append(out, raw)
		}
	}
	return out
}

// A non-last segment that lost its tail (unsynced when the power went, the
// later segments' files already there) loses the later segments, whether
// the tail was torn (invalid bytes) or cut at a batch boundary (a gap that
// its index, written at the roll, proves): a replica's log never holds a
// record past one it lost. Without the index the cut is indistinguishable
// from a compaction gap and the later segments stay.
func TestRecoveryDropsSegmentsAfterALostTail(t *testing.T) {
	for _, tc := range []struct {
		name        string
		cut         func(s *segment) int64
		removeIndex bool
		dropsLater  bool
	}{
		{"torn mid-batch", func(s *segment) int64 { return s.sizeBytes - 7 }, false, true},
		{"torn mid-batch without index", func(s *segment) int64 { return s.sizeBytes - 7 }, true, true},
		{"cut at the last batch", func(s *segment) int64 { return int64(s.lastBatch.position) }, false, true},
		{"cut at the last batch without index", func(s *segment) int64 { return int64(s.lastBatch.position) }, true, false},
		{"every batch lost", func(s *segment) int64 { return 0 }, false, true},
	} {
		for _, withCheckpoint := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/checkpoint=%v", tc.name, withCheckpoint), func(t *testing.T) {
				mem := vfs.NewMem()
				l, all, cfg := lostTailLog(t, mem)
				victim := l.segments[1]
				cut := tc.cut(victim)
				kept := batchesBelow(t, all, endAfterCut(t, l, victim, cut))
				later := l.segments[2].baseOffset
				if withCheckpoint {
					// A recovery point below the victim's end: synced
					// up to the victim's start only.
					if err := l.writeCheckpoint(recoveryPointCheckpointFile, victim.baseOffset); err != nil {
						t.Fatal(err)
					}
				}
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
				tearFile(t, mem, victim.logPath(), cut)
				if tc.removeIndex {
					mustRemove(t, mem, path.Join("/p", segmentFileName(victim.baseOffset, indexFileExt)))
					mustRemove(t, mem, path.Join("/p", segmentFileName(victim.baseOffset, timeIndexFileExt)))
				}
				if !withCheckpoint {
					mustRemove(t, mem, path.Join("/p", recoveryPointCheckpointFile))
				}
				mem.Crash()
				l2 := openTestLog(t, mem, "/p", cfg, nil, 0)
				defer l2.Close()
				got := readAllBatches(t, l2, 1<<20)
				if tc.dropsLater {
					equalBatches(t, got, kept)
					if n := len(l2.segments); n != 2 {
						t.Fatalf("%d segments after recovery, want 2", n)
					}
					if _, err := mem.Stat(path.Join("/p", segmentFileName(later, logFileExt))); err == nil {
						t.Fatalf("segment %d is still on disk", later)
					}
					more := appendN(t, l2, 2, 40, 200)
					equalBatches(t, readAllBatches(t, l2, 1<<20), append(kept, more...))
					return
				}
				want := append(kept[:len(kept):len(kept)], batchesBelow(t, all, 1<<40)[len(batchesBelow(t, all, later)):]...)
				equalBatches(t, got, want)
				if n := len(l2.segments); n != 5 {
					t.Fatalf("%d segments after recovery, want 5", n)
				}
			})
		}
	}
}

// The index a roll writes ends with an entry for the segment's last batch,
// whatever the sparse interval.
func TestRollIndexNamesTheLastBatch(t *testing.T) {
	mem := vfs.NewMem()
	l, _, _ := lostTailLog(t, mem)
	defer l.Close()
	for _, s := range l.segments[:len(l.segments)-1] {
		entry, err := readLastEntry(mem, path.Join("/p", segmentFileName(s.baseOffset, indexFileExt)), offsetIndexEntryBytes)
		if err != nil || entry == nil {
			t.Fatalf("segment %d: no index entry (%v)", s.baseOffset, err)
		}
		idx, err := decodeOffsetIndex(entry, s.sizeBytes)
		if err != nil {
			t.Fatal(err)
		}
		if idx[0] != s.lastBatch {
			t.Fatalf("segment %d: last index entry %+v, last batch %+v", s.baseOffset, idx[0], s.lastBatch)
		}
	}
}

func mustRemove(t testingT, fsys vfs.FS, name string) {
	t.Helper()
	if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if err := fsys.SyncDir(path.Dir(name)); err != nil {
		t.Fatal(err)
	}
}

func mustWriteFile(t *testing.T, fsys vfs.FS, name string, data []byte) {
	t.Helper()
	if err := writeFileAtomic(fsys, name, data); err != nil {
		t.Fatal(err)
	}
}

// tearFile cuts name to size bytes, durably: what a crash leaves of a file
// whose unsynced tail was lost.
func tearFile(t *testing.T, fsys vfs.FS, name string, size int64) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
