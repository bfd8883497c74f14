package logstore

import (
	"path"
	"testing"

	"gregor/logstore/vfs"
)

// TestNeedsRecovery: a missing directory and a log closed cleanly open
// without recovery; a log that is open, or was left without closing (a
// crash), needs it, and so does one whose marker a reopen consumed.
func TestNeedsRecovery(t *testing.T) {
	fsys := vfs.NewMem()
	dir := "/data/t-0"
	if NeedsRecovery(fsys, dir) {
		t.Error("a log whose directory does not exist needs recovery")
	}
	l, err := Open(Options{FS: fsys, Dir: dir, Config: DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if !NeedsRecovery(fsys, dir) {
		t.Error("an open log (a crash now leaves it unclean) needs no recovery")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if NeedsRecovery(fsys, dir) {
		t.Error("a log closed cleanly needs recovery")
	}
	if l, err = Open(Options{FS: fsys, Dir: dir, Config: DefaultConfig()}); err != nil {
		t.Fatal(err)
	}
	if !NeedsRecovery(fsys, dir) {
		t.Error("a reopened log (its marker consumed) needs no recovery")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fsys.Remove(path.Join(dir, cleanShutdownFile)); err != nil {
		t.Fatal(err)
	}
	if !NeedsRecovery(fsys, dir) {
		t.Error("a log without its clean shutdown marker needs no recovery")
	}
}
