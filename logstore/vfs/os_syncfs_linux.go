package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// SyncFS implements FSSyncer with syncfs(2).
func (osFS) SyncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = unix.Syncfs(int(d.Fd()))
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

var _ FSSyncer = osFS{}
