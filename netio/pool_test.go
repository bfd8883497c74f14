package netio

import (
	"bytes"
	"fmt"
	"testing"
)

// The size classes: every size gets the smallest class that holds it, and
// every capacity is filed under the largest class it holds.
func TestBufferPoolClasses(t *testing.T) {
	if got := classBytes(numClasses - 1); got != 1<<maxClassShift {
		t.Fatalf("largest class %d bytes, want %d", got, 1<<maxClassShift)
	}
	for i := 0; i < numClasses; i++ {
		size := classBytes(i)
		if i > 0 && size <= classBytes(i-1) {
			t.Fatalf("class %d (%d bytes) not above class %d (%d bytes)", i, size, i-1, classBytes(i-1))
		}
		if classUp(size) != i || classDown(size) != i {
			t.Fatalf("class %d: %d bytes maps up to %d, down to %d", i, size, classUp(size), classDown(size))
		}
		if i > 0 && size-classBytes(i-1) > classBytes(i-1)/4+1 {
			t.Fatalf("class %d (%d bytes) wastes more than a quarter over class %d", i, size, i-1)
		}
	}
	for _, n := range []int{0, 1, 511, 512, 513, 640, 641, 1000, 1024, 1025, 4097, 1<<20 + 100, frameWholeBytes, 100 << 20, 1<<31 - 1} {
		up := classUp(n)
		if classBytes(up) < n || up > 0 && classBytes(up-1) >= n {
			t.Errorf("classUp(%d) = %d (%d bytes)", n, up, classBytes(up))
		}
		down := classDown(n)
		switch {
		case n < 512 && down != -1:
			t.Errorf("classDown(%d) = %d, want -1", n, down)
		case n >= 512 && (classBytes(down) > n || down+1 < numClasses && classBytes(down+1) <= n):
			t.Errorf("classDown(%d) = %d (%d bytes)", n, down, classBytes(down))
		}
	}
	if classUp(frameWholeBytes) != classDown(frameWholeBytes) {
		t.Errorf("a 1.25 MiB frame is not exactly a class")
	}
}

// Released buffers are reused by size class, up to the pool's bound.
func TestBufferPoolReuseAndBound(t *testing.T) {
	p := newBufferPool(3000, false)
	a := p.get(700) // class 768
	if len(a) != 700 || cap(a) != 768 {
		t.Fatalf("get(700): len %d cap %d", len(a), cap(a))
	}
	p.put(a)
	if b := p.get(750); &b[0] != &a[0] {
		t.Fatalf("a released buffer of the class was not reused")
	} else {
		p.put(b)
	}
	if p.tryGet(5000) != nil {
		t.Fatalf("tryGet of an empty class returned a buffer")
	}
	// The bound: 768 kept, 2048 fits (2816), the next 2048 does not.
	p.put(make([]byte, 2048))
	p.put(make([]byte, 2048))
	if st := p.stats(); st.keptBytes != 768+2048 {
		t.Fatalf("kept %d bytes, want %d", st.keptBytes, 768+2048)
	}
	// A capacity between classes is filed under the class below it.
	p2 := newBufferPool(1<<20, false)
	p2.put(make([]byte, 0, 1100)) // class 1024
	if b := p2.tryGet(1024); b == nil || cap(b) != 1100 {
		t.Fatalf("a 1100-byte buffer was not kept in the 1024-byte class")
	}
	// A pool bounded to nothing keeps nothing; a nil pool allocates.
	none := newBufferPool(-1, false)
	none.put(make([]byte, 1024))
	if st := none.stats(); st.keptBytes != 0 {
		t.Fatalf("a pool bounded to nothing kept %d bytes", st.keptBytes)
	}
	var nilPool *bufferPool
	if b := nilPool.get(10); len(b) != 10 {
		t.Fatalf("nil pool get: %d bytes", len(b))
	}
	nilPool.put(make([]byte, 10))
}

