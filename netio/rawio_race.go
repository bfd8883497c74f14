//go:build race

package netio

import (
	"errors"
	"syscall"
)

// sysRead and sysWrite are read(2) and write(2) through package syscall,
// which tells the race detector what the kernel wrote and read (rawio.go).
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), p)
	return max(n, 0), errnoOf(err)
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), p)
	return max(n, 0), errnoOf(err)
}

// sysWritev writes bufs one write(2) at a time through package syscall
// (which tells the race detector what the kernel read), stopping at the
// first that the socket does not take whole; vec is unused.
func sysWritev(fd uintptr, bufs [][]byte, _ *[]syscall.Iovec) (int, syscall.Errno) {
	total := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		n, e := sysWrite(fd, b)
		total += n
		if e != 0 {
			if total > 0 {
				return total, 0
			}
			return 0, e
		}
		if n < len(b) {
			break
		}
	}
	return total, 0
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}
