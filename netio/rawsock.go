package netio

import (
	"io"
	"net"
	"os"
	"syscall"
)

// Socket reads and writes without the runtime's system call hand-off.
//
// A Go program's socket read or write is a blocking system call to the
// runtime (syscall.Syscall): its thread leaves its P, and sysmon hands the
// P to another thread when the call outlasts a sysmon tick (20 us and up).
// On a loopback socket a write also delivers to the peer and wakes it, and a
// read or write of a fetched megabyte copies it: on a virtual machine either
// outlasts that tick often. Each hand-off wakes a thread, and sets sysmon
// back to waking every 20 us for the next millisecond and more; on the
// three-node replication benchmark those wake-ups and sysmon's own were
// about a quarter of the brokers' CPU. But the sockets are non-blocking
// (the runtime's poller waits for them): a read or write never sleeps in
// the kernel, it copies what the socket buffer takes or holds and returns
// (EAGAIN when nothing). Such a call can go as a raw system call, which
// keeps its P, and wait in the poller when it would block, through
// syscall.RawConn. rawSocket does that for one direction of a connection;
// connections that are not sockets (net.Pipe in tests, TLS) go through
// their own Read and Write.

// rawSocket reads or writes a non-blocking socket with raw system calls
// (rawsock_linux.go). One goroutine uses it at a time: a connection has one
// for its reader and one for its writer. Its callbacks are bound once so
// that a call allocates nothing.
type rawSocket struct {
	nc net.Conn
	rc syscall.RawConn // nil: nc's own Read and Write
	// The call in progress: its buffers and outcome.
	p       []byte
	bufs    [][]byte
	n       int
	written int64
	// next and skip: the first buffer not fully written, and how much of
	// it is.
	next, skip int
	// short: a writev took no byte of a non-empty vector.
	short   bool
	errno   syscall.Errno
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
	scratch rawIovecs
}

// newRawSocket wraps nc; a conn without a file descriptor, or on a
// platform without raw socket calls, is used through its own methods.
func newRawSocket(nc net.Conn) *rawSocket {
	s := &rawSocket{nc: nc}
	if sc, ok := nc.(syscall.Conn); ok && rawSocketCalls {
		if rc, err := sc.SyscallConn(); err == nil {
			s.rc = rc
		}
	}
	s.readFn, s.writeFn = s.readOnce, s.writeOnce
	return s
}

// Read reads into p as net.Conn.Read does: n > 0, or an error (io.EOF at
// the end of the stream).
func (s *rawSocket) Read(p []byte) (int, error) {
	if s.rc == nil {
		return s.nc.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	s.p, s.n, s.errno = p, 0, 0
	err := s.rc.Read(s.readFn)
	s.p = nil
	switch {
	case err != nil: // a deadline, or the connection closed
		return 0, err
	case s.errno != 0:
		return 0, s.opError("read", s.errno)
	case s.n == 0:
		return 0, io.EOF
	}
	return s.n, nil
}

// Write writes all of p as net.Conn.Write does.
func (s *rawSocket) Write(p []byte) (int, error) {
	if s.rc == nil {
		return s.nc.Write(p)
	}
	one := [1][]byte{p}
	n, err := s.WriteBuffers(one[:])
	return int(n), err
}

// WriteBuffers writes every byte of bufs, in one writev where the socket
// takes them, as net.Buffers.WriteTo does; bufs is left as it is.
func (s *rawSocket) WriteBuffers(bufs [][]byte) (int64, error) {
	if s.rc == nil {
		v := net.Buffers(bufs)
		return v.WriteTo(s.nc)
	}
	s.bufs, s.written, s.errno, s.next, s.skip, s.short = bufs, 0, 0, 0, 0, false
	err := s.rc.Write(s.writeFn)
	s.bufs = nil
	s.scratch.clear()
	switch {
	case err != nil:
	case s.errno != 0:
		err = s.opError("write", s.errno)
	case s.short:
		err = io.ErrShortWrite
	}
	return s.written, err
}

// opError wraps a system call's error as net.Conn's methods do.
func (s *rawSocket) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: s.nc.LocalAddr().Network(), Source: s.nc.LocalAddr(), Addr: s.nc.RemoteAddr(),
		Err: os.NewSyscallError(op, errno)}
}
