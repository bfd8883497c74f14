package netio

import (
	"net"
	"syscall"
	"testing"

	"go.uber.org/zap"
)

// socketBuffer reads a socket option of c's socket.
func socketBuffer(t *testing.T, c *net.TCPConn, opt int) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt) }); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// acceptedPair returns the accepted end of a loopback connection.
func acceptedPair(t *testing.T) *net.TCPConn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	dialed, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dialed.Close() })
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc.(*net.TCPConn)
}

// TestAcceptedConnectionsGetConfiguredBuffers checks socket.send.buffer.bytes
// and socket.receive.buffer.bytes reach SO_SNDBUF and SO_RCVBUF (Linux keeps
// twice the value set), and that zero leaves the OS's buffers.
func TestAcceptedConnectionsGetConfiguredBuffers(t *testing.T) {
	const sndbuf, rcvbuf = 48 << 10, 40 << 10
	s := &Server{cfg: Config{SendBufferBytes: sndbuf, ReceiveBufferBytes: rcvbuf}, log: zap.NewNop()}
	c := acceptedPair(t)
	s.sizeBuffers(c)
	if got := socketBuffer(t, c, syscall.SO_SNDBUF); got != 2*sndbuf {
		t.Errorf("SO_SNDBUF %d, want %d", got, 2*sndbuf)
	}
	if got := socketBuffer(t, c, syscall.SO_RCVBUF); got != 2*rcvbuf {
		t.Errorf("SO_RCVBUF %d, want %d", got, 2*rcvbuf)
	}

	plain := acceptedPair(t)
	before := socketBuffer(t, plain, syscall.SO_RCVBUF)
	(&Server{log: zap.NewNop()}).sizeBuffers(plain)
	if got := socketBuffer(t, plain, syscall.SO_RCVBUF); got != before {
		t.Errorf("SO_RCVBUF %d after no setting, want the OS's %d", got, before)
	}
}