// Poisoning: a released buffer reads as poison, a write after release is
// caught when the buffer is handed out again, and a second release panics.
func TestBufferPoolPoison(t *testing.T) {
	p := newBufferPool(1<<20, true)
	b := p.get(1000)
	copy(b, "request bytes")
	p.put(b)
	if !bytes.Equal(b[:13], bytes.Repeat([]byte{poisonByte}, 13)) {
		t.Fatalf("a released buffer still reads %q", b[:13])
	}
	mustPanic(t, "second release", func() { p.put(b) })

	c := p.get(1000)
	if &c[0] != &b[0] {
		t.Fatalf("the released buffer was not reused")
	}
	p.put(c)
	c[3] = 'x' // a write after release
	mustPanic(t, "write after release", func() { p.get(1000) })
}

// A frame reference returns its buffer when the last reference goes, and
// Retain's release functions are each good for one call.
func TestFrameRefCounting(t *testing.T) {
	p := newBufferPool(1<<20, true)
	buf := p.get(600)
	copy(buf, "records")
	f := &frameRef{pool: p, buf: buf}
	f.refs.Store(2)
	req := &Request{frame: f}
	release := req.Retain()
	f.release() // Handle returned
	f.release() // response written
	if string(buf[:7]) != "records" {
		t.Fatalf("the frame was released while retained")
	}
	mustPanic(t, "release while released", func() {
		defer release() // the real release, after the panic below
		release2 := req.Retain()
		release2()
		release2()
	})
	if buf[0] != poisonByte {
		t.Fatalf("the frame was not released after its last reference")
	}
	mustPanic(t, "retain after release", func() { req.Retain() })

	// Without pooling Retain is free and release does nothing.
	plain := &Request{}
	plain.Retain()()
	if b := plain.ResponseBuffer(100); len(b) != 0 || cap(b) < 100 {
		t.Fatalf("ResponseBuffer outside a server: len %d cap %d", len(b), cap(b))
	}
}

// A request whose class has no free buffer takes one of a larger class, up
// to twice its size, before allocating: frame sizes vary continuously, and a
// large frame would otherwise be read in growing buffers and copied along.
// (The classes up to twice the asked class's size are searched.)
func TestBufferPoolTakesLargerClass(t *testing.T) {
	p := newBufferPool(64<<20, false)
	big := p.get(2 << 20)
	p.put(big)
	if b := p.tryGet(1<<20 + 300<<10); b == nil || &b[:1][0] != &big[:1][0] || len(b) != 1<<20+300<<10 {
		t.Fatalf("tryGet did not take the free 2 MiB buffer for a 1.3 MiB frame")
	} else {
		p.put(b)
	}
	if b := p.get(1<<20 + 1); &b[:1][0] != &big[:1][0] {
		t.Fatalf("get did not take the free 2 MiB buffer for a 1 MiB frame")
	} else {
		p.put(b)
	}
	// Not more than twice the class: a 2 MiB buffer stays for larger asks.
	if b := p.tryGet(800 << 10); b != nil {
		t.Fatalf("tryGet took a %d-byte buffer for 800 KiB", cap(b))
	}
	if st := p.stats(); st.keptBytes != 2<<20 {
		t.Fatalf("kept %d bytes, want the 2 MiB buffer", st.keptBytes)
	}
}

// bufferPoolStats are the pool's counters.
type bufferPoolStats struct {
	gets, reuses uint64
	keptBytes    int64
}

// stats reads the pool's counters.
func (p *bufferPool) stats() bufferPoolStats {
	return bufferPoolStats{gets: p.gets.Load(), reuses: p.reuses.Load(), keptBytes: p.keptBytes.Load()}
}

// A Retain of a pooled frame allocates one object, its release function
// (two before: the function and a flag of its own), for each of a frame's
// first 64; every release function, past the 64th too, is good for one
// call.
func TestRetainAllocatesItsReleaseOnly(t *testing.T) {
	p := newBufferPool(1<<20, true)
	f := &frameRef{pool: p, buf: p.get(600)}
	f.refs.Store(1)
	req := &Request{frame: f}
	releases := make([]func(), 0, 100)
	if n := testing.AllocsPerRun(50, func() { releases = append(releases, req.Retain()) }); n > 1 {
		t.Fatalf("%v allocations a Retain, want 1", n)
	}
	for len(releases) < 70 {
		releases = append(releases, req.Retain())
	}
	for i, release := range releases {
		release()
		mustPanic(t, fmt.Sprintf("release %d called twice", i), release)
	}
	f.release()
}
