package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"
)

const (
	atomicOld = "old checkpoint content"
	atomicNew = "new, longer checkpoint content that must never mix with the old"
)

type replaceFunc func(fsys FS, name string, data []byte) error

// checkCrashAtEveryOp crashes (optionally tearing writes) after each
// operation of replace in turn and reports the first crash point after which
// the file holds neither the old nor the new content, or is old although
// replace returned nil. It returns how many crash points it tried.
func checkCrashAtEveryOp(t *testing.T, replace replaceFunc, tornSeed uint64) (int, error) {
	t.Helper()
	const maxOps = 100
	for n := range int64(maxOps) {
		var opts []MemOption
		if tornSeed > 0 {
			opts = append(opts, WithTornWrites(tornSeed+uint64(n)))
		}
		m := memWithDir(t, opts...)
		writeDurable(t, m, "/d/cp", atomicOld)
		before := m.OpCount()
		m.CrashAfterOps(n)
		err := replace(m, "/d/cp", []byte(atomicNew))
		used := m.OpCount() - before
		m.Crash()
		got, rerr := readFile(m, "/d/cp")
		switch {
		case rerr != nil:
			return int(n), fmt.Errorf("crash after op %d: read: %w", n, rerr)
		case got != atomicOld && got != atomicNew:
			return int(n), fmt.Errorf("crash after op %d: content %q is neither old nor new", n, got)
		case err == nil && got != atomicNew:
			return int(n), fmt.Errorf("crash after op %d: replace returned nil but content is old", n)
		}
		if used < n {
			// replace finished within the budget: every crash point is covered.
			return int(n), nil
		}
	}
	t.Fatalf("replace did not finish within %d ops", maxOps)
	return 0, nil
}

func readFile(fsys FS, name string) (string, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return "", err
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, 0); err != nil && size > 0 {
		return "", err
	}
	return string(buf), nil
}

func TestWriteFileAtomicSurvivesCrashAtEveryOp(t *testing.T) {
	for _, seed := range []uint64{0, 1, 1000, 77777} {
		tried, err := checkCrashAtEveryOp(t, WriteFileAtomic, seed)
		if err != nil {
			t.Fatalf("torn seed %d: %v", seed, err)
		}
		if tried < 6 {
			t.Fatalf("only %d crash points tried", tried)
		}
	}
}

// The crash test must be able to fail: a plain overwrite, even synced, leaves
// a mixed file at some crash point when the disk tears writes, and skipping the directory
// sync loses a write that was reported done.
func TestCrashCheckCatchesUnsafeReplacements(t *testing.T) {
	overwrite := func(fsys FS, name string, data []byte) error {
		f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		return f.Close()
	}
	noDirSync := func(fsys FS, name string, data []byte) error {
		f, err := fsys.OpenFile(name+".tmp", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return fsys.Rename(name+".tmp", name)
	}
	for _, c := range []struct {
		name    string
		replace replaceFunc
	}{{"overwrite", overwrite}, {"no-dir-sync", noDirSync}} {
		if _, err := checkCrashAtEveryOp(t, c.replace, 1); err == nil {
			t.Errorf("%s: the crash check found nothing wrong", c.name)
		} else {
			t.Logf("%s: caught as expected: %v", c.name, err)
		}
	}
}

// An I/O error at any single op leaves the old or the new content, before and
// after a crash, and never reports success with the old content.
func TestWriteFileAtomicSurvivesEIOAtEveryOp(t *testing.T) {
	for failAt := int64(1); ; failAt++ {
		m := memWithDir(t)
		writeDurable(t, m, "/d/cp", atomicOld)
		var ops int64
		m.SetErrorHook(func(op Op, path string) error {
			ops++
			if ops == failAt {
				return syscall.EIO
			}
			return nil
		})
		err := WriteFileAtomic(m, "/d/cp", []byte(atomicNew))
		m.SetErrorHook(nil)
		if err != nil && !errors.Is(err, syscall.EIO) {
			t.Fatalf("fail at %d: error %v does not wrap EIO", failAt, err)
		}
		for _, phase := range []string{"before crash", "after crash"} {
			got, rerr := readFile(m, "/d/cp")
			if rerr != nil || (got != atomicOld && got != atomicNew) || (err == nil && got != atomicNew) {
				t.Fatalf("fail at op %d, %s: content %q, read error %v, replace error %v", failAt, phase, got, rerr, err)
			}
			m.Crash()
		}
		if err == nil {
			if failAt < 6 {
				t.Fatalf("the hook failed no op before %d", failAt)
			}
			return // failAt went past the last op
		}
	}
}

func TestWriteFileAtomicCreatesMissingFile(t *testing.T) {
	m := memWithDir(t)
	if err := WriteFileAtomic(m, "/d/fresh", []byte("x")); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	wantContent(t, m, "/d/fresh", "x")
	if _, err := m.Stat("/d/fresh" + TempSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temp file left: %v", err)
	}
}
