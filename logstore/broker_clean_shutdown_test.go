package logstore

import (
	"path"
	"syscall"
	"testing"

	"gregor/logstore/vfs"
)

// TestBrokerShutdownMarker: a clean shutdown's marker gives its epoch on any
// boot, a running process's only on the same boot; none, or a damaged one,
// gives nil; taking it over leaves this boot's running marker in its place
// (durably), or removes it durably when it does not count.
func TestBrokerShutdownMarker(t *testing.T) {
	const dir = "/data"
	epoch := func(p *int64) int64 {
		if p == nil {
			return -1
		}
		return *p
	}
	for _, c := range []struct {
		name  string
		write func(fsys vfs.FS) error
		boot  string
		want  int64
	}{
		{"none", func(vfs.FS) error { return nil }, "b1", -1},
		{"clean", func(fsys vfs.FS) error { return WriteBrokerCleanShutdown(fsys, dir, 7) }, "b2", 7},
		{"running, same boot", func(fsys vfs.FS) error { return WriteBrokerRunning(fsys, dir, 8, "b1") }, "b1", 8},
		{"running, another boot", func(fsys vfs.FS) error { return WriteBrokerRunning(fsys, dir, 8, "b1") }, "b2", -1},
		{"running, boot unknown now", func(fsys vfs.FS) error { return WriteBrokerRunning(fsys, dir, 8, "b1") }, "", -1},
		{"running without a boot id", func(fsys vfs.FS) error { return WriteBrokerRunning(fsys, dir, 8, "") }, "", -1},
		{"damaged", func(fsys vfs.FS) error {
			return vfs.WriteFileAtomic(fsys, path.Join(dir, BrokerShutdownFile), []byte(`{"version":0,"brokerEpoch":`))
		}, "b1", -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := vfs.NewMem()
			if err := fsys.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := fsys.SyncDir("/"); err != nil {
				t.Fatal(err)
			}
			if err := c.write(fsys); err != nil {
				t.Fatal(err)
			}
			fsys.Crash() // what was written is durable
			got, err := TakeBrokerShutdown(fsys, dir, c.boot)
			if err != nil || epoch(got) != c.want {
				t.Fatalf("took %d, %v; want %d", epoch(got), err, c.want)
			}
			fsys.Crash() // so is what took its place
			again, err := TakeBrokerShutdown(fsys, dir, c.boot)
			if want := map[bool]int64{true: c.want, false: -1}[c.boot != ""]; err != nil || epoch(again) != want {
				t.Fatalf("took again on the same boot: %d, %v; want %d", epoch(again), err, want)
			}
			if other, err := TakeBrokerShutdown(fsys, dir, "another"); err != nil || other != nil {
				t.Fatalf("took on another boot: %d, %v", epoch(other), err)
			}
		})
	}
}

// TestBrokerShutdownMarkerKeptWhenTakeOverFails: a start whose disk fails
// while it writes its running marker leaves the clean marker as it was, so
// the next start (after the disk recovered) still registers as clean.
func TestBrokerShutdownMarkerKeptWhenTakeOverFails(t *testing.T) {
	const dir = "/data"
	fsys := memWithCleanMarker(t, dir, 7)
	fsys.SetErrorHook(func(op vfs.Op, _ string) error {
		if op == vfs.OpSync {
			return syscall.EIO
		}
		return nil
	})
	if got, err := TakeBrokerShutdown(fsys, dir, "b1"); err == nil {
		t.Fatalf("took %v with a failing disk; want an error", got)
	}
	fsys.SetErrorHook(nil)
	fsys.Crash()
	if got, err := TakeBrokerShutdown(fsys, dir, "b1"); err != nil || got == nil || *got != 7 {
		t.Fatalf("took %v, %v after the failed start; want 7", got, err)
	}
}

// TestBrokerShutdownMarkerKeptWhenReadFails: a start whose disk fails to
// read the clean marker (EIO on its open, size or read) fails and leaves the
// marker as it was, so the next start (after the disk recovered) still
// registers as clean (sim seed 177092: the marker, removed as unreadable,
// made an intact replica unclean, and the controller elected one that had
// lost power from the last known ELR).
func TestBrokerShutdownMarkerKeptWhenReadFails(t *testing.T) {
	const dir = "/data"
	for _, failing := range []vfs.Op{vfs.OpOpen, vfs.OpSize, vfs.OpReadAt} {
		t.Run(string(failing), func(t *testing.T) {
			fsys := memWithCleanMarker(t, dir, 7)
			fsys.SetErrorHook(func(op vfs.Op, _ string) error {
				if op == failing {
					return syscall.EIO
				}
				return nil
			})
			if got, err := TakeBrokerShutdown(fsys, dir, "b1"); err == nil {
				t.Fatalf("took %v with a disk failing %s; want an error", got, failing)
			}
			fsys.SetErrorHook(nil)
			fsys.Crash()
			if got, err := TakeBrokerShutdown(fsys, dir, "b1"); err != nil || got == nil || *got != 7 {
				t.Fatalf("took %v, %v after the failed start; want 7", got, err)
			}
		})
	}
}

// memWithCleanMarker is a memory file system whose directory dir holds,
// durably, the clean shutdown marker of broker epoch epoch.
func memWithCleanMarker(t *testing.T, dir string, epoch int64) *vfs.Mem {
	t.Helper()
	fsys := vfs.NewMem()
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fsys.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	if err := WriteBrokerCleanShutdown(fsys, dir, epoch); err != nil {
		t.Fatal(err)
	}
	return fsys
}
