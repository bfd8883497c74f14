package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"

	"pgregory.net/rapid"
)

// memWithDir returns a Mem holding a durable, empty directory /d.
func memWithDir(t *testing.T, opts ...MemOption) *Mem {
	t.Helper()
	m := NewMem(opts...)
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return m
}

// writeDurable creates name with content, syncs it and its directory.
func writeDurable(t *testing.T, m *Mem, name, content string) {
	t.Helper()
	f := mustOpen(t, m, name, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	mustWrite(t, f, []byte(content))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
}

func wantContent(t *testing.T, m *Mem, name, want string) {
	t.Helper()
	if got := readAll(t, m, name); string(got) != want {
		t.Fatalf("%s holds %q, want %q", name, got, want)
	}
}

func wantMissing(t *testing.T, m *Mem, name string) {
	t.Helper()
	if _, err := m.Stat(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(%s) = %v, want ErrNotExist", name, err)
	}
}

func TestMemCrashDropsUnsyncedWrites(t *testing.T) {
	m := memWithDir(t)
	writeDurable(t, m, "/d/f", "durable")
	f := mustOpen(t, m, "/d/f", os.O_RDWR|os.O_APPEND)
	mustWrite(t, f, []byte("+lost"))
	m.Crash()
	wantContent(t, m, "/d/f", "durable")
	if _, err := f.Write([]byte("x")); !errors.Is(err, ErrCrashed) {
		t.Fatalf("Write on a pre-crash File: %v, want ErrCrashed", err)
	}
	if err := f.Close(); !errors.Is(err, ErrCrashed) {
		t.Fatalf("Close on a pre-crash File: %v, want ErrCrashed", err)
	}
}

func TestMemCrashKeepsSyncedPrefix(t *testing.T) {
	m := memWithDir(t)
	f := mustOpen(t, m, "/d/f", os.O_RDWR|os.O_CREATE)
	mustWrite(t, f, []byte("one "))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, []byte("two"))
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	wantContent(t, m, "/d/f", "one ")
}

// Writes into the synced range and truncations below it must not show
// through the synced content, which shares memory with the current content.
func TestMemCrashAfterOverwriteAndTruncate(t *testing.T) {
	m := memWithDir(t)
	writeDurable(t, m, "/d/f", "0123456789")
	f := mustOpen(t, m, "/d/f", os.O_RDWR)
	if _, err := f.WriteAt([]byte("AB"), 2); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(4); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, []byte("zzzzzzzz")) // write position 0 of this File
	if _, err := f.WriteAt([]byte("tail"), 8); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	wantContent(t, m, "/d/f", "0123456789")
}

func TestMemCrashDirectoryEntries(t *testing.T) {
	m := memWithDir(t)
	writeDurable(t, m, "/d/kept", "k")
	writeDurable(t, m, "/d/removed", "r")
	writeDurable(t, m, "/d/renamed", "n")

	f := mustOpen(t, m, "/d/created", os.O_RDWR|os.O_CREATE)
	mustWrite(t, f, []byte("c"))
	if err := f.Sync(); err != nil { // content durable, entry not
		t.Fatal(err)
	}
	if err := m.Remove("/d/removed"); err != nil {
		t.Fatal(err)
	}
	if err := m.Rename("/d/renamed", "/d/target"); err != nil {
		t.Fatal(err)
	}
	if err := m.MkdirAll("/d/sub/deeper", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/d/sub"); err != nil { // sub's entry in /d is not durable
		t.Fatal(err)
	}
	m.Crash()
	names, err := m.ReadDir("/d")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kept", "removed", "renamed"}; !equalStrings(names, want) {
		t.Fatalf("after crash /d = %v, want %v", names, want)
	}
	wantContent(t, m, "/d/removed", "r")
	wantContent(t, m, "/d/renamed", "n")
}

func TestMemSyncDirMakesEntriesDurable(t *testing.T) {
	m := memWithDir(t)
	writeDurable(t, m, "/d/old", "o")
	f := mustOpen(t, m, "/d/new", os.O_RDWR|os.O_CREATE)
	mustWrite(t, f, []byte("n"))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/d/old"); err != nil {
		t.Fatal(err)
	}
	if err := m.MkdirAll("/d/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	names, _ := m.ReadDir("/d")
	if want := []string{"new", "sub"}; !equalStrings(names, want) {
		t.Fatalf("after crash /d = %v, want %v", names, want)
	}
	wantContent(t, m, "/d/new", "n")
}

