//go:build !race

package netio

import "testing"

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
