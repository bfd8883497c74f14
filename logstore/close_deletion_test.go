package logstore

import (
	"path"
	"testing"

	"gregor/logstore/vfs"
)

// A log closed for deletion is not flushed and writes no clean shutdown
// marker: a power loss right after it loses its unsynced records, where a
// log closed the usual way keeps them. Either way the directory opens
// again.
func TestCloseForDeletionDoesNotFlush(t *testing.T) {
	for _, forDeletion := range []bool{false, true} {
		fsys := vfs.NewMem()
		l := openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
		appendN(t, l, 20, 100, 1000)
		end := l.LogEndOffset()
		closeLog := l.Close
		if forDeletion {
			closeLog = l.CloseForDeletion
		}
		if err := closeLog(); err != nil {
			t.Fatalf("close (for deletion %v): %v", forDeletion, err)
		}
		if _, err := fsys.Stat(path.Join("/p", cleanShutdownFile)); (err == nil) == forDeletion {
			t.Errorf("closed for deletion %v: clean shutdown marker present %v", forDeletion, err == nil)
		}
		fsys.Crash()
		l = openTestLog(t, fsys, "/p", DefaultConfig(), nil, 0)
		want := end
		if forDeletion {
			want = 0
		}
		if got := l.LogEndOffset(); got != want {
			t.Errorf("closed for deletion %v, then a power loss: log end offset %d, want %d", forDeletion, got, want)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
