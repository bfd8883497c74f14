package logstore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"testing"

	"pgregory.net/rapid"

	"gregor/logstore/vfs"
)

// TestCrashAtRandomPoints appends, syncs and ticks on an in-memory filesystem
// that loses unsynced writes (tearing the last one) at a random operation,
// then recovers and checks: every batch covered by a completed Sync survives,
// what survives is a prefix of what was attempted (nothing after a torn
// batch), and offsets are contiguous.
func TestCrashAtRandomPoints(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mem := vfs.NewMem(vfs.WithTornWrites(rapid.Uint64().Draw(t, "tornSeed")))
		cfg := DefaultConfig()
		cfg.SegmentBytes = rapid.Int64Range(1400, 6000).Draw(t, "segmentBytes")
		cfg.IndexIntervalBytes = rapid.Int64Range(0, 1000).Draw(t, "indexIntervalBytes")
		cfg.RecoveryPointCheckpointIntervalMs = 1
		l := openTestLog(t, mem, "/p", cfg, nil, 0)
		var kept [][]byte // batches the log holds, as far as the test knows
		durable := 0      // how many of kept are covered by a completed flush
		for round := range rapid.IntRange(1, 4).Draw(t, "rounds") {
			mem.CrashAfterOps(rapid.Int64Range(0, 120).Draw(t, "opsBeforeCrash"))
			var inFlight []byte
			for step := 0; step < 40 && inFlight == nil; step++ {
				switch rapid.IntRange(0, 6).Draw(t, "op") {
				case 6:
					offset := rapid.Int64Range(0, nextOffsetOf(kept, len(kept))).Draw(t, "truncate")
					if err := l.Truncate(offset, 0); err != nil {
						// The cut may or may not have become durable.
						durable = min(durable, len(keepBelow(kept, offset)))
						inFlight = []byte{}
						break
					}
					kept = keepBelow(kept, offset)
					durable = min(durable, len(kept))
				case 0, 1, 2:
					raw, _ := genBatch(t)
					if _, err := l.Append([][]byte{raw}, int32(round), int64(step)); err != nil {
						inFlight = raw
						break
					}
					kept = append(kept, raw)
				case 3:
					if err := l.Sync(); err != nil {
						inFlight = []byte{}
						break
					}
					durable = len(kept)
				case 4:
					if err := l.Tick(int64(round*100 + step)); err != nil {
						inFlight = []byte{}
					}
				case 5:
					if rapid.IntRange(0, 3).Draw(t, "closeChance") == 0 {
						if err := l.Close(); err != nil {
							inFlight = []byte{}
							break
						}
						durable = len(kept)
						inFlight = []byte{}
					}
				}
			}
			if inFlight == nil && l.FlushedOffset() >= nextOffsetOf(kept, len(kept)) {
				durable = len(kept)
			}
			mem.Crash()
			l = openTestLog(t, mem, "/p", cfg, nil, 0)
			got := readAllBatches(t, l, 1<<20)
			maybe := kept
			if len(inFlight) > 0 {
				maybe = append(kept[:len(kept):len(kept)], inFlight)
			}
			checkRecovered(t, got, maybe, durable)
			if l.FlushedOffset() != l.LogEndOffset() {
				t.Fatalf("after recovery flushed %d of %d", l.FlushedOffset(), l.LogEndOffset())
			}
			kept = got
			durable = len(got)
		}
		_ = l.Close()
	})
}

// nextOffsetOf is the offset after the first n batches.
func nextOffsetOf(batches [][]byte, n int) int64 {
	if n == 0 {
		return 0
	}
	b, _ := ParseBatch(batches[n-1])
	return b.NextOffset()
}

func checkRecovered(t *rapid.T, got, attempted [][]byte, durable int) {
	if len(got) < durable {
		t.Fatalf("recovered %d batches, but %d were flushed", len(got), durable)
	}
	if len(got) > len(attempted) {
		t.Fatalf("recovered %d batches, only %d were attempted", len(got), len(attempted))
	}
	next := int64(0)
	for i, g := range got {
		if !bytes.Equal(g, attempted[i]) {
			t.Fatalf("recovered batch %d differs from the one appended", i)
		}
		b, err := ParseBatch(g)
		if err != nil || b.FirstOffset != next {
			t.Fatalf("recovered batch %d: base offset %d, want %d (%v)", i, b.FirstOffset, next, err)
		}
		next = b.NextOffset()
	}
}

