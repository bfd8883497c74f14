package netio

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestRawReadAsConnRead: a rawReader reads what the peer wrote, waits for data
// when there is none, reports the connection's read deadline as a
// timeout, and the peer's close as io.EOF; rawWrite writes what the socket
// takes.
func TestRawReadAsConnRead(t *testing.T) {
	client, server, rc := rawConnPair(t)

	buf := make([]byte, 16)
	type result struct {
		n   int
		err error
	}
	read := make(chan result, 1)
	go func() {
		n, err := newRawReader(rc).Read(buf)
		read <- result{n, err}
	}()
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if r := <-read; r.err != nil || string(buf[:r.n]) != "hello" {
		t.Fatalf("Read = %q, %v; want hello", buf[:r.n], r.err)
	}

	if err := server.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var ne net.Error
	if _, err := newRawReader(rc).Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Read past the deadline: %v, want a timeout", err)
	}
	if err := server.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}

	var wrote int
	if err := rc.Write(func(fd uintptr) bool { wrote = rawWrite(fd, []byte("back")); return true }); err != nil || wrote != 4 {
		t.Fatalf("rawWrite wrote %d (%v), want 4", wrote, err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "back" {
		t.Fatalf("peer read %q, %v", got, err)
	}

	client.Close()
	if _, err := newRawReader(rc).Read(buf); err != io.EOF {
		t.Fatalf("Read after the peer closed: %v, want io.EOF", err)
	}
}

// rawConnPair connects a client to a server over loopback TCP, both closed
// when the test ends, and gives the server side's raw connection.
func rawConnPair(t *testing.T) (client, server net.Conn, rc syscall.RawConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close() })
	rc, err = server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return client, server, rc
}
