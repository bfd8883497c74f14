package netio

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawSocketCalls: Linux sockets are read and written with raw system calls
// (rawsock.go).
const rawSocketCalls = true

// maxSocketIovecs is how many buffers one writev(2) takes (IOV_MAX).
const maxSocketIovecs = 1024

// rawIovecs is a rawSocket's writev vector, kept between writes.
type rawIovecs struct{ iovs []unix.Iovec }

// clear drops the vector's pointers to the last write's buffers.
func (r *rawIovecs) clear() { clear(r.iovs[:cap(r.iovs)]) }

// readOnce is the RawConn.Read callback: one read(2); false asks the poller
// to wait for the socket (EAGAIN).
func (s *rawSocket) readOnce(fd uintptr) bool {
	for {
		n, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&s.p[0])), uintptr(len(s.p)))
		switch errno {
		case 0:
			s.n = int(n)
			return true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		s.errno = errno
		return true
	}
}

// writeOnce is the RawConn.Write callback: writev(2) until every buffer is
// written (true), the socket buffer is full (false: the poller waits) or a
// call fails (true, with the error).
func (s *rawSocket) writeOnce(fd uintptr) bool {
	for s.next < len(s.bufs) {
		iovs := s.scratch.iovs[:0]
		for i := s.next; i < len(s.bufs) && len(iovs) < maxSocketIovecs; i++ {
			b := s.bufs[i]
			if i == s.next {
				b = b[s.skip:]
			}
			if len(b) > 0 {
				iov := unix.Iovec{Base: &b[0]}
				iov.SetLen(len(b))
				iovs = append(iovs, iov)
			}
		}
		s.scratch.iovs = iovs
		if len(iovs) == 0 {
			return true
		}
		n, _, errno := unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iovs[0])), uintptr(len(iovs)))
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			s.errno = errno
			return true
		}
		if n == 0 {
			s.short = true
			return true
		}
		s.advance(int(n))
	}
	return true
}

// advance moves past n written bytes.
func (s *rawSocket) advance(n int) {
	s.written += int64(n)
	for n > 0 && s.next < len(s.bufs) {
		left := len(s.bufs[s.next]) - s.skip
		if n < left {
			s.skip += n
			return
		}
		n -= left
		s.next, s.skip = s.next+1, 0
	}
	for s.next < len(s.bufs) && len(s.bufs[s.next]) == s.skip {
		s.next, s.skip = s.next+1, 0 // empty buffers
	}
}