// TestRecoveryTruncatesAtCorruption corrupts a byte inside an early segment
// after an unclean shutdown: recovery keeps every batch before it, drops
// everything after, and the log takes appends again.
func TestRecoveryTruncatesAtCorruption(t *testing.T) {
	mem := vfs.NewMem()
	cfg := smallConfig()
	l := openTestLog(t, mem, "/p", cfg, nil, 0)
	want := appendN(t, l, 200, 40, 0)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) < 4 {
		t.Fatalf("need several segments, have %d", len(segs))
	}
	victim := segs[1]
	// Abandon l without closing (an unclean shutdown) and corrupt a byte
	// in the middle of the victim segment.
	f, err := mem.OpenFile(victim.LogPath, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	corruptAt := victim.SizeBytes / 2
	var one [1]byte
	if _, err := f.ReadAt(one[:], corruptAt); err != nil {
		t.Fatal(err)
	}
	one[0] ^= 0x5a
	if _, err := f.WriteAt(one[:], corruptAt); err != nil {
		t.Fatal(err)
	}
	// Remove the recovery point so the corrupt segment is rescanned (a
	// new log has none until it is checkpointed).
	if err := mem.Remove(path.Join("/p", recoveryPointCheckpointFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	l2 := openTestLog(t, mem, "/p", cfg, nil, 0)
	defer l2.Close()
	got := readAllBatches(t, l2, 1<<20)
	if len(got) == 0 || len(got) >= len(want) {
		t.Fatalf("recovered %d of %d batches", len(got), len(want))
	}
	equalBatches(t, got, want[:len(got)])
	var size int64
	for _, b := range got {
		size += int64(len(b))
	}
	if n := len(l2.Segments()); n != 2 {
		t.Fatalf("%d segments after recovery, want 2", n)
	}
	if last := l2.Segments()[1]; last.SizeBytes > corruptAt {
		t.Fatalf("kept %d bytes of the victim, corruption was at %d", last.SizeBytes, corruptAt)
	}
	more := appendN(t, l2, 3, 40, 0)
	equalBatches(t, readAllBatches(t, l2, 1<<20), append(got, more...))
}

// TestCorruptIndexIsRebuilt overwrites the index files of a cleanly closed
// log with garbage and checks reads are unaffected.
func TestCorruptIndexIsRebuilt(t *testing.T) {
	mem := vfs.NewMem()
	cfg := smallConfig()
	l := openTestLog(t, mem, "/p", cfg, nil, 0)
	want := appendN(t, l, 200, 40, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := mem.ReadDir("/p")
	for i, n := range names {
		ext := path.Ext(n)
		if ext != indexFileExt && ext != timeIndexFileExt {
			continue
		}
		garbage := bytes.Repeat([]byte{byte(i)}, 5+i%20)
		if i%3 == 0 {
			garbage = nil // an empty index
		}
		if err := vfs.WriteFileAtomic(mem, path.Join("/p", n), garbage); err != nil {
			t.Fatal(err)
		}
	}
	l = openTestLog(t, mem, "/p", cfg, nil, 0)
	defer l.Close()
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
	for target := int64(0); target < 200; target += 7 {
		if _, found, err := l.OffsetForTimestamp(target); err != nil || !found {
			t.Fatalf("timestamp %d: %v %v", target, found, err)
		}
	}
}

// TestReadOfCorruptDataNamesFileAndPosition corrupts a header in a trusted
// (cleanly closed) segment: the read fails with ErrCorruption naming both.
func TestReadOfCorruptDataNamesFileAndPosition(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	appendN(t, l, 200, 40, 0)
	first := l.Segments()[0]
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	defer l.Close()
	f, _ := mem.OpenFile(first.LogPath, os.O_RDWR, 0)
	if _, err := f.WriteAt([]byte{9}, batchMagicPos); err != nil {
		t.Fatal(err)
	}
	_, err := l.Read(0, 100, l.LogEndOffset())
	if !errors.Is(err, ErrCorruption) || !bytes.Contains([]byte(err.Error()), []byte(first.LogPath)) ||
		!bytes.Contains([]byte(err.Error()), []byte("position 0")) {
		t.Fatalf("read of a corrupt header: %v", err)
	}
}

// keepBelow drops the batches that hold an offset at or above offset.
func keepBelow(batches [][]byte, offset int64) [][]byte {
	for i, raw := range batches {
		if b, _ := ParseBatch(raw); b.LastOffset() >= offset {
			return batches[:i]
		}
	}
	return batches
}
