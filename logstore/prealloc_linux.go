package logstore

import (
	"errors"

	"golang.org/x/sys/unix"

	"gregor/logstore/vfs"
)

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
