package logstore

import (
	"errors"

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
	osf, ok := f.(vfs.OSFiler)
	if !ok {
		return false
	}
	raw, err := osf.OSFile().SyscallConn()
	if err != nil {
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
	osf, ok := f.(vfs.OSFiler)
	if !ok {
		return false, nil
	}
	raw, err := osf.OSFile().SyscallConn()
	if err != nil {
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
