package logstore

import (
	"bytes"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap/zaptest"

	"gregor/logstore/vfs"
)

// logReadCountingFS counts the ReadAt calls on its segment (.log) files.
type logReadCountingFS struct {
	vfs.FS
	logReadAts atomic.Int64
}

type logReadCountingFile struct {
	vfs.File
	fs *logReadCountingFS
}

func (c *logReadCountingFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return logReadCountingFile{File: f, fs: c}, nil
}

func (f logReadCountingFile) ReadAt(p []byte, off int64) (int, error) {
	if strings.HasSuffix(f.Name(), logFileExt) {
		f.fs.logReadAts.Add(1)
	}
	return f.File.ReadAt(p, off)
}

// A read of held batches finds their headers in the held frames: it makes
// no read of the segment file at all (a leader's read for a follower used
// to pread(2) each batch header it walked, though it sent the batches from
// memory). The bytes it returns are still the file's.
func TestHeldBatchHeadersReadFromTheirFrames(t *testing.T) {
	fs := &logReadCountingFS{FS: vfs.NewMem()}
	l, err := Open(Options{FS: fs, Dir: "/p", Config: DefaultConfig(), HoldBudget: NewHoldBudget(1 << 20),
		BlockPool: NewBlockPool(testBlockPoolBytes, true), Logger: zaptest.NewLogger(t), NowMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var frames []*heldFrame
	var starts []int64
	for i := range 4 {
		// Batches past index.interval.bytes: the offset index has an
		// entry at each batch after the first, where a read starts.
		f := newHeldFrame(simpleBatch(t, 4, 2000, 1000, i))
		frames = append(frames, f)
		starts = append(starts, l.LogEndOffset())
		if _, err := l.AppendValidatedHeld([][]byte{f.buf}, 0, 1, f.release); err != nil {
			t.Fatal(err)
		}
	}
	want := bytes.Join([][]byte{frames[1].buf, frames[2].buf, frames[3].buf}, nil)
	for _, from := range []int64{starts[1], starts[1] + 2} { // a batch's first offset, and one inside it
		before := fs.logReadAts.Load()
		recs, err := l.ReadUntailed(from, 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		if n := fs.logReadAts.Load() - before; n != 0 {
			t.Errorf("read from %d of held batches read the segment file %d times, want none", from, n)
		}
		got, err := recs.Bytes()
		recs.Release()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("read from %d: %d bytes, not the held batches' %d", from, len(got), len(want))
		}
	}
	// Once let go, the same read walks the file's headers again.
	l.ReleaseHeldBelow(l.LogEndOffset())
	before := fs.logReadAts.Load()
	recs, err := l.ReadUntailed(starts[1], 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	got, err := recs.Bytes()
	recs.Release()
	if err != nil {
		t.Fatal(err)
	}
	if fs.logReadAts.Load() == before || !bytes.Equal(got, want) {
		t.Fatalf("read of released batches: %d file reads, bytes equal %v", fs.logReadAts.Load()-before, bytes.Equal(got, want))
	}
}
