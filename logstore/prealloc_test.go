//go:build linux

package logstore

import (
	"bytes"
	"os"
	"path"
	"syscall"
	"testing"

	"gregor/logstore/vfs"
)

// allocatedBytes is what the filesystem holds for the file at p: its size
// and the bytes of its allocated blocks.
func allocatedBytes(t *testing.T, p string) (size, allocated int64) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size(), fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// trimmedSlack is what a file may hold beyond its bytes' blocks once its
// reservation is given back: st_blocks counts the extent tree's own blocks.
const trimmedSlack = 32 << 10

// preallocConfig rolls at 1 MiB.
func preallocConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 1 << 20
	return c
}

// skipWithoutPrealloc skips where the test directory's filesystem cannot
// preallocate (the log found out on its first append).
func skipWithoutPrealloc(t *testing.T, l *Log) {
	t.Helper()
	if l.noPrealloc || (l.preallocChecked && !l.preallocPays) {
		t.Skip("the filesystem of the test directory does not support fallocate")
	}
}

// An append reserves the segment's blocks a little ahead of it without
// changing the file's size; a roll and a close give back what lies past a
// segment's end. Without preallocation nothing past the appended bytes is
// allocated (the first check fails).
func TestPreallocationReservesAheadAndGivesBack(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, vfs.OS, dir, preallocConfig(), nil, 0)
	batch := simpleBatch(t, 100, 1000, 1000, 1) // ~100 KiB
	if _, err := l.Append([][]byte{batch}, 0, 1000); err != nil {
		t.Fatal(err)
	}
	skipWithoutPrealloc(t, l)
	first := path.Join(dir, segmentFileName(0, logFileExt))
	size, alloc := allocatedBytes(t, first)
	if size != int64(len(batch)) || size != l.SizeBytes() {
		t.Fatalf("segment size %d, appended %d, log says %d", size, len(batch), l.SizeBytes())
	}
	if alloc < size+preallocMinBytes/2 {
		t.Fatalf("segment of %d bytes has %d bytes allocated: nothing reserved ahead", size, alloc)
	}
	for l.LogEndOffset() < 2000 { // past the 1 MiB roll
		if _, err := l.Append([][]byte{simpleBatch(t, 100, 1000, 1000, 2)}, 0, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.segments) < 2 {
		t.Fatalf("%d segments, want a roll", len(l.segments))
	}
	size, alloc = allocatedBytes(t, first)
	if alloc > alignUp(size, 4096)+trimmedSlack {
		t.Fatalf("rolled segment of %d bytes keeps %d bytes allocated", size, alloc)
	}
	activePath := l.active().logPath()
	if _, alloc := allocatedBytes(t, activePath); alloc <= alignUp(l.active().sizeBytes, 4096)+trimmedSlack {
		t.Fatalf("active segment of %d bytes has %d allocated: nothing reserved ahead", l.active().sizeBytes, alloc)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	size, alloc = allocatedBytes(t, activePath)
	if alloc > alignUp(size, 4096)+trimmedSlack {
		t.Fatalf("closed active segment of %d bytes keeps %d bytes allocated", size, alloc)
	}
}

// A log that stops without closing (kill -9) with blocks reserved past its
// active segment's end recovers to exactly what was appended (the
// reservation is not part of the file), appends on, and gives the
// reservation back at its next roll.
func TestPreallocatedSegmentRecoversAfterCrash(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, vfs.OS, dir, preallocConfig(), nil, 0)
	var want [][]byte
	for i := range 3 {
		b := simpleBatch(t, 10, 1000, 1000, i)
		if _, err := l.Append([][]byte{b}, 0, 1000); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	skipWithoutPrealloc(t, l)
	end, size := l.LogEndOffset(), l.SizeBytes()
	// No Close: the files stay as a killed process leaves them (the
	// page cache holds every write).
	segPath := path.Join(dir, segmentFileName(0, logFileExt))
	if fileSize, alloc := allocatedBytes(t, segPath); fileSize != size || alloc <= alignUp(size, 4096)+trimmedSlack {
		t.Fatalf("before the crash: file of %d bytes (log %d) with %d allocated, want a reservation past it", fileSize, size, alloc)
	}
	r := openTestLog(t, vfs.OS, dir, preallocConfig(), nil, 0)
	if r.LogEndOffset() != end || r.SizeBytes() != size {
		t.Fatalf("recovered log end %d size %d, want %d and %d", r.LogEndOffset(), r.SizeBytes(), end, size)
	}
	got := readAllBatches(t, r, 1<<20)
	if len(got) != len(want) {
		t.Fatalf("recovered %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		// The log rewrote the base offsets of the batches it was given.
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs after recovery", i)
		}
	}
	for r.LogEndOffset() < 2000 { // past the 1 MiB roll
		if _, err := r.Append([][]byte{simpleBatch(t, 100, 1000, 1000, 9)}, 0, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if fileSize, alloc := allocatedBytes(t, segPath); alloc > alignUp(fileSize, 4096)+trimmedSlack {
		t.Fatalf("rolled segment of %d bytes keeps %d bytes allocated", fileSize, alloc)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.CloseForDeletion(); err != nil {
		t.Fatal(err)
	}
}

// With preallocate=true (log.preallocate) the first append reserves the
// whole of segment.bytes.
func TestPreallocateReservesTheWholeSegment(t *testing.T) {
	cfg := preallocConfig()
	cfg.Preallocate = true
	dir := t.TempDir()
	l := openTestLog(t, vfs.OS, dir, cfg, nil, 0)
	if _, err := l.Append([][]byte{simpleBatch(t, 1, 100, 1000, 1)}, 0, 1000); err != nil {
		t.Fatal(err)
	}
	skipWithoutPrealloc(t, l)
	if size, alloc := allocatedBytes(t, l.active().logPath()); alloc < cfg.SegmentBytes || size != l.SizeBytes() {
		t.Fatalf("segment of %d bytes (log %d) has %d allocated, want segment.bytes %d", size, l.SizeBytes(), alloc, cfg.SegmentBytes)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A truncation (a follower cutting its log back to its leader's) frees the
// reservation past the cut with it; the appends after it reserve again.
func TestPreallocationAfterTruncation(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, vfs.OS, dir, preallocConfig(), nil, 0)
	for i := range 5 {
		if _, err := l.Append([][]byte{simpleBatch(t, 10, 1000, 1000, i)}, 0, 1000); err != nil {
			t.Fatal(err)
		}
	}
	skipWithoutPrealloc(t, l)
	if err := l.Truncate(20, 1000); err != nil {
		t.Fatal(err)
	}
	seg := l.active()
	if seg.preallocEnd > seg.sizeBytes {
		t.Fatalf("after the truncation to %d bytes the log believes %d reserved", seg.sizeBytes, seg.preallocEnd)
	}
	if _, err := l.Append([][]byte{simpleBatch(t, 10, 1000, 1000, 7)}, 0, 1000); err != nil {
		t.Fatal(err)
	}
	if size, alloc := allocatedBytes(t, seg.logPath()); size != l.SizeBytes() || alloc <= alignUp(size, 4096)+trimmedSlack {
		t.Fatalf("after the truncation and an append: file of %d bytes (log %d), %d allocated", size, l.SizeBytes(), alloc)
	}
	got := readAllBatches(t, l, 1<<20)
	if len(got) != 3 {
		t.Fatalf("%d batches after truncating to 2 and appending 1", len(got))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// On a filesystem other than ext4 and xfs (tmpfs here) the log reserves
// nothing unless preallocate=true asks for it.
func TestPreallocationOnlyOnExt4AndXFSByDefault(t *testing.T) {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err != nil || st.Type != 0x01021994 { // TMPFS_MAGIC
		t.Skip("no tmpfs at /dev/shm")
	}
	dir, err := os.MkdirTemp("/dev/shm", "gregor-prealloc-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := openTestLog(t, vfs.OS, dir, preallocConfig(), nil, 0)
	if _, err := l.Append([][]byte{simpleBatch(t, 10, 1000, 1000, 1)}, 0, 1000); err != nil {
		t.Fatal(err)
	}
	if l.preallocPays || l.active().preallocEnd != 0 {
		t.Fatalf("tmpfs log: preallocation pays %v, reserved to %d", l.preallocPays, l.active().preallocEnd)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// A log reopened after a crash gives back at its close what the crash
// left reserved past its active segment's end, even without an append
// since (an idle partition would otherwise keep it until its segment
// rolls or is deleted).
func TestCrashLeftReservationGivenBackAtClose(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, vfs.OS, dir, preallocConfig(), nil, 0)
	if _, err := l.Append([][]byte{simpleBatch(t, 10, 1000, 1000, 1)}, 0, 1000); err != nil {
		t.Fatal(err)
	}
	skipWithoutPrealloc(t, l)
	segPath := l.active().logPath()
	// No Close: the reservation stays behind as after kill -9.
	r := openTestLog(t, vfs.OS, dir, preallocConfig(), nil, 0)
	want := r.SizeBytes()
	if size, alloc := allocatedBytes(t, segPath); size != want || alloc <= alignUp(size, 4096)+trimmedSlack {
		t.Fatalf("after the crash: segment of %d bytes (log %d) with %d allocated, want a reservation past it", size, want, alloc)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if size, alloc := allocatedBytes(t, segPath); size != want || alloc > alignUp(size, 4096)+trimmedSlack {
		t.Fatalf("after reopen and close: segment of %d bytes keeps %d bytes allocated", size, alloc)
	}
	if err := l.CloseForDeletion(); err != nil {
		t.Fatal(err)
	}
}
