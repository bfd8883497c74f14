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

// renameCountFS counts renames: writeFileAtomic ends with one.
type renameCountFS struct {
	vfs.FS
	renames int
}

func (f *renameCountFS) Rename(oldpath, newpath string) error {
	f.renames++
	return f.FS.Rename(oldpath, newpath)
}

// TestOpenWritesOnlyChangedCheckpoints: opening a new log writes no
// checkpoint (a missing one reads as empty), nor does reopening a log
// closed cleanly (its checkpoints hold what recovery found); a log
// reopened after a crash with synced records past its recovery point
// writes its recovery point again.
func TestOpenWritesOnlyChangedCheckpoints(t *testing.T) {
	mem := vfs.NewMem()
	fsys := &renameCountFS{FS: mem}
	cfg := smallConfig()
	l := openTestLog(t, fsys, "/p", cfg, nil, 0)
	if fsys.renames != 0 {
		t.Errorf("opening a new log wrote %d checkpoints", fsys.renames)
	}
	appendAtEpoch(t, l, 3, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fsys.renames = 0
	l = openTestLog(t, fsys, "/p", cfg, nil, 0)
	if fsys.renames != 0 {
		t.Errorf("reopening a log closed cleanly wrote %d checkpoints", fsys.renames)
	}
	if got, want := l.FlushedOffset(), l.LogEndOffset(); got != want {
		t.Errorf("reopened log flushed to %d, want its end %d", got, want)
	}
	appendAtEpoch(t, l, 2, 1)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	mem.Crash()
	fsys.renames = 0
	l = openTestLog(t, fsys, "/p", cfg, nil, 0)
	defer l.Close()
	if fsys.renames == 0 {
		t.Error("reopening after a crash wrote no recovery point")
	}
}