func TestMemTornWritesAreDeterministicPrefixes(t *testing.T) {
	const base, last = "synced:", "0123456789abcdef"
	run := func(seed uint64) string {
		m := memWithDir(t, WithTornWrites(seed))
		writeDurable(t, m, "/d/f", base)
		f := mustOpen(t, m, "/d/f", os.O_RDWR|os.O_APPEND)
		mustWrite(t, f, []byte("earlier write, lost entirely;"))
		if err := f.Truncate(int64(len(base))); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, f, []byte(last))
		m.Crash()
		return string(readAll(t, m, "/d/f"))
	}
	seen := make(map[int]bool)
	for seed := range uint64(200) {
		got := run(seed)
		if again := run(seed); again != got {
			t.Fatalf("seed %d: %q then %q", seed, got, again)
		}
		tail, ok := bytes.CutPrefix([]byte(got), []byte(base))
		if !ok || !bytes.HasPrefix([]byte(last), tail) {
			t.Fatalf("seed %d: %q is not the synced content plus a prefix of the last write", seed, got)
		}
		seen[len(tail)] = true
	}
	if !seen[0] || !seen[len(last)] || len(seen) < len(last)/2 {
		t.Fatalf("torn lengths seen over 200 seeds: %v", seen)
	}
}

func TestMemErrorHook(t *testing.T) {
	m := memWithDir(t)
	writeDurable(t, m, "/d/f", "abc")
	m.SetErrorHook(func(op Op, path string) error {
		if path == "/d/f" && (op == OpWrite || op == OpSync) {
			return syscall.EIO
		}
		return nil
	})
	f := mustOpen(t, m, "/d/f", os.O_RDWR|os.O_APPEND)
	if n, err := f.Write([]byte("x")); !errors.Is(err, syscall.EIO) || n != 0 {
		t.Fatalf("Write = %d, %v; want 0, EIO", n, err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Sync = %v, want EIO", err)
	}
	wantContent(t, m, "/d/f", "abc")
	if _, err := m.OpenFile("/d/g", os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		t.Fatalf("other path failed: %v", err)
	}
	m.SetErrorHook(nil)
	mustWrite(t, f, []byte("d"))
	wantContent(t, m, "/d/f", "abcd")
}

func TestMemSpaceLimit(t *testing.T) {
	m := memWithDir(t)
	m.SetSpaceLimit(10)
	f := mustOpen(t, m, "/d/a", os.O_RDWR|os.O_CREATE)
	mustWrite(t, f, []byte("123456"))
	n, err := f.Write([]byte("789abc"))
	if !errors.Is(err, syscall.ENOSPC) || n != 4 {
		t.Fatalf("Write past the limit = %d, %v; want a partial 4 and ENOSPC", n, err)
	}
	if _, err := f.WriteAt([]byte("XY"), 0); err != nil {
		t.Fatalf("overwrite in place on a full disk: %v", err)
	}
	if err := f.Truncate(11); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Truncate growing past the limit: %v", err)
	}
	g := mustOpen(t, m, "/d/b", os.O_RDWR|os.O_CREATE)
	if _, err := g.Write([]byte("z")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write to a second file: %v, want ENOSPC", err)
	}
	if got := m.UsedBytes(); got != 10 {
		t.Fatalf("UsedBytes = %d, want 10", got)
	}
	// Removing an open file frees nothing until it is closed.
	if err := m.Remove("/d/a"); err != nil {
		t.Fatal(err)
	}
	if m.UsedBytes() != 10 {
		t.Fatalf("UsedBytes after removing an open file = %d", m.UsedBytes())
	}
	f.Close()
	if m.UsedBytes() != 0 {
		t.Fatalf("UsedBytes after close = %d", m.UsedBytes())
	}
	mustWrite(t, g, []byte("0123456789"))
	if _, err := g.Write([]byte("!")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write at the limit again: %v", err)
	}
	m.SetSpaceLimit(-1)
	mustWrite(t, g, bytes.Repeat([]byte("!"), 1000))
	if m.UsedBytes() != 1010 {
		t.Fatalf("UsedBytes = %d, want 1010", m.UsedBytes())
	}
	g.Close()
	tr := mustOpen(t, m, "/d/b", os.O_RDWR|os.O_TRUNC)
	tr.Close()
	if m.UsedBytes() != 0 {
		t.Fatalf("UsedBytes after O_TRUNC = %d", m.UsedBytes())
	}
}

