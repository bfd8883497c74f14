package netio

import (
	"io"
	"os"
	"syscall"
)

// Socket system calls without the Go scheduler's syscall bookkeeping. A
// read or write of a non-blocking socket never blocks: it copies what
// the socket holds or takes and returns, or fails with EAGAIN, and
// then the poller waits (syscall.RawConn). Made through syscall.Syscall
// (net.Conn's Read, syscall.Write), each tells the scheduler it may
// block, and the first one a process makes after all its threads went
// idle wakes the runtime's monitor thread (sysmon), which then polls
// every 20 µs for as long as any thread is busy. A broker's replication
// rounds are short bursts of work, most begun by a socket read: on three
// nodes under transactions those polls were 60% of the brokers' context
// switches and 16% of their CPU. Through RawSyscall the socket's reads
// and writes leave the monitor asleep; a burst that writes the log (a
// pwrite, which may block) still wakes it (switches per transaction
// 83 before, 69 after). Under the race detector the calls go through
// syscall.Read and syscall.Write, which tell it what the kernel wrote
// and read.
//
// The writer goroutine's writes (frameWriter's write and writev, a
// follower's Fetch answers among them) stay through syscall.Syscall.
// Made raw too (rawWritev: raw writev, the poller's wait on EAGAIN), the
// three brokers' context switches per record at replication factor 3
// (1 KiB records) fell 5-12%, but their CPU per record moved only within
// the noise (-12% to +4% over three interleaved A/Bs), and a single
// node's CPU per record rose 2-8% in all four 1 KiB produce cells
// compared: not kept. Sysmon's polls are also what retakes a processor
// from a thread blocked in a long pwrite.

// rawReader reads a socket with raw read system calls: net.Conn.Read
// without the scheduler's bookkeeping. It is one reader's (a connection's
// reader goroutine): its fields carry a read's buffer and result into
// readFD, which fn holds bound once, so a read allocates nothing (a
// closure over them was two allocations a read).
type rawReader struct {
	rc    syscall.RawConn
	p     []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// newRawReader reads the socket rc.
func newRawReader(rc syscall.RawConn) *rawReader {
	r := &rawReader{rc: rc}
	r.fn = r.readFD
	return r
}

// Read reads into p what the socket holds, waiting (through the poller,
// under the connection's read deadline) when it holds nothing.
func (r *rawReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.p, r.n, r.errno = p, 0, 0
	err := r.rc.Read(r.fn)
	n, errno := r.n, r.errno
	r.p = nil
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readFD is one attempt of Read on fd: false (wait for the poller) when
// the socket holds nothing yet.
func (r *rawReader) readFD(fd uintptr) bool {
	for {
		n, e := sysRead(fd, r.p)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.n, r.errno = n, e
		return true
	}
}

// rawWrite writes p to the non-blocking socket fd with one raw write
// system call and reports how much it took (0 when it took nothing or
// failed: the caller leaves the rest to a writer that waits).
func rawWrite(fd uintptr, p []byte) int {
	if len(p) == 0 {
		return 0
	}
	for {
		r, e := sysWrite(fd, p)
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return 0
		}
		return r
	}
}

// maxIovecs bounds the buffers of one writev (Linux's IOV_MAX is 1024).
const maxIovecs = 1024

// rawWritev writes bufs to the non-blocking socket fd with one raw writev
// system call (the first maxIovecs of them; vec is the caller's scratch
// vector) and reports how much it took (0 when it took nothing or failed,
// as rawWrite).
func rawWritev(fd uintptr, bufs [][]byte, vec *[]syscall.Iovec) int {
	for {
		r, e := sysWritev(fd, bufs, vec)
		switch {
		case e == syscall.EINTR:
			continue
		case e != 0:
			return 0
		}
		return r
	}
}

// rawWriter makes one non-blocking raw write (or writev) of a socket
// through its RawConn: the inline writes of whoever holds the connection's
// writing (one goroutine at a time). As rawReader, its fields carry a
// write's buffers and result into writeFD, which fn holds bound once, so a
// write allocates nothing (a closure over them was two allocations a
// write: one per Produce answer written inline, and one per follower Fetch
// answer).
type rawWriter struct {
	rc   syscall.RawConn
	p    []byte
	bufs [][]byte
	vec  *[]syscall.Iovec
	n    int
	fn   func(fd uintptr) bool
}

// newRawWriter writes the socket rc; nil for none.
func newRawWriter(rc syscall.RawConn) *rawWriter {
	if rc == nil {
		return nil
	}
	w := &rawWriter{rc: rc}
	w.fn = w.writeFD
	return w
}

// write makes one attempt at writing p and reports how much the socket
// took (0 on any error: a deadline that passed, a closed socket; the
// caller leaves the rest to a writer that waits).
func (w *rawWriter) write(p []byte) int {
	w.p, w.n = p, 0
	_ = w.rc.Write(w.fn)
	w.p = nil
	return w.n
}

// writev makes one attempt at writing bufs with one writev (vec the
// caller's scratch vector), as write.
func (w *rawWriter) writev(bufs [][]byte, vec *[]syscall.Iovec) int {
	w.bufs, w.vec, w.n = bufs, vec, 0
	_ = w.rc.Write(w.fn)
	w.bufs, w.vec = nil, nil
	return w.n
}

// writeFD is the one attempt of write or writev on fd: never a wait for
// the socket.
func (w *rawWriter) writeFD(fd uintptr) bool {
	if w.vec != nil {
		w.n = rawWritev(fd, w.bufs, w.vec)
	} else {
		w.n = rawWrite(fd, w.p)
	}
	return true
}
