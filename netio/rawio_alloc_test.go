//go:build !race

package netio

import (
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A rawReader's read allocates nothing (a closure over its buffer and
// result was two allocations a read). Without the race detector only:
// with it, reads go through syscall.Read (rawio_race.go).
func TestRawReaderReadAllocatesNothing(t *testing.T) {
	client, _, rc := rawConnPair(t)
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

// A connection's inline writes allocate nothing: a Produce's answer
// encoded into the frame writer's buffer (tryWrite), and a follower Fetch's
// answer whose body lies in memory (writeSlotVectored, the socket taking
// it whole). A closure over the write's buffers and result was two
// allocations a write, and the answer's release a third.
func TestInlineWritesAllocateNothing(t *testing.T) {
	client, _, rc := rawConnPair(t)
	go func() { _, _ = io.Copy(io.Discard, client) }()
	c := &conn{srv: &Server{pool: newBufferPool(1<<20, true)}, raw: newRawWriter(rc), openedAt: time.Now()}
	fw := &frameWriter{out: make([]byte, 0, 256)}
	answer := []byte("an answer of a few bytes")
	buffered := func() {
		fw.out = append(fw.out, answer...)
		c.tryWrite(fw)
		if fw.buffered() != 0 {
			t.Fatalf("%d bytes left buffered", fw.buffered())
		}
	}
	if n := testing.AllocsPerRun(100, buffered); n != 0 {
		t.Errorf("tryWrite: %v allocations a write, want 0", n)
	}
	enc := &EncodedResponse{Response: kmsg.NewPtrFetchResponse()}
	body := [][]byte{[]byte("records "), []byte("where they lie")}
	slot := &responseSlot{resp: enc, parts: body}
	vectored := func() {
		if err := c.writeSlotVectored(fw, slot); err != nil {
			t.Fatal(err)
		}
		if fw.pending != nil || fw.buffered() != 0 {
			t.Fatalf("%d bytes left pending", fw.pendingBytes)
		}
	}
	if n := testing.AllocsPerRun(100, vectored); n != 0 {
		t.Errorf("writeSlotVectored: %v allocations a write, want 0", n)
	}
}
