package logstore

import (
	"bytes"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Block is a buffer of segment bytes: a block of the BlockCache, or the
// active segment's tail, shared by reference count among the log, the cache
// and readers. Its bytes never change while another holder can see them (a
// tail block only grows past what readers were shown). When the last holder
// releases it, it goes back to its BlockPool and is handed out again, so a
// holder must not touch a block after releasing its reference: a reader
// keeps one from the moment it finds the block until it is done with the
// bytes (Records.Release).
//
// The cache shares a block with readers that find it there and may drop it
// at any moment (ristretto evicts on its own goroutine), so a reader that
// found a block may hold a pointer to one already released and handed out
// again. acquire tells: it takes a reference only while the block is held
// and still holds the bytes of the key looked up (a block names its key once
// filled, and forgets it when released).
type Block struct {
	refs atomic.Int32
	// key is the cache key whose bytes the block holds, set once the block
	// is complete; 0 while it is filled, and when it is free.
	key atomic.Uint64
	// buf holds the block's bytes; its capacity is the pool's block size.
	// The appender extends a tail block's buf under Log.mu.
	buf  []byte
	pool *BlockPool
}

// Len is the number of bytes the block holds, its cost in the cache.
func (b *Block) Len() int { return len(b.buf) }

// Release drops one reference; the last one gives the block back to its
// pool.
func (b *Block) Release() {
	switch n := b.refs.Add(-1); {
	case n == 0:
		b.key.Store(0)
		b.pool.put(b)
	case n < 0:
		panic("logstore: a block was released more often than referenced")
	}
}

// ref takes one more reference for a caller that holds one, or that holds
// the lock under which the block's holder publishes it.
func (b *Block) ref() {
	if b.refs.Add(1) <= 1 {
		panic("logstore: a reference was taken to a released block")
	}
}

// acquire takes a reference to a block found in the cache under key. It
// fails when the block was released meanwhile, or was handed out again and
// does not hold key's bytes (then the caller treats it as a miss).
func (b *Block) acquire(key uint64) bool {
	for {
		n := b.refs.Load()
		if n <= 0 {
			return false
		}
		if b.refs.CompareAndSwap(n, n+1) {
			break
		}
	}
	// The key is set after the bytes are complete and cleared before the
	// block is reused, so holding a reference and seeing key means the
	// bytes are key's (a block handed out again for the same key holds the
	// same bytes: cached bytes never change under a key).
	if b.key.Load() != key {
		b.Release()
		return false
	}
	return true
}

// seal names the cache key of the block's bytes, now complete.
func (b *Block) seal(key uint64) { b.key.Store(key) }

// Block sizes the pool keeps: the powers of two CacheBlockBytes may be.
const (
	minPooledBlockShift = 12 // 4 KiB
	maxPooledBlockShift = 20 // 1 MiB
)

// poisonByte fills released blocks in poisoning mode: a reader that sees it
// where segment bytes should be read a block after its release.
const poisonByte = 0xdb

// BlockPool keeps released blocks for reuse, so the tail and cache blocks
// of a busy node are the same memory over and over instead of fresh
// allocations (which cost page faults, and garbage collection). One pool
// serves every log of a node: a block evicted from the shared cache goes
// back to the pool it came from. It keeps at most maxKeptBytes of free
// blocks; the rest go to the garbage collector. A nil *BlockPool allocates
// every block and keeps none. It is safe for concurrent use.
type BlockPool struct {
	maxKeptBytes int64
	// poison overwrites every released block and checks on reuse that
	// nobody wrote it meanwhile (tests).
	poison bool

	mu        sync.Mutex
	free      [maxPooledBlockShift - minPooledBlockShift + 1][]*Block
	keptBytes int64
	gets      uint64
	reuses    uint64
}

// NewBlockPool returns a pool keeping up to maxKeptBytes of released blocks.
// With poison, a released block is overwritten with a marker byte and
// checked when handed out again, so a holder that writes a block after
// releasing it panics, and one that reads it reads the marker (tests).
func NewBlockPool(maxKeptBytes int64, poison bool) *BlockPool {
	return &BlockPool{maxKeptBytes: max(maxKeptBytes, 0), poison: poison}
}

// blockClass is the free list of blocks of size bytes, or -1 when the pool
// keeps none of that size.
func blockClass(size int) int {
	if size <= 0 || size&(size-1) != 0 {
		return -1
	}
	shift := bits.Len(uint(size)) - 1
	if shift < minPooledBlockShift || shift > maxPooledBlockShift {
		return -1
	}
	return shift - minPooledBlockShift
}

// get returns an empty block of capacity size with one reference, the
// caller's.
func (p *BlockPool) get(size int) *Block {
	var b *Block
	if p != nil {
		b = p.take(size)
	}
	if b == nil {
		b = &Block{buf: make([]byte, 0, size), pool: p}
	}
	b.refs.Store(1)
	return b
}

// take pops a free block of size bytes, nil when there is none.
func (p *BlockPool) take(size int) *Block {
	class := blockClass(size)
	if class < 0 {
		return nil
	}
	p.mu.Lock()
	p.gets++
	list := p.free[class]
	n := len(list)
	if n == 0 {
		p.mu.Unlock()
		return nil
	}
	b := list[n-1]
	list[n-1] = nil
	p.free[class] = list[:n-1]
	p.keptBytes -= int64(size)
	p.reuses++
	p.mu.Unlock()
	if p.poison {
		checkPoisoned(b)
	}
	b.buf = b.buf[:0]
	return b
}

// put takes back a block whose last reference was released.
func (p *BlockPool) put(b *Block) {
	if p == nil {
		return
	}
	if p.poison {
		fillPoison(b.buf[:cap(b.buf)])
	}
	class := blockClass(cap(b.buf))
	if class < 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.keptBytes+int64(cap(b.buf)) > p.maxKeptBytes {
		return
	}
	p.keptBytes += int64(cap(b.buf))
	p.free[class] = append(p.free[class], b)
}

// fillPoison overwrites p with poisonByte, doubling copies (a byte loop is
// slow under the race detector).
func fillPoison(p []byte) {
	if len(p) == 0 {
		return
	}
	p[0] = poisonByte
	for n := 1; n < len(p); n *= 2 {
		copy(p[n:], p[:n])
	}
}

// checkPoisoned panics unless b, leaving the free list, still holds the
// poison written at its release.
func checkPoisoned(b *Block) {
	full := b.buf[:cap(b.buf)]
	// Every byte equal to the one before it, and the first the poison.
	if len(full) > 0 && (full[0] != poisonByte || !bytes.Equal(full[1:], full[:len(full)-1])) {
		panic(fmt.Sprintf("logstore: a released %d-byte block was written after its release", cap(b.buf)))
	}
}

// BlockPoolStats are a pool's counters.
type BlockPoolStats struct {
	// Gets counts blocks asked of the pool, Reuses those it had free.
	Gets, Reuses uint64
	// KeptBytes is the size of the free blocks it holds.
	KeptBytes int64
}

// Stats returns the pool's counters.
func (p *BlockPool) Stats() BlockPoolStats {
	if p == nil {
		return BlockPoolStats{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return BlockPoolStats{Gets: p.gets, Reuses: p.reuses, KeptBytes: p.keptBytes}
}
