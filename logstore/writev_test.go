//go:build linux

package logstore

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
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
	want := append(make([]byte, 3), bytes.Join(bufs, nil)...)
	for _, rawCall := range []bool{false, true} {
		var scratch iovecScratch
		if err := scratch.pwritevAll(int(f.Fd()), bufs, 3, rawCall); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("raw %v: file holds %d bytes, want %d", rawCall, len(got), len(want))
		}
	}
}

// At most GOMAXPROCS-1 appends write through a raw system call at once
// (RawWriteSlots): a raw call keeps its processor while the kernel blocks
// it, so one processor is never held by one; with GOMAXPROCS 1, or no
// slots, none is raw, nor a write larger than rawWriteMaxBytes.
func TestRawWritesLeaveAProcessorFree(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var none *RawWriteSlots
	if none.take(1) {
		t.Fatal("a nil RawWriteSlots gave a slot")
	}
	var slots RawWriteSlots
	runtime.GOMAXPROCS(4)
	if slots.take(rawWriteMaxBytes + 1) {
		t.Fatalf("a write of %d bytes took a raw slot", rawWriteMaxBytes+1)
	}
	// A produce batch at Kafka's default 1 MiB writes raw (RawWriteSlots).
	if !slots.take(1 << 20) {
		t.Fatal("a write of a 1 MiB batch took no raw slot")
	}
	slots.give()
	for _, procs := range []int{1, 2, 4} {
		runtime.GOMAXPROCS(procs)
		taken := 0
		for taken <= procs && slots.take(rawWriteMaxBytes) {
			taken++
		}
		for range taken {
			slots.give()
		}
		if taken != procs-1 {
			t.Errorf("GOMAXPROCS %d: %d raw write slots taken at once, want %d", procs, taken, procs-1)
		}
	}
}

// A vectored write allocates nothing once its appender has written the
// file: the file's raw connection and the write's arguments are kept in
// the appender's scratch (three allocations a write before: the raw
// connection, the closure handed to RawConn.Control and its error).
func TestWriteVectoredAllocatesNothing(t *testing.T) {
	name := filepath.Join(t.TempDir(), "v")
	f, err := vfs.OS.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bufs := [][]byte{[]byte("abc"), []byte("defg")}
	var (
		scratch iovecScratch
		slots   RawWriteSlots
		off     int64
	)
	write := func() {
		handled, err := writeVectored(f, bufs, off, &scratch, &slots)
		if !handled || err != nil {
			t.Fatalf("writeVectored: handled %v, %v", handled, err)
		}
		off += 7
	}
	write()
	if n := testing.AllocsPerRun(100, write); n != 0 {
		t.Errorf("%v allocations a vectored write, want 0", n)
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Repeat([]byte("abcdefg"), int(off/7)); !bytes.Equal(got, want) {
		t.Fatalf("file holds %q, want %d copies of abcdefg", got, off/7)
	}
}
