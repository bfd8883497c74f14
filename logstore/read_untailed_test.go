package logstore

import (
	"testing"

	"gregor/logstore/vfs"
)

// TestUntailedReadsKeepNoTail: caught-up reads through ReadUntailed (a
// follower's) leave the tail off, so appends copy nothing into memory nor
// into the cache, and return the stored batches from the file; once a Read catches up too, the
// tail is kept, and ReadUntailed reads it like any other reader.
func TestUntailedReadsKeepNoTail(t *testing.T) {
	cache := newMapCache()
	cfg := smallConfig()
	cfg.SegmentBytes = 64 << 10
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, cache, 0)
	defer l.Close()
	tail := func() bool {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return l.active().tail != nil
	}
	readUntailed := func(from int64) [][]byte {
		t.Helper()
		recs, err := l.ReadUntailed(from, 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		defer recs.Release()
		raw, err := recs.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return splitBatches(t, raw)
	}
	first := appendN(t, l, 50, 100, 0)
	equalBatches(t, readUntailed(0), first)
	end, cached := l.LogEndOffset(), cache.len() // blocks the read itself offered
	more := appendN(t, l, 50, 100, 1000)
	if tail() || cache.len() != cached {
		t.Fatalf("appends after caught-up untailed reads: tail kept %v, %d blocks cached (was %d)", tail(), cache.len(), cached)
	}
	equalBatches(t, readUntailed(end), more)

	readAtEnd(t, l)
	end = l.LogEndOffset()
	more = appendN(t, l, 50, 100, 2000)
	if !tail() {
		t.Fatal("a caught-up Read did not make the log keep its tail")
	}
	equalBatches(t, readUntailed(end), more)
}
