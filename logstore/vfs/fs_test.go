package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sync"
	"testing"
)

// fsUnderTest is one filesystem the shared suite runs against, with a fresh
// directory to work in.
type fsUnderTest struct {
	name  string
	setUp func(t *testing.T) (FS, string)
}

var allFS = []fsUnderTest{
	{"os", func(t *testing.T) (FS, string) { return OS, t.TempDir() }},
	{"mem", func(t *testing.T) (FS, string) {
		m := NewMem()
		if err := m.MkdirAll("/work", 0o755); err != nil {
			t.Fatal(err)
		}
		return m, "/work"
	}},
}

// forEachFS runs test against every filesystem, the way nats-server tests its
// memory and file stores with one suite.
func forEachFS(t *testing.T, test func(t *testing.T, fsys FS, dir string)) {
	for _, u := range allFS {
		t.Run(u.name, func(t *testing.T) {
			fsys, dir := u.setUp(t)
			test(t, fsys, dir)
		})
	}
}

func mustOpen(t *testing.T, fsys FS, name string, flag int) File {
	t.Helper()
	f, err := fsys.OpenFile(name, flag, 0o644)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	return f
}

func mustWrite(t *testing.T, w io.Writer, p []byte) {
	t.Helper()
	if n, err := w.Write(p); err != nil || n != len(p) {
		t.Fatalf("write: n=%d err=%v", n, err)
	}
}

// readAll reads a whole file through ReadAt.
func readAll(t *testing.T, fsys FS, name string) []byte {
	t.Helper()
	f := mustOpen(t, fsys, name, os.O_RDONLY)
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	if n, err := f.ReadAt(buf, 0); (err != nil && err != io.EOF) || int64(n) != size {
		t.Fatalf("read %s: n=%d err=%v", name, n, err)
	}
	return buf
}

func TestFSWriteReadSize(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		name := path.Join(dir, "a.log")
		f := mustOpen(t, fsys, name, os.O_RDWR|os.O_CREATE|os.O_EXCL)
		if f.Name() != name {
			t.Errorf("Name() = %q, want %q", f.Name(), name)
		}
		mustWrite(t, f, []byte("hello "))
		mustWrite(t, f, []byte("world"))
		if size, err := f.Size(); err != nil || size != 11 {
			t.Fatalf("Size = %d, %v; want 11", size, err)
		}
		buf := make([]byte, 5)
		if n, err := f.ReadAt(buf, 6); err != nil || n != 5 || string(buf) != "world" {
			t.Fatalf("ReadAt(6) = %d %q %v", n, buf, err)
		}
		// Reading across the end returns what there is, with io.EOF.
		if n, err := f.ReadAt(buf, 8); err != io.EOF || n != 3 || string(buf[:n]) != "rld" {
			t.Fatalf("ReadAt(8) = %d %q %v, want 3 \"rld\" EOF", n, buf[:n], err)
		}
		if n, err := f.ReadAt(buf, 11); err != io.EOF || n != 0 {
			t.Fatalf("ReadAt(11) = %d %v, want 0 EOF", n, err)
		}
		if _, err := f.WriteAt([]byte("W"), 6); err != nil {
			t.Fatal(err)
		}
		// WriteAt past the end fills the gap with zeros.
		if _, err := f.WriteAt([]byte("!"), 13); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got, want := readAll(t, fsys, name), []byte("hello World\x00\x00!"); !bytes.Equal(got, want) {
			t.Fatalf("content %q, want %q", got, want)
		}
		fi, err := fsys.Stat(name)
		if err != nil || fi.Size() != 14 || fi.IsDir() || fi.Name() != "a.log" {
			t.Fatalf("Stat = %v %v", fi, err)
		}
	})
}

func TestFSOpenFlags(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		name := path.Join(dir, "f")
		if _, err := fsys.OpenFile(name, os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("open missing: %v, want ErrNotExist", err)
		}
		f := mustOpen(t, fsys, name, os.O_WRONLY|os.O_CREATE)
		mustWrite(t, f, []byte("0123456789"))
		if _, err := f.ReadAt(make([]byte, 1), 0); err == nil {
			t.Error("ReadAt on a write-only file succeeded")
		}
		f.Close()
		if _, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("O_EXCL on existing: %v, want ErrExist", err)
		}
		r := mustOpen(t, fsys, name, os.O_RDONLY)
		if _, err := r.Write([]byte("x")); err == nil {
			t.Error("Write on a read-only file succeeded")
		}
		r.Close()
		a := mustOpen(t, fsys, name, os.O_WRONLY|os.O_APPEND)
		mustWrite(t, a, []byte("ab"))
		a.Close()
		if got := readAll(t, fsys, name); string(got) != "0123456789ab" {
			t.Fatalf("after append: %q", got)
		}
		tr := mustOpen(t, fsys, name, os.O_RDWR|os.O_TRUNC)
		mustWrite(t, tr, []byte("xy"))
		tr.Close()
		if got := readAll(t, fsys, name); string(got) != "xy" {
			t.Fatalf("after O_TRUNC: %q", got)
		}
		if _, err := fsys.OpenFile(path.Join(dir, "nodir", "f"), os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("create in missing dir: %v, want ErrNotExist", err)
		}
	})
}

func TestFSClosedFile(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		f := mustOpen(t, fsys, path.Join(dir, "f"), os.O_RDWR|os.O_CREATE)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("x")); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("Write after Close: %v, want ErrClosed", err)
		}
		if err := f.Close(); err == nil {
			t.Error("second Close succeeded")
		}
	})
}

