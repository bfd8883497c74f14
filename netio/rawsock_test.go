package netio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair is a connected loopback TCP pair.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// A raw socket writes every byte of many buffers through a socket whose
// buffer fills (the writer waits in the poller and goes on where writev
// stopped), and reads them back in order; a closed peer reads as io.EOF.
func TestRawSocketWritesAndReadsEveryByte(t *testing.T) {
	a, b := tcpPair(t)
	w, r := newRawSocket(a), newRawSocket(b)
	if w.rc == nil && rawSocketCalls {
		t.Fatal("a TCP connection is not written with raw calls")
	}
	var bufs [][]byte
	for i := range 3000 {
		bufs = append(bufs, bytes.Repeat([]byte{byte(i)}, i%4000)) // empty ones too
	}
	want := bytes.Join(bufs, nil)
	wrote := make(chan error, 1)
	go func() {
		n, err := w.WriteBuffers(bufs)
		if err == nil && n != int64(len(want)) {
			err = io.ErrShortWrite
		}
		if err == nil {
			_, err = w.Write([]byte("tail"))
		}
		_ = a.Close()
		wrote <- err
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(want, "tail"...)) {
		t.Fatalf("read %d bytes, want %d", len(got), len(want)+4)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("read after the peer closed: %d, %v; want io.EOF", n, err)
	}
}

// A raw socket's read honours the connection's deadline (a timeout error,
// as net.Conn's), and a read or write of a closed connection fails with
// net.ErrClosed.
func TestRawSocketDeadlineAndClose(t *testing.T) {
	a, _ := tcpPair(t)
	s := newRawSocket(a)
	_ = a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := s.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	_ = a.Close()
	if _, err := s.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read of a closed connection: %v", err)
	}
	if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write of a closed connection: %v", err)
	}
}

// A connection that is not a socket goes through its own methods.
func TestRawSocketOverAPipe(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w, r := newRawSocket(a), newRawSocket(b)
	if w.rc != nil {
		t.Fatal("a pipe has raw calls")
	}
	go func() { _, _ = w.WriteBuffers([][]byte{[]byte("ab"), []byte("cd")}) }()
	got := make([]byte, 4)
	if _, err := io.ReadFull(r, got); err != nil || string(got) != "abcd" {
		t.Fatalf("read %q, %v", got, err)
	}
}