func TestMemUsedBytesAfterCrash(t *testing.T) {
	m := memWithDir(t)
	writeDurable(t, m, "/d/a", "12345")
	f := mustOpen(t, m, "/d/a", os.O_RDWR|os.O_APPEND)
	mustWrite(t, f, []byte("6789"))
	if err := m.RemoveAll("/d"); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	if got := m.UsedBytes(); got != 5 {
		t.Fatalf("UsedBytes after crash = %d, want 5", got)
	}
}

func TestMemCrashAfterOps(t *testing.T) {
	m := memWithDir(t)
	start := m.OpCount()
	m.CrashAfterOps(2)
	f := mustOpen(t, m, "/d/f", os.O_RDWR|os.O_CREATE) // op 1
	mustWrite(t, f, []byte("x"))                       // op 2
	if err := f.Sync(); !errors.Is(err, ErrCrashed) {
		t.Fatalf("op 3: %v, want ErrCrashed", err)
	}
	if err := m.SyncDir("/d"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("op 4: %v, want ErrCrashed", err)
	}
	if got := m.OpCount() - start; got != 2 {
		t.Fatalf("OpCount advanced by %d, want 2", got)
	}
	m.Crash()
	wantMissing(t, m, "/d/f")
	if err := m.SyncDir("/d"); err != nil {
		t.Fatalf("after Crash the budget is lifted: %v", err)
	}
}

// An error hook may crash the Mem itself (it runs without the lock held).
func TestMemHookMayCrash(t *testing.T) {
	m := memWithDir(t)
	writeDurable(t, m, "/d/f", "old")
	m.SetErrorHook(func(op Op, path string) error {
		if op == OpSync {
			m.Crash()
			return ErrCrashed
		}
		return nil
	})
	f := mustOpen(t, m, "/d/f", os.O_RDWR|os.O_TRUNC)
	mustWrite(t, f, []byte("new"))
	if err := f.Sync(); !errors.Is(err, ErrCrashed) {
		t.Fatalf("Sync = %v", err)
	}
	m.SetErrorHook(nil)
	wantContent(t, m, "/d/f", "old")
}

func TestMemRenameEdgeCases(t *testing.T) {
	m := memWithDir(t)
	if err := m.MkdirAll("/d/x/y", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Rename("/d/x", "/d/x/y/z"); err == nil {
		t.Error("renaming a directory below itself succeeded")
	}
	writeDurable(t, m, "/d/f", "f")
	if err := m.Rename("/d/f", "/d/x"); err == nil {
		t.Error("renaming a file over a directory succeeded")
	}
	if err := m.Rename("/d/f", "/d/f"); err != nil {
		t.Errorf("rename to itself: %v", err)
	}
	if err := m.Rename("/d/x/y", "/d/moved"); err != nil {
		t.Fatal(err)
	}
	if names, _ := m.ReadDir("/d"); !equalStrings(names, []string{"f", "moved", "x"}) {
		t.Fatalf("ReadDir = %v", names)
	}
	if _, err := m.OpenFile("/d/x", os.O_RDONLY, 0); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("opening a directory: %v, want EISDIR", err)
	}
}

