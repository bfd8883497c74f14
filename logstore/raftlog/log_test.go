package raftlog

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap/zaptest"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

const testDir = "data/" + DirName

func openLog(t *testing.T, fsys vfs.FS) (*Log, State) {
	t.Helper()
	l, st, err := Open(fsys, testDir, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, st
}

// ents makes entries from..to (inclusive) at term, each holding its index
// and term as data.
func ents(from, to, term uint64) []*raftpb.Entry {
	var out []*raftpb.Entry
	for i := from; i <= to; i++ {
		out = append(out, &raftpb.Entry{Index: new(i), Term: new(term), Type: raftpb.EntryNormal.Enum(), Data: fmt.Appendf(nil, "%d@%d", i, term)})
	}
	return out
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

// describe renders a state compactly, for comparisons and failures.
func describe(st State) string {
	var b strings.Builder
	if st.Snapshot != nil {
		md := st.Snapshot.GetMetadata()
		fmt.Fprintf(&b, "snap %d@%d %q voters %v learners %v; ", md.GetIndex(), md.GetTerm(), st.Snapshot.GetData(),
			md.GetConfState().GetVoters(), md.GetConfState().GetLearners())
	}
	if st.HardState != nil {
		fmt.Fprintf(&b, "hs term %d vote %d commit %d; ", st.HardState.GetTerm(), st.HardState.GetVote(), st.HardState.GetCommit())
	}
	b.WriteString("entries")
	for _, e := range st.Entries {
		fmt.Fprintf(&b, " %d@%d/%d:%q", e.GetIndex(), e.GetTerm(), e.GetType(), e.GetData())
	}
	return b.String()
}

func listDir(t *testing.T, fsys vfs.FS) string {
	t.Helper()
	names, err := fsys.ReadDir(testDir)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, " ")
}

func TestOpenEmptyAndReopen(t *testing.T) {
	fsys := vfs.NewMem()
	l, st := openLog(t, fsys)
	if !st.Empty() || st.LastIndex() != 0 {
		t.Fatalf("fresh log holds %s", describe(st))
	}
	if err := l.Save(Update{Entries: ents(1, 3, 1), HardState: hardState(1, 1, 2), MustSync: true}); err != nil {
		t.Fatal(err)
	}
	// A conflicting suffix from a later leader replaces entries 3 on.
	if err := l.Save(Update{Entries: ents(3, 4, 2), HardState: hardState(2, 0, 3), MustSync: true}); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	fsys.Crash()
	_, st = openLog(t, fsys)
	want := `hs term 2 vote 0 commit 3; entries 1@1/0:"1@1" 2@1/0:"2@1" 3@2/0:"3@2" 4@2/0:"4@2"`
	if got := describe(st); got != want {
		t.Fatalf("recovered\n%s\nwant\n%s", got, want)
	}
	if got := listDir(t, fsys); got != "00000000000000000001.log" {
		t.Fatalf("files %s", got)
	}
}

// Bootstrap, as the quorum does it: a snapshot at index 1 holding the voters
// and the initial image, saved before any message is sent.
func TestBootstrapSnapshot(t *testing.T) {
	fsys := vfs.NewMem()
	l, _ := openLog(t, fsys)
	if err := l.Save(Update{Snapshot: testSnapshot(1, 1, []byte("image"), 1, 2, 3)}); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	fsys.Crash()
	_, st := openLog(t, fsys)
	want := `snap 1@1 "image" voters [1 2 3] learners []; entries`
	if got := describe(st); got != want {
		t.Fatalf("recovered %s, want %s", got, want)
	}
	if got := listDir(t, fsys); got != "00000000000000000001.snap 00000000000000000002.log" {
		t.Fatalf("files %s", got)
	}
}

func TestInstallSnapshotDropsEntries(t *testing.T) {
	fsys := vfs.NewMem()
	l, _ := openLog(t, fsys)
	must(t, l.Save(Update{Entries: ents(1, 5, 1), HardState: hardState(1, 0, 2), MustSync: true}))
	// The leader's snapshot at 8 replaces everything, conflicting entries
	// 3 to 5 included; entries after it come in the same update.
	must(t, l.Save(Update{Snapshot: testSnapshot(8, 2, []byte("s8"), 1), Entries: ents(9, 10, 2), HardState: hardState(2, 0, 8), MustSync: true}))
	must(t, l.Save(Update{Entries: ents(11, 11, 2), HardState: hardState(2, 0, 10)}))
	_ = l.Close()
	_, st := openLog(t, fsys)
	want := `snap 8@2 "s8" voters [1] learners []; hs term 2 vote 0 commit 10; entries 9@2/0:"9@2" 10@2/0:"10@2" 11@2/0:"11@2"`
	if got := describe(st); got != want {
		t.Fatalf("recovered\n%s\nwant\n%s", got, want)
	}
	if got := listDir(t, fsys); got != "00000000000000000002.log 00000000000000000008.snap" {
		t.Fatalf("files %s", got)
	}
}

func TestCompact(t *testing.T) {
	fsys := vfs.NewMem()
	l, _ := openLog(t, fsys)
	must(t, l.Save(Update{Snapshot: testSnapshot(1, 1, nil, 1)}))
	must(t, l.Save(Update{Entries: ents(2, 9, 2), HardState: hardState(2, 1, 7), MustSync: true}))
	before := l.Size()
	must(t, l.Compact(testSnapshot(6, 2, []byte("at 6"), 1)))
	if l.Size() >= before {
		t.Fatalf("segment of %d bytes after compaction, %d before", l.Size(), before)
	}
	must(t, l.Save(Update{Entries: ents(10, 10, 2), HardState: hardState(2, 1, 10), MustSync: true}))
	_ = l.Close()
	fsys.Crash()
	l, st := openLog(t, fsys)
	want := `snap 6@2 "at 6" voters [1] learners []; hs term 2 vote 1 commit 10; entries 7@2/0:"7@2" 8@2/0:"8@2" 9@2/0:"9@2" 10@2/0:"10@2"`
	if got := describe(st); got != want {
		t.Fatalf("recovered\n%s\nwant\n%s", got, want)
	}
	if got := listDir(t, fsys); got != "00000000000000000003.log 00000000000000000006.snap" {
		t.Fatalf("files %s", got)
	}
	for _, bad := range []*raftpb.Snapshot{testSnapshot(6, 2, nil, 1), testSnapshot(11, 2, nil, 1), testSnapshot(8, 1, nil, 1)} {
		if err := l.Compact(bad); err == nil {
			t.Errorf("compact at %d term %d accepted", bad.GetMetadata().GetIndex(), bad.GetMetadata().GetTerm())
		}
	}
}

func TestSaveRefusesMisshapenUpdates(t *testing.T) {
	l, _ := openLog(t, vfs.NewMem())
	must(t, l.Save(Update{Snapshot: testSnapshot(3, 1, nil, 1), Entries: ents(4, 5, 1), MustSync: true}))
	for name, u := range map[string]Update{
		"gap":          {Entries: ents(7, 7, 1)},
		"below":        {Entries: ents(3, 4, 1)},
		"not in order": {Entries: append(ents(6, 6, 1), ents(8, 8, 1)...)},
		"old snapshot": {Snapshot: testSnapshot(3, 1, nil, 1)},
		"too large":    {Entries: []*raftpb.Entry{{Index: new(uint64(6)), Term: new(uint64(1)), Data: make([]byte, MaxEntryBytes+1)}}},
	} {
		if err := l.Save(u); err == nil {
			t.Errorf("%s: saved", name)
		}
	}
	must(t, l.Save(Update{Entries: ents(6, 6, 1), MustSync: true}))
}

// A torn last write is cut off at recovery; what was synced stays.
func TestTornTailIsCut(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		fsys := vfs.NewMem(vfs.WithTornWrites(seed))
		l, _ := openLog(t, fsys)
		must(t, l.Save(Update{Entries: ents(1, 2, 1), HardState: hardState(1, 1, 1), MustSync: true}))
		must(t, l.Save(Update{Entries: ents(3, 6, 1), HardState: hardState(1, 1, 4)}))
		fsys.Crash()
		l, st := openLog(t, fsys)
		got := describe(st)
		if !strings.HasPrefix(got, `hs term 1 vote 1 commit `) || !strings.Contains(got, `1@1/0:"1@1" 2@1/0:"2@1"`) {
			t.Fatalf("seed %d: recovered %s", seed, got)
		}
		if st.HardState.GetCommit() > st.LastIndex() {
			t.Fatalf("seed %d: commit %d past last index %d", seed, st.HardState.GetCommit(), st.LastIndex())
		}
		// The log goes on from the cut.
		next := st.LastIndex() + 1
		must(t, l.Save(Update{Entries: ents(next, next, 2), MustSync: true}))
		_ = l.Close()
		if _, st2 := openLog(t, fsys); st2.LastIndex() != next {
			t.Fatalf("seed %d: after appending %d, last index %d", seed, next, st2.LastIndex())
		}
	}
}

