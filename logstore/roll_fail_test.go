package logstore

import (
	"strings"
	"syscall"
	"testing"

	"gregor/logstore/vfs"
)

// TestFailedRollLeavesNoSegmentFile: a roll whose new segment file cannot
// be sized (to empty it if it holds bytes) or its directory synced fails
// the append, and the next, smaller
// append goes on in the old segment. The file the failed roll created must
// not stay behind: at the next open it would be a segment whose base offset
// lies inside the one before, and the log would not open (simulator seed
// 1869: a partition offline after a restart that followed disk faults).
func TestFailedRollLeavesNoSegmentFile(t *testing.T) {
	for _, failing := range []vfs.Op{vfs.OpSize, vfs.OpSync} {
		t.Run(string(failing), func(t *testing.T) {
			mem := vfs.NewMem()
			l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
			for l.Segments()[0].SizeBytes < 3000 {
				if _, err := l.Append([][]byte{simpleBatch(t, 1, 200, 0, 1)}, 0, 0); err != nil {
					t.Fatal(err)
				}
			}
			end := l.LogEndOffset()
			mem.SetErrorHook(func(op vfs.Op, name string) error {
				if op == failing && (op == vfs.OpSync || strings.HasSuffix(name, logFileExt)) {
					return syscall.EIO
				}
				return nil
			})
			if _, err := l.Append([][]byte{simpleBatch(t, 1, 2000, 0, 2)}, 0, 0); err == nil {
				t.Fatal("an append that had to roll succeeded with failing disk operations")
			}
			mem.SetErrorHook(nil)
			if _, err := l.Append([][]byte{simpleBatch(t, 1, 10, 0, 3)}, 0, 0); err != nil {
				t.Fatalf("a small append after the failed roll: %v", err)
			}
			if l.LogEndOffset() != end+1 || len(l.Segments()) != 1 {
				t.Fatalf("log end offset %d (want %d), %d segments", l.LogEndOffset(), end+1, len(l.Segments()))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
			if l.LogEndOffset() != end+1 {
				t.Fatalf("reopened at %d, want %d", l.LogEndOffset(), end+1)
			}
			_ = l.Close()
		})
	}
}

// TestNewSegmentIsNotTruncated: a roll empties a file left behind where
// its segment goes, but never truncates the new, empty file it creates:
// on ext4 a file truncated to size 0 is written back in full when it is
// closed (emptyFile), so every closed segment went to disk.
func TestNewSegmentIsNotTruncated(t *testing.T) {
	mem := vfs.NewMem()
	var truncated []string
	mem.SetErrorHook(func(op vfs.Op, name string) error {
		if op == vfs.OpTruncate {
			truncated = append(truncated, name)
		}
		return nil
	})
	l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
	for len(l.Segments()) < 3 {
		if _, err := l.Append([][]byte{simpleBatch(t, 1, 200, 0, 1)}, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(truncated) != 0 {
		t.Fatalf("rolls truncated %v, want no truncation of new segment files", truncated)
	}

	// A file left behind at the next segment's path is emptied.
	next := l.LogEndOffset()
	leftover := "/p/" + segmentFileName(next, logFileExt)
	f, err := mem.OpenFile(leftover, osCreateFlags, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("left behind")); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	// The active segment holds a batch: one of 3800 B does not fit after
	// it and rolls at next.
	if _, err := l.Append([][]byte{simpleBatch(t, 1, 3800, 0, 2)}, 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := l.Segments()[len(l.Segments())-1].BaseOffset; got != next {
		t.Fatalf("rolled at %d, want %d", got, next)
	}
	if len(truncated) != 1 || truncated[0] != leftover {
		t.Fatalf("truncated %v, want only the leftover %s", truncated, leftover)
	}
	_ = l.Close()
}
