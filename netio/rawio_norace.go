//go:build !race

package netio

import (
	"syscall"
	"unsafe"
)

// sysRead and sysWrite are read(2) and write(2) of a non-empty p without
// the scheduler's syscall bookkeeping (rawio.go).
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// sysWritev is writev(2) of the first maxIovecs non-empty buffers of bufs,
// through vec, without the scheduler's syscall bookkeeping.
func sysWritev(fd uintptr, bufs [][]byte, vec *[]syscall.Iovec) (int, syscall.Errno) {
	v := (*vec)[:0]
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		if len(v) == maxIovecs {
			break
		}
		iov := syscall.Iovec{Base: &b[0]}
		iov.SetLen(len(b))
		v = append(v, iov)
	}
	*vec = v
	if len(v) == 0 {
		return 0, 0
	}
	r, _, e := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	clear(v) // the buffers go back with their response
	return int(r), e
}