// A torn tail that cannot be cut off fails the open: the log must not go
// on from a size its file does not have.
func TestFailedCutFailsOpen(t *testing.T) {
	fsys := vfs.NewMem()
	l, _ := openLog(t, fsys)
	must(t, l.Save(Update{Entries: ents(1, 2, 1), MustSync: true}))
	_ = l.Close()
	f, err := fsys.OpenFile(testDir+"/"+segmentName(1), os.O_WRONLY|os.O_APPEND, 0o644)
	must(t, err)
	_, err = f.Write([]byte{0, 0, 0, 9, 1})
	must(t, err)
	must(t, f.Close())
	fsys.SetErrorHook(func(op vfs.Op, _ string) error {
		if op == vfs.OpTruncate {
			return syscall.EIO
		}
		return nil
	})
	l, _, err = Open(fsys, testDir, zaptest.NewLogger(t))
	if !errors.Is(err, syscall.EIO) {
		if err == nil {
			_ = l.Close()
		}
		t.Fatalf("open with a failing truncate of the torn tail: %v", err)
	}
}

func TestMissingSnapshotIsCorruption(t *testing.T) {
	fsys := vfs.NewMem()
	l, _ := openLog(t, fsys)
	must(t, l.Save(Update{Snapshot: testSnapshot(4, 1, nil, 1)}))
	_ = l.Close()
	must(t, fsys.Remove(testDir+"/00000000000000000004.snap"))
	if _, _, err := Open(fsys, testDir, nil); !errors.Is(err, logstore.ErrCorruption) {
		t.Fatalf("open without the snapshot: %v", err)
	}
}

