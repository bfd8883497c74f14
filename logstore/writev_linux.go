package logstore

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"gregor/logstore/vfs"
)

// maxIovecs is how many buffers one pwritev(2) takes (Linux's IOV_MAX).
const maxIovecs = 1024

// iovecScratch is an appender's pwritev(2) vector, kept between appends so
// that a write of many batches (every follower append) allocates nothing.
// Its entries are cleared after each call: it keeps no buffer alive.
//
// It also keeps what a write costs no allocation for: the raw connection
// of the file it last wrote (os.File.SyscallConn allocates one a call), and
// the write under way in call, which control (bound once) carries out
// inside RawConn.Control, where a closure over the call's arguments was two
// allocations a write.
type iovecScratch struct {
	iovs []unix.Iovec

	file    *os.File
	raw     syscall.RawConn
	call    vectoredCall
	control func(fd uintptr)
}

// vectoredCall is the arguments and result of the write under way.
type vectoredCall struct {
	bufs  [][]byte
	off   int64
	slots *RawWriteSlots
	err   error
}

// writeVectored writes bufs back to back at off in f with pwritev(2), one
// system call for many batches where WriteAt makes one per batch (a
// follower's append of a fetched response holds as many batches as the
// producers sent: small batches cost a call each). handled is false when f
// is not backed by an *os.File (nothing was written; the caller writes
// each buffer with WriteAt). A short write is continued; an error reports
// how far the write got in the message, and the caller truncates back.
// scratch is the appender's vector; the write is a raw system call when
// slots has one free (RawWriteSlots).
func writeVectored(f vfs.File, bufs [][]byte, off int64, scratch *iovecScratch, slots *RawWriteSlots) (handled bool, err error) {
	osf, isOS := f.(vfs.OSFiler)
	if !isOS {
		return false, nil
	}
	if file := osf.OSFile(); file != scratch.file {
		raw, err := file.SyscallConn()
		if err != nil {
			return false, nil
		}
		scratch.file, scratch.raw = file, raw
	}
	if scratch.control == nil {
		scratch.control = scratch.write
	}
	scratch.call = vectoredCall{bufs: bufs, off: off, slots: slots}
	cerr := scratch.raw.Control(scratch.control)
	werr := scratch.call.err
	scratch.call = vectoredCall{} // keeps no buffer alive
	if cerr != nil {
		return true, cerr
	}
	return true, werr
}

// write carries out s.call on fd, through a raw system call when its
// slots have one free (RawWriteSlots).
func (s *iovecScratch) write(fd uintptr) {
	c := &s.call
	var n int64
	for _, b := range c.bufs {
		n += int64(len(b))
	}
	rawCall := c.slots.take(n)
	c.err = s.pwritevAll(int(fd), c.bufs, c.off, rawCall)
	if rawCall {
		c.slots.give()
	}
}

// pwritevAll writes every byte of bufs at off, continuing short writes,
// through RawSyscall when rawCall (RawWriteSlots). bufs is left as it
// is.
func (s *iovecScratch) pwritevAll(fd int, bufs [][]byte, off int64, rawCall bool) error {
	next, skip := 0, 0 // the first buffer not fully written, and how much of it is
	for next < len(bufs) {
		iovs := s.iovs[:0]
		for i := next; i < len(bufs) && len(iovs) < maxIovecs; i++ {
			b := bufs[i]
			if i == next {
				b = b[skip:]
			}
			if len(b) > 0 {
				iov := unix.Iovec{Base: &b[0]}
				iov.SetLen(len(b))
				iovs = append(iovs, iov)
			}
		}
		s.iovs = iovs
		if len(iovs) == 0 {
			return nil
		}
		n, err := pwritev(fd, iovs, off, rawCall)
		clear(iovs)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("pwritev at %d: %w", off, io.ErrShortWrite)
		}
		off += int64(n)
		for n > 0 && next < len(bufs) {
			left := len(bufs[next]) - skip
			if n < left {
				skip += n
				break
			}
			n -= left
			next, skip = next+1, 0
		}
	}
	return nil
}

// pwritev is pwritev(2) of iovs at off (unix.Pwritev allocates its vector
// on every call), through RawSyscall6 when rawCall.
func pwritev(fd int, iovs []unix.Iovec, off int64, rawCall bool) (int, error) {
	lo, hi := uintptr(off), uintptr(uint64(off)>>(bits.UintSize-1)>>1)
	call := unix.Syscall6
	if rawCall {
		call = unix.RawSyscall6
	}
	n, _, errno := call(unix.SYS_PWRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iovs[0])), uintptr(len(iovs)), lo, hi, 0)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}
