package logstore

import (
	"errors"
	"io"
	"syscall"

	"golang.org/x/sys/unix"

	"gregor/logstore/vfs"
)

// maxSendfileBytes bounds one sendfile call (Linux sends at most ~2 GiB).
const maxSendfileBytes = 1 << 30

// sendFileSection sends n bytes of f at pos to w with sendfile(2) when f is an
// *os.File and w a socket. handled is false when sendfile does not apply
// (nothing was written; the caller copies instead).
func sendFileSection(w io.Writer, f vfs.File, pos, n int64) (written int64, handled bool, err error) {
	osf, ok := f.(vfs.OSFiler)
	if !ok {
		return 0, false, nil
	}
	dst, ok := w.(syscall.Conn)
	if !ok {
		return 0, false, nil
	}
	dstRaw, err := dst.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	srcRaw, err := osf.OSFile().SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var sendErr error
	ctlErr := srcRaw.Control(func(srcFd uintptr) {
		writeErr := dstRaw.Write(func(dstFd uintptr) bool {
			for written < n {
				off := pos + written
				m, e := unix.Sendfile(int(dstFd), int(srcFd), &off, int(min(n-written, maxSendfileBytes)))
				if m > 0 {
					written += int64(m)
				}
				switch {
				case errors.Is(e, unix.EAGAIN):
					return false // wait until the socket is writable
				case errors.Is(e, unix.EINTR):
					continue
				case e != nil:
					sendErr = e
					return true
				case m == 0:
					sendErr = io.ErrUnexpectedEOF // the file is shorter than the section
					return true
				}
			}
			return true
		})
		if sendErr == nil {
			sendErr = writeErr
		}
	})
	if sendErr == nil {
		sendErr = ctlErr
	}
	if written == 0 && (errors.Is(sendErr, unix.EINVAL) || errors.Is(sendErr, unix.ENOSYS) || errors.Is(sendErr, unix.EOPNOTSUPP)) {
		return 0, false, nil
	}
	return written, true, sendErr
}
