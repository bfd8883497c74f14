//go:build !race

package netio

import (
	"net"
	"syscall"
	"testing"
)

// A rawReader's read allocates nothing (a closure over its buffer and
// result was two allocations a read). Without the race detector only:
// with it, reads go through syscall.Read (rawio_race.go).
func TestRawReaderReadAllocatesNothing(t *testing.T) {
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
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	defer server.Close()
	rc, err := server.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	const runs = 100
	if _, err := client.Write(make([]byte, runs+1)); err != nil {
		t.Fatal(err)
	}
	r := newRawReader(rc)
	buf := make([]byte, 1)
	read := func() {
		if n, err := r.Read(buf); n != 1 || err != nil {
			t.Fatalf("Read = %d, %v", n, err)
		}
	}
	if n := testing.AllocsPerRun(runs, read); n != 0 {
		t.Errorf("%v allocations a read, want 0", n)
	}
}
