package logstore

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"gregor/logstore/vfs"
)

// A follower's append of many batches goes to the OS file in one vectored
// write (more batches than one pwritev takes, some of them empty slices):
// the segment then holds them back to back, reads return them, and the
// caller's slices are left as they were.
func TestAppendAsFollowerWritesManyBatchesAtOnce(t *testing.T) {
	dir := t.TempDir()
	fsys := &writeCountingFS{FS: vfs.OS}
	l := openTestLog(t, fsys, dir, DefaultConfig(), nil, 0)
	defer l.Close()
	var batches [][]byte
	next := int64(0)
	for i := range maxIovecs + 300 {
		n := 1 + i%3
		batches = append(batches, followerBatch(t, next, n, 1))
		next += int64(n)
	}
	kept := slices.Clone(batches)
	if _, err := l.AppendAsFollower(batches, 0); err != nil {
		t.Fatal(err)
	}
	if fsys.writeAts != 0 {
		t.Errorf("%d WriteAt calls for %d batches, want one vectored write", fsys.writeAts, len(batches))
	}
	if l.LogEndOffset() != next {
		t.Fatalf("log end offset %d, want %d", l.LogEndOffset(), next)
	}
	for i := range batches {
		if len(batches[i]) != len(kept[i]) || &batches[i][0] != &kept[i][0] {
			t.Fatalf("batch %d changed by the append", i)
		}
	}
	want := bytes.Join(batches, nil)
	got, err := os.ReadFile(filepath.Join(dir, "00000000000000000000.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("segment holds %d bytes, want the %d appended", len(got), len(want))
	}
	if read := bytes.Join(readAllBatches(t, l, 1<<20), nil); !bytes.Equal(read, want) {
		t.Fatalf("reads return %d bytes, want the %d appended", len(read), len(want))
	}
}

// writeCountingFS counts the WriteAt calls on its files, which are still
// backed by *os.File (OSFiler) for the vectored write.
type writeCountingFS struct {
	vfs.FS
	writeAts int
}

type writeCountingFile struct {
	vfs.File
	fs *writeCountingFS
}

func (c *writeCountingFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return writeCountingFile{File: f, fs: c}, nil
}

func (f writeCountingFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.writeAts++
	return f.File.WriteAt(p, off)
}

func (f writeCountingFile) OSFile() *os.File { return f.File.(vfs.OSFiler).OSFile() }

// pwritevAll continues where a buffer was cut (a short write resumes in the
// middle of one) and skips empty buffers.
func TestPwritevAllWritesEveryByte(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "v")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var bufs [][]byte
	for i := range 2*maxIovecs + 5 {
		bufs = append(bufs, bytes.Repeat([]byte{byte(i)}, i%7))
	}
	var scratch iovecScratch
	if err := scratch.pwritevAll(int(f.Fd()), bufs, 3); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	want := append(make([]byte, 3), bytes.Join(bufs, nil)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("file holds %d bytes, want %d", len(got), len(want))
	}
}

// A vectored write reuses the appender's vector: after the first, writes of
// as many batches allocate nothing, and the vector keeps no buffer alive.
func TestWriteVectoredReusesItsVector(t *testing.T) {
	f, err := vfs.OS.OpenFile(filepath.Join(t.TempDir(), "v"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bufs := make([][]byte, 64)
	for i := range bufs {
		bufs[i] = bytes.Repeat([]byte{byte(i)}, 100)
	}
	var scratch iovecScratch
	off := int64(0)
	write := func() {
		if handled, err := writeVectored(f, bufs, off, &scratch); !handled || err != nil {
			t.Fatalf("vectored write: handled %v, %v", handled, err)
		}
		off += 6400
	}
	write()
	if allocs := testing.AllocsPerRun(20, write); allocs != 0 {
		t.Errorf("a vectored write of %d buffers allocates %v objects, want none", len(bufs), allocs)
	}
	for i, iov := range scratch.iovs[:cap(scratch.iovs)] {
		if iov.Base != nil {
			t.Fatalf("the vector's entry %d still points at a buffer", i)
		}
	}
}
