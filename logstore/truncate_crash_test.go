package logstore

import (
	"testing"

	"gregor/logstore/vfs"
)

// TestTruncateFullyLowersRecoveryPoint truncates a log whose recovery point
// is checkpointed far ahead, appends without syncing and crashes: recovery
// must rescan the new records instead of trusting a segment whose bytes were
// lost.
func TestTruncateFullyLowersRecoveryPoint(t *testing.T) {
	mem := vfs.NewMem()
	cfg := smallConfig()
	l := openTestLog(t, mem, "/p", cfg, nil, 0)
	appendN(t, l, 100, 40, 0)
	if err := l.Close(); err != nil { // checkpoints the recovery point at the end
		t.Fatal(err)
	}
	l = openTestLog(t, mem, "/p", cfg, nil, 0)
	if err := l.TruncateFullyAndStartAt(0, 0); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 100, 40, 0) // rolls segments, syncs none of their records
	mem.Crash()
	l = openTestLog(t, mem, "/p", cfg, nil, 0)
	defer l.Close()
	got := readAllBatches(t, l, 1<<20)
	if end := nextOffsetOf(got, len(got)); end != l.LogEndOffset() {
		t.Fatalf("log end offset %d, but the records read end at %d", l.LogEndOffset(), end)
	}
}
