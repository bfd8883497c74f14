package netio

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Size classes of the buffer pool: from 512 bytes up, four classes per
// doubling (2^k, 1.25·2^k, 1.5·2^k and 1.75·2^k bytes), so a buffer has at
// most a quarter more room than asked for. A 1 MiB produce batch with its
// request headers fits the 1.25 MiB class.
const (
	minClassShift      = 9
	classesPerDoubling = 4
	maxClassShift      = 31
	numClasses         = (maxClassShift-minClassShift)*classesPerDoubling + 1
)

// poisonByte fills released buffers in poisoning mode. A reader that sees it
// where its request's bytes should be read a buffer after its release.
const poisonByte = 0xdb

// classUp is the smallest class that holds n bytes; numClasses or more when
// none does.
func classUp(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	k := bits.Len(uint(n-1)) - 1 // 2^k < n <= 2^(k+1)
	step := 1 << (k - 2)
	sub := (n - 1<<k + step - 1) / step // 1..4
	return (k-minClassShift)*classesPerDoubling + sub
}

// classDown is the largest class no bigger than n bytes; -1 when n is below
// the smallest class.
func classDown(n int) int {
	if n < 1<<minClassShift {
		return -1
	}
	k := bits.Len(uint(n)) - 1 // 2^k <= n < 2^(k+1)
	sub := (n - 1<<k) / (1 << (k - 2))
	return (k-minClassShift)*classesPerDoubling + sub
}

// classBytes is the size of the buffers of class i.
func classBytes(i int) int {
	if i == 0 {
		return 1 << minClassShift
	}
	k := minClassShift + (i-1)/classesPerDoubling
	sub := (i-1)%classesPerDoubling + 1
	return 1<<k + sub<<(k-2)
}

// BufferPool is a pool of response buffers that Clients share
// (ClientConfig.ResponsePool): clients that come and go, as a node's replica
// fetchers do whenever their last partition leaves, read into the buffers
// their predecessors released instead of each filling a pool of its own with
// fresh allocations (a follower's Fetch answer is up to a megabyte or more
// per partition, which the runtime clears and the kernel faults in). It is
// safe for concurrent use.
type BufferPool struct{ p *bufferPool }

// NewBufferPool returns a BufferPool that keeps at most maxKeptBytes of free
// buffers; poison is ClientConfig.PoisonReleasedBuffers for its buffers.
func NewBufferPool(maxKeptBytes int64, poison bool) *BufferPool {
	return &BufferPool{p: newBufferPool(maxKeptBytes, poison)}
}

// bufferPool keeps released buffers by size class for reuse: request frames
// and response encoding buffers of one Server. It keeps at most maxKeptBytes
// of free buffers; what is released beyond that goes to the garbage
// collector. A nil *bufferPool allocates every buffer and keeps none. It is
// safe for concurrent use.
type bufferPool struct {
	maxKeptBytes int64
	// poison: overwrite every released buffer, check on reuse that nobody
	// wrote it meanwhile, and catch a buffer released twice.
	poison bool

	keptBytes atomic.Int64
	gets      atomic.Uint64 // buffers handed out
	reuses    atomic.Uint64 // of which came from a free list
	classes   [numClasses]bufferClass

	// free holds the first byte of every free buffer, in poisoning mode.
	freeMu sync.Mutex
	free   map[*byte]struct{}
}

// bufferClass is the free list of one size class.
type bufferClass struct {
	mu   sync.Mutex
	free [][]byte
}

func newBufferPool(maxKeptBytes int64, poison bool) *bufferPool {
	p := &bufferPool{maxKeptBytes: max(maxKeptBytes, 0), poison: poison}
	if poison {
		p.free = make(map[*byte]struct{})
	}
	return p
}

// get returns a buffer of length n; its capacity is that of n's class, or
// of a class up to twice that when that one had a free buffer and n's had
// none.
func (p *bufferPool) get(n int) []byte {
	if p == nil {
		return make([]byte, n)
	}
	p.gets.Add(1)
	i := classUp(n)
	if i >= numClasses {
		return make([]byte, n)
	}
	if b := p.takeUp(i); b != nil {
		return b[:n]
	}
	return make([]byte, n, classBytes(i))
}

// takeUp pops a free buffer of class i or, when it has none, of one of the
// classes above it up to twice its size (one doubling of classes): request sizes vary continuously,
// and a slightly larger free buffer beats a fresh one (whose pages fault in)
// or, for a large frame, reading it in growing buffers and copying it along.
func (p *bufferPool) takeUp(i int) []byte {
	for j := i; j <= min(i+classesPerDoubling, numClasses-1); j++ {
		if b := p.take(j); b != nil {
			return b
		}
	}
	return nil
}

// tryGet returns a free buffer of length n, or nil when neither n's class
// nor the classes up to twice that class's size have one: it never
// allocates.
func (p *bufferPool) tryGet(n int) []byte {
	if p == nil {
		return nil
	}
	i := classUp(n)
	if i >= numClasses {
		return nil
	}
	b := p.takeUp(i)
	if b == nil {
		return nil
	}
	p.gets.Add(1)
	return b[:n]
}

// take pops a free buffer of class i, nil when there is none.
func (p *bufferPool) take(i int) []byte {
	c := &p.classes[i]
	c.mu.Lock()
	n := len(c.free)
	if n == 0 {
		c.mu.Unlock()
		return nil
	}
	b := c.free[n-1]
	c.free[n-1] = nil
	c.free = c.free[:n-1]
	c.mu.Unlock()
	p.keptBytes.Add(-int64(cap(b)))
	p.reuses.Add(1)
	if p.poison {
		p.checkPoisoned(b)
	}
	return b
}

// put releases b: nothing may use it afterwards. It keeps b for reuse when
// its class exists and the pool is under its bound.
func (p *bufferPool) put(b []byte) {
	if p == nil || cap(b) == 0 {
		return
	}
	b = b[:cap(b)]
	if p.poison {
		p.markFree(b)
	}
	i := classDown(cap(b))
	if i < 0 || i >= numClasses {
		p.forget(b)
		return
	}
	size := int64(cap(b))
	if p.keptBytes.Add(size) > p.maxKeptBytes {
		p.keptBytes.Add(-size)
		p.forget(b)
		return
	}
	c := &p.classes[i]
	c.mu.Lock()
	c.free = append(c.free, b)
	c.mu.Unlock()
}

// markFree poisons b and panics if it is free already: released twice, it
// would be handed to two users.
func (p *bufferPool) markFree(b []byte) {
	p.freeMu.Lock()
	_, twice := p.free[&b[0]]
	p.free[&b[0]] = struct{}{}
	p.freeMu.Unlock()
	if twice {
		panic(fmt.Sprintf("netio: a %d-byte buffer was released twice", cap(b)))
	}
	for i := range b {
		b[i] = poisonByte
	}
}

// checkPoisoned panics unless b, leaving the free list, still holds the
// poison written at its release: somebody wrote to it after releasing it.
func (p *bufferPool) checkPoisoned(b []byte) {
	b = b[:cap(b)]
	p.freeMu.Lock()
	delete(p.free, &b[0])
	p.freeMu.Unlock()
	for i, x := range b {
		if x != poisonByte {
			panic(fmt.Sprintf("netio: a released %d-byte buffer was written at byte %d after its release", cap(b), i))
		}
	}
}

// forget drops a released buffer that the pool does not keep. In poisoning
// mode it stays poisoned, so that a late reader still sees the poison.
func (p *bufferPool) forget(b []byte) {
	if p.poison {
		p.freeMu.Lock()
		delete(p.free, &b[0])
		p.freeMu.Unlock()
	}
}
