package logstore

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fdatasync flushes f's data and the metadata needed to read it back (its
// size), skipping timestamps.
func fdatasync(f *os.File) error {
	sc, err := f.SyscallConn()
	if err != nil {
		return f.Sync()
	}
	var syncErr error
	if err := sc.Control(func(fd uintptr) {
		for {
			syncErr = unix.Fdatasync(int(fd))
			if !errors.Is(syncErr, unix.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return syncErr
}