// A naive model of one file (current and synced content as plain copies)
// against Mem, over random writes, truncations, syncs and a final crash.
func TestMemFileMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := NewMem()
		f, err := m.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			rt.Fatal(err)
		}
		if err := m.SyncDir("/"); err != nil {
			rt.Fatal(err)
		}
		var cur, synced []byte
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for i := range steps {
			switch rapid.IntRange(0, 3).Draw(rt, fmt.Sprintf("op%d", i)) {
			case 0:
				off := rapid.IntRange(0, len(cur)+4).Draw(rt, "off")
				p := rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(rt, "p")
				if _, err := f.WriteAt(p, int64(off)); err != nil {
					rt.Fatal(err)
				}
				if end := off + len(p); len(p) > 0 && end > len(cur) {
					cur = append(cur, make([]byte, end-len(cur))...)
				}
				if len(p) > 0 {
					copy(cur[off:], p)
				}
			case 1:
				size := rapid.IntRange(0, len(cur)+4).Draw(rt, "size")
				if err := f.Truncate(int64(size)); err != nil {
					rt.Fatal(err)
				}
				cur = append(append([]byte(nil), cur[:min(size, len(cur))]...), make([]byte, max(0, size-len(cur)))...)
			case 2:
				if err := f.Sync(); err != nil {
					rt.Fatal(err)
				}
				synced = append([]byte(nil), cur...)
			case 3:
				m.Crash()
				cur = append([]byte(nil), synced...)
				if f, err = m.OpenFile("/f", os.O_RDWR, 0); err != nil {
					rt.Fatal(err)
				}
			}
			if got := readAll(t, m, "/f"); !bytes.Equal(got, cur) {
				rt.Fatalf("step %d: file %q, model %q", i, got, cur)
			}
		}
		m.Crash()
		if got := readAll(t, m, "/f"); !bytes.Equal(got, synced) {
			rt.Fatalf("after crash: file %q, model %q", got, synced)
		}
	})
}

// dumpTree lists every path below dir with its content, in sorted order.
func dumpTree(t *testing.T, m *Mem, dir string, out *bytes.Buffer) int64 {
	t.Helper()
	names, err := m.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, name := range names {
		p := dir + "/" + name
		fi, err := m.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.IsDir() {
			fmt.Fprintf(out, "%s/\n", p)
			total += dumpTree(t, m, p, out)
			continue
		}
		content := readAll(t, m, p)
		total += int64(len(content))
		fmt.Fprintf(out, "%s %q\n", p, content)
	}
	return total
}

// randomWorkload drives m with a seeded mix of every operation and crashes,
// ignoring errors (some operations are bound to fail), and returns the final
// tree.
func randomWorkload(t *testing.T, seed uint64) string {
	m := NewMem(WithTornWrites(seed))
	m.SetSpaceLimit(400)
	rng := rand.New(rand.NewPCG(seed, 1))
	dirs := []string{"/a", "/a/b", "/c"}
	files := []string{"/a/1", "/a/2", "/a/b/3", "/c/4", "/5"}
	open := map[string]File{}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for range 400 {
		f := pick(files)
		switch rng.IntN(9) {
		case 0:
			_ = m.MkdirAll(pick(dirs), 0o755)
		case 1:
			if h, err := m.OpenFile(f, os.O_RDWR|os.O_CREATE, 0o644); err == nil {
				open[f] = h
			}
		case 2, 3:
			if h := open[f]; h != nil {
				_, _ = h.WriteAt(bytes.Repeat([]byte{byte('a' + rng.IntN(26))}, rng.IntN(40)), int64(rng.IntN(60)))
			}
		case 4:
			if h := open[f]; h != nil {
				_ = h.Sync()
			}
		case 5:
			_ = m.SyncDir(pick(append(dirs, "/")))
		case 6:
			_ = m.Rename(f, pick(files))
		case 7:
			_ = m.Remove(f)
		case 8:
			if rng.IntN(10) == 0 {
				m.Crash()
				open = map[string]File{}
			}
		}
	}
	m.Crash()
	var out bytes.Buffer
	total := dumpTree(t, m, "", &out)
	if total != m.UsedBytes() {
		t.Fatalf("seed %d: UsedBytes %d, files hold %d", seed, m.UsedBytes(), total)
	}
	return out.String()
}

func TestMemIsDeterministic(t *testing.T) {
	nonEmpty := 0
	for seed := range uint64(20) {
		first := randomWorkload(t, seed)
		if second := randomWorkload(t, seed); first != second {
			t.Fatalf("seed %d differs:\n%s\nthen\n%s", seed, first, second)
		}
		if first != "" {
			nonEmpty++
		}
	}
	if nonEmpty < 10 {
		t.Fatalf("only %d of 20 workloads left anything durable", nonEmpty)
	}
}
