package logstore

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"

	"gregor/logstore/vfs"
)

// Filesystem magic numbers (statfs(2)) of the filesystems the store
// preallocates on by default.
const (
	ext4SuperMagic = 0xef53 // ext2, ext3 and ext4 share it
	xfsSuperMagic  = 0x58465342
)

// preallocates says f is an OS file on ext4 or xfs, where preallocation
// pays by default (prealloc.go).
func preallocates(f vfs.File) bool {
	raw, ok := rawConnOf(f)
	if !ok {
		return false
	}
	var st unix.Statfs_t
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.Fstatfs(int(fd), &st) }); err != nil || serr != nil {
		return false
	}
	return st.Type == ext4SuperMagic || st.Type == xfsSuperMagic
}

// fallocateKeepSize reserves n bytes of f's blocks from off without
// changing its size (fallocate(2), FALLOC_FL_KEEP_SIZE). supported is false
// when f is not an OS file or its filesystem cannot.
func fallocateKeepSize(f vfs.File, off, n int64) (supported bool, err error) {
	raw, ok := rawConnOf(f)
	if !ok {
		return false, nil
	}
	var ferr error
	if cerr := raw.Control(func(fd uintptr) {
		for {
			ferr = unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, off, n)
			if !errors.Is(ferr, unix.EINTR) {
				return
			}
		}
	}); cerr != nil {
		return true, cerr
	}
	if errors.Is(ferr, unix.EOPNOTSUPP) || errors.Is(ferr, unix.ENOSYS) {
		return false, nil
	}
	return true, ferr
}

// rawConnOf is f's file descriptor for system calls the vfs does not make;
// ok is false when f is not backed by an *os.File.
func rawConnOf(f vfs.File) (raw syscall.RawConn, ok bool) {
	osf, isOS := f.(vfs.OSFiler)
	if !isOS {
		return nil, false
	}
	raw, err := osf.OSFile().SyscallConn()
	return raw, err == nil
}
