package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// logDirLockFile is the file in a log directory that the node serving it
// holds an exclusive lock on, as Kafka's brokers hold ".lock" in each of
// theirs: two processes appending to the same segments would corrupt them.
const logDirLockFile = ".lock"

// lockLogDir takes the log directory dir, the value of key (log.dirs, or
// metadata.log.dir), for this process, creating it if need be, and returns
// the function that gives it back. The lock is an
// flock, so the kernel drops it when the process ends however it ends;
// the file holds the process id only to name the holder in the error.
func lockLogDir(key, dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	path := filepath.Join(dir, logDirLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if p, readErr := os.ReadFile(path); readErr == nil {
			if pid, convErr := strconv.Atoi(strings.TrimSpace(string(p))); convErr == nil && pid > 0 {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s %s is in use by another gregor process%s: stop it, or give this node a log directory of its own (--set %s=DIR)", key, dir, holder, key)
		}
		return nil, fmt.Errorf("%s: lock %s: %w", key, path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { _ = f.Close() }, nil
}