func TestFailedSyncBreaksTheLog(t *testing.T) {
	fsys := vfs.NewMem()
	l, _ := openLog(t, fsys)
	must(t, l.Save(Update{Entries: ents(1, 1, 1), MustSync: true}))
	fsys.SetErrorHook(func(op vfs.Op, _ string) error {
		if op == vfs.OpSync {
			return syscall.EIO
		}
		return nil
	})
	if err := l.Save(Update{Entries: ents(2, 2, 1), MustSync: true}); err == nil {
		t.Fatal("save with a failing fsync succeeded")
	}
	fsys.SetErrorHook(nil)
	if err := l.Save(Update{Entries: ents(2, 2, 1), MustSync: true}); err == nil {
		t.Fatal("save after a failed fsync succeeded")
	}
}

// A write that fails part way (the disk is full) is cut off, so the records
// before it stay readable.
func TestFailedWriteIsCutOff(t *testing.T) {
	fsys := vfs.NewMem()
	l, _ := openLog(t, fsys)
	must(t, l.Save(Update{Entries: ents(1, 1, 1), MustSync: true}))
	fsys.SetSpaceLimit(fsys.UsedBytes() + 10)
	if err := l.Save(Update{Entries: ents(2, 3, 1), MustSync: true}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("save on a full disk: %v", err)
	}
	fsys.SetSpaceLimit(-1)
	_ = l.Close()
	fsys.Crash()
	if _, st := openLog(t, fsys); describe(st) != `entries 1@1/0:"1@1"` {
		t.Fatalf("recovered %s", describe(st))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
