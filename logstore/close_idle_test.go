package logstore

import (
	"bytes"
	"path"
	"testing"

	"gregor/logstore/vfs"
)

// closeOps counts the durability operations (file and directory syncs,
// renames) a Close performs.
func closeOps(t *testing.T, fsys *vfs.Mem, l *Log) (syncs, renames int) {
	t.Helper()
	fsys.SetErrorHook(func(op vfs.Op, _ string) error {
		switch op {
		case vfs.OpSync, vfs.OpSyncDir:
			syncs++
		case vfs.OpRename:
			renames++
		}
		return nil
	})
	defer fsys.SetErrorHook(nil)
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return syncs, renames
}

// A log reopened after a clean close and closed again without an append
// rewrites none of its files: one directory sync makes its clean shutdown
// marker durable. A broker stopping with a thousand idle partitions spent
// eight fsyncs and four renames on each. A log that took appends since
// still writes what changed, and either way a power loss right after the
// close finds the log clean, whole, with its producers' state.
func TestCloseOfAnIdleLogSyncsItsDirectoryOnly(t *testing.T) {
	fsys := vfs.NewMem()
	l := openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
	appendN(t, l, 20, 100, 1000)
	appendAtEpoch7(t, l, idempotentBatch(t, 7, 0, 0, 3, 2000))
	want := readAllBatches(t, l, 1<<20)
	if syncs, _ := closeOps(t, fsys, l); syncs < 3 {
		t.Fatalf("the first close synced %d times: it should write the log's files", syncs)
	}
	for round := range 3 {
		fsys.Crash()
		if NeedsRecovery(fsys, "/p") {
			t.Fatalf("round %d: no clean shutdown marker after a close and a power loss", round)
		}
		l = openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
		if got := readAllBatches(t, l, 1<<20); len(got) != len(want) || !bytes.Equal(bytes.Join(got, nil), bytes.Join(want, nil)) {
			t.Fatalf("round %d: %d batches read back, want the %d written", round, len(got), len(want))
		}
		if st := l.ProducerStates(); st == nil || st.Len() != 1 {
			t.Fatalf("round %d: producer state %v, want producer 7's", round, st)
		}
		syncs, renames := closeOps(t, fsys, l)
		if syncs != 1 || renames != 0 {
			t.Errorf("round %d: closing an idle log synced %d times and renamed %d files, want one directory sync and no rename", round, syncs, renames)
		}
	}
	// Appends after a reopen are written at the close as before.
	fsys.Crash()
	l = openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
	appendAtEpoch7(t, l, idempotentBatch(t, 7, 0, 3, 2, 3000))
	end := l.LogEndOffset()
	if syncs, renames := closeOps(t, fsys, l); syncs < 3 || renames == 0 {
		t.Errorf("closing a log with new records synced %d times, renamed %d files", syncs, renames)
	}
	fsys.Crash()
	if NeedsRecovery(fsys, "/p") {
		t.Fatal("no clean shutdown marker after a close and a power loss")
	}
	l = openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
	if got := l.LogEndOffset(); got != end {
		t.Errorf("log end offset %d after a close and a power loss, want %d", got, end)
	}
	if _, err := fsys.Stat(path.Join("/p", segmentFileName(end, producerSnapshotExt))); err != nil {
		t.Errorf("no producer snapshot at the log end %d: %v", end, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A power loss at any operation of a close leaves a log that opens with
// every record synced before the close, clean or recovered: idle since its
// last clean open, or with synced records whose indexes, checkpoints and
// producer snapshot the close writes.
func TestCrashDuringCloseKeepsTheLog(t *testing.T) {
	for _, idle := range []bool{true, false} {
		setup := func() (*vfs.Mem, *Log, [][]byte) {
			fsys := vfs.NewMem()
			l := openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
			appendN(t, l, 20, 100, 1000)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
			if !idle {
				appendAtEpoch7(t, l, idempotentBatch(t, 7, 0, 0, 3, 2000))
				if err := l.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			return fsys, l, readAllBatches(t, l, 1<<20)
		}
		fsys, l, _ := setup()
		before := fsys.OpCount()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		n := fsys.OpCount() - before
		for crashAt := range n {
			fsys, l, want := setup()
			fsys.CrashAfterOps(crashAt)
			_ = l.Close() // fails at the crash
			fsys.Crash()
			l = openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
			if got := readAllBatches(t, l, 1<<20); !bytes.Equal(bytes.Join(got, nil), bytes.Join(want, nil)) {
				t.Fatalf("idle %v, crash after %d of the close's %d operations: %d batches read back, want %d", idle, crashAt, n, len(got), len(want))
			}
			if !idle && l.ProducerStates().Len() != 1 {
				t.Fatalf("crash after %d of the close's %d operations: producer state lost", crashAt, n)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A log closed for the node's shutdown syncs nothing of an idle log: its
// marker becomes durable at the node's one filesystem sync. A power loss
// before that sync finds the log unclean, and it recovers whole; after it,
// clean.
func TestCloseForShutdownLeavesTheMarkerToTheFilesystemSync(t *testing.T) {
	for _, synced := range []bool{false, true} {
		fsys := vfs.NewMem()
		l := openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
		appendN(t, l, 20, 100, 1000)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
		want := readAllBatches(t, l, 1<<20)
		var syncs int
		fsys.SetErrorHook(func(op vfs.Op, _ string) error {
			if op == vfs.OpSync || op == vfs.OpSyncDir {
				syncs++
			}
			return nil
		})
		if err := l.CloseForShutdown(); err != nil {
			t.Fatal(err)
		}
		fsys.SetErrorHook(nil)
		if syncs != 0 {
			t.Errorf("closing an idle log for the shutdown synced %d times, want none", syncs)
		}
		if synced {
			if err := fsys.SyncFS("/p"); err != nil {
				t.Fatal(err)
			}
		}
		fsys.Crash()
		if NeedsRecovery(fsys, "/p") == synced {
			t.Errorf("filesystem synced %v: the log needs recovery %v", synced, !synced)
		}
		l = openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
		if got := readAllBatches(t, l, 1<<20); !bytes.Equal(bytes.Join(got, nil), bytes.Join(want, nil)) {
			t.Errorf("filesystem synced %v: %d batches read back, want %d", synced, len(got), len(want))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