func TestFSTruncate(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		name := path.Join(dir, "t")
		f := mustOpen(t, fsys, name, os.O_RDWR|os.O_CREATE)
		defer f.Close()
		mustWrite(t, f, []byte("abcdef"))
		if err := f.Truncate(3); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(5); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("Z"), 5); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, fsys, name); string(got) != "abc\x00\x00Z" {
			t.Fatalf("content %q", got)
		}
	})
}

func TestFSDirectories(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		sub := path.Join(dir, "topic-0", "deep")
		if err := fsys.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fsys.MkdirAll(sub, 0o755); err != nil {
			t.Fatalf("MkdirAll of an existing dir: %v", err)
		}
		for _, n := range []string{"c", "a", "b"} {
			mustOpen(t, fsys, path.Join(dir, "topic-0", n), os.O_WRONLY|os.O_CREATE).Close()
		}
		names, err := fsys.ReadDir(path.Join(dir, "topic-0"))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"a", "b", "c", "deep"}; !equalStrings(names, want) {
			t.Fatalf("ReadDir = %v, want %v", names, want)
		}
		fi, err := fsys.Stat(sub)
		if err != nil || !fi.IsDir() {
			t.Fatalf("Stat dir = %v %v", fi, err)
		}
		if err := fsys.SyncDir(path.Join(dir, "topic-0")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.MkdirAll(path.Join(dir, "topic-0", "a"), 0o755); err == nil {
			t.Error("MkdirAll over a file succeeded")
		}
		if err := fsys.Remove(path.Join(dir, "topic-0")); err == nil {
			t.Error("Remove of a non-empty dir succeeded")
		}
		if err := fsys.Remove(sub); err != nil {
			t.Fatalf("Remove empty dir: %v", err)
		}
		if _, err := fsys.ReadDir(path.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("ReadDir missing: %v", err)
		}
		if err := fsys.RemoveAll(path.Join(dir, "topic-0")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.RemoveAll(path.Join(dir, "topic-0")); err != nil {
			t.Fatalf("RemoveAll of a missing path: %v", err)
		}
		if _, err := fsys.Stat(path.Join(dir, "topic-0")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Stat after RemoveAll: %v", err)
		}
	})
}

func TestFSRemoveAndRename(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		a, b := path.Join(dir, "a"), path.Join(dir, "b")
		if err := fsys.Remove(a); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Remove missing: %v", err)
		}
		if err := fsys.Rename(a, b); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Rename missing: %v", err)
		}
		f := mustOpen(t, fsys, a, os.O_WRONLY|os.O_CREATE)
		mustWrite(t, f, []byte("A"))
		f.Close()
		f = mustOpen(t, fsys, b, os.O_WRONLY|os.O_CREATE)
		mustWrite(t, f, []byte("B"))
		f.Close()
		if err := fsys.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, fsys, b); string(got) != "A" {
			t.Fatalf("after rename over: %q", got)
		}
		if _, err := fsys.Stat(a); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("old name after rename: %v", err)
		}
		if err := fsys.Remove(b); err != nil {
			t.Fatal(err)
		}
		if names, _ := fsys.ReadDir(dir); len(names) != 0 {
			t.Fatalf("dir not empty: %v", names)
		}
	})
}

// An open file keeps its content after it is removed or renamed over.
func TestFSOpenFileOutlivesRemove(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		name := path.Join(dir, "seg")
		f := mustOpen(t, fsys, name, os.O_RDWR|os.O_CREATE)
		defer f.Close()
		mustWrite(t, f, []byte("still here"))
		if err := fsys.Remove(name); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "still here" {
			t.Fatalf("ReadAt after remove: %q %v", buf, err)
		}
	})
}

func TestFSWriteFileAtomic(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		name := path.Join(dir, "checkpoint")
		for _, content := range []string{"first", "second, longer", ""} {
			if err := WriteFileAtomic(fsys, name, []byte(content)); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, fsys, name); string(got) != content {
				t.Fatalf("content %q, want %q", got, content)
			}
		}
		names, err := fsys.ReadDir(dir)
		if err != nil || !equalStrings(names, []string{"checkpoint"}) {
			t.Fatalf("ReadDir = %v %v, want only the checkpoint", names, err)
		}
		if err := WriteFileAtomic(fsys, path.Join(dir, "missing", "x"), []byte("x")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("WriteFileAtomic in missing dir: %v", err)
		}
	})
}

// Concurrent readers and one appender, under -race.
func TestFSConcurrentReadersOneWriter(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, dir string) {
		name := path.Join(dir, "c")
		w := mustOpen(t, fsys, name, os.O_RDWR|os.O_CREATE)
		defer w.Close()
		const chunks, chunkBytes = 200, 64
		chunk := bytes.Repeat([]byte{'x'}, chunkBytes)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			r := mustOpen(t, fsys, name, os.O_RDONLY)
			defer r.Close()
			wg.Go(func() {
				buf := make([]byte, chunkBytes)
				for i := range chunks {
					n, err := r.ReadAt(buf, int64(i%8)*chunkBytes)
					if err != nil && err != io.EOF {
						errs <- err
						return
					}
					for _, c := range buf[:n] {
						if c != 'x' {
							errs <- errors.New("read a byte never written")
							return
						}
					}
				}
			})
		}
		for range chunks {
			mustWrite(t, w, chunk)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
