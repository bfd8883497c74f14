package blockcache

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

func newCache(t testing.TB, maxBytes int64) *Cache[*testBlock] {
	t.Helper()
	c, err := New[*testBlock](maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// testBlock is a Block that counts its releases.
type testBlock struct {
	data     []byte
	released atomic.Int32
}

func (b *testBlock) Len() int { return len(b.data) }
func (b *testBlock) Release() { b.released.Add(1) }

func newTestBlock(data []byte) *testBlock { return &testBlock{data: data} }

// blockFor is a block whose content names its key, so a read can check it got
// the block of the key it asked for.
func blockFor(key uint64, size int) *testBlock {
	b := make([]byte, max(size, 8))
	for i := 0; i+8 <= len(b); i += 8 {
		binary.BigEndian.PutUint64(b[i:], key)
	}
	return newTestBlock(b)
}

func TestNewRejectsNonPositiveSize(t *testing.T) {
	for _, n := range []int64{0, -1} {
		if c, err := New[*testBlock](n); err == nil {
			c.Close()
			t.Errorf("New(%d) succeeded", n)
		}
	}
}

func TestSetWaitGetDel(t *testing.T) {
	c := newCache(t, 1<<20)
	block := blockFor(7, 4096)
	c.Set(7, block)
	c.Wait()
	got, ok := c.Get(7)
	if !ok || got != block || !bytes.Equal(got.data, block.data) {
		t.Fatalf("Get after Set+Wait: ok=%v", ok)
	}
	if _, ok := c.Get(8); ok {
		t.Fatal("Get of a key never set hit")
	}
	c.Del(7)
	if _, ok := c.Get(7); ok {
		t.Fatal("Get after Del hit")
	}
	// A Del right after a Set (both still buffered) wins once applied.
	c.Set(9, blockFor(9, 64))
	c.Del(9)
	c.Wait()
	if _, ok := c.Get(9); ok {
		t.Fatal("Get after Set, Del, Wait hit")
	}
	st := c.Stats()
	if st.Hits != 1 || st.Misses != 3 || st.Sets != 2 {
		t.Fatalf("Stats = %+v, want 1 hit, 3 misses, 2 sets", st)
	}
	if r := st.HitRatio(); r != 0.25 {
		t.Fatalf("HitRatio = %v, want 0.25", r)
	}
}

func TestSetReplacesBlock(t *testing.T) {
	c := newCache(t, 1<<20)
	old, new := newTestBlock([]byte("old")), newTestBlock([]byte("new"))
	c.Set(1, old)
	c.Wait()
	c.Set(1, new)
	c.Wait()
	if got, ok := c.Get(1); !ok || string(got.data) != "new" {
		t.Fatalf("Get = %v %v, want new", got, ok)
	}
	if old.released.Load() != 1 || new.released.Load() != 0 {
		t.Fatalf("releases: replaced block %d, new block %d; want 1, 0", old.released.Load(), new.released.Load())
	}
}

func TestOversizedBlockIsNotStored(t *testing.T) {
	c := newCache(t, 1024)
	big := newTestBlock(make([]byte, 2048))
	c.Set(1, big)
	c.Wait()
	if _, ok := c.Get(1); ok {
		t.Fatal("a block larger than the cache was stored")
	}
	if big.released.Load() != 1 {
		t.Fatalf("the refused block was released %d times, want 1", big.released.Load())
	}
}

// The blocks resident after many sets never add up to more than maxBytes.
func TestResidentBytesStayUnderMax(t *testing.T) {
	const maxBytes, blockBytes, blocks = 64 << 10, 1 << 10, 1000
	c := newCache(t, maxBytes)
	for k := range uint64(blocks) {
		c.Set(k, blockFor(k, blockBytes))
		if k%64 == 0 {
			c.Wait()
		}
	}
	c.Wait()
	var resident int
	for k := range uint64(blocks) {
		if b, ok := c.Get(k); ok {
			if binary.BigEndian.Uint64(b.data) != k {
				t.Fatalf("key %d returned the block of key %d", k, binary.BigEndian.Uint64(b.data))
			}
			resident += b.Len()
		}
	}
	if resident > maxBytes || resident == 0 {
		t.Fatalf("resident %d bytes, max %d", resident, maxBytes)
	}
}

// Keys packed as segment<<32|block, aligned on 4 KiB positions, spread over
// ristretto's 256 shards, and splitmix64 matches its reference output.
func TestKeyToHashSpreadsAlignedKeys(t *testing.T) {
	if got, want := splitmix64(0), uint64(0xe220a8397b1dcdaf); got != want {
		t.Fatalf("splitmix64(0) = %#x, want %#x", got, want)
	}
	shards := make(map[uint64]bool)
	for seg := range uint64(4) {
		for blk := range uint64(256) {
			key := seg<<32 | blk*4096
			h, conflict := keyToHash(key)
			if conflict != key {
				t.Fatalf("conflict hash %d, want the raw key %d", conflict, key)
			}
			shards[h%256] = true
		}
	}
	if len(shards) < 240 {
		t.Fatalf("1024 aligned keys reached only %d of 256 shards", len(shards))
	}
}

// A Zipf-distributed read load over five times more blocks than fit, filling
// the cache on each miss, is served mostly from the cache.
func TestHitRatioUnderSkewedLoad(t *testing.T) {
	const blockBytes, blocks, reads = 1 << 10, 10_000, 100_000
	c := newCache(t, blocks/5*blockBytes)
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, blocks-1)
	read := func() {
		k := zipf.Uint64() * 4096 // aligned keys, as block positions are
		if _, ok := c.Get(k); !ok {
			c.Set(k, blockFor(k, blockBytes))
		}
	}
	for range reads {
		read()
	}
	c.Wait()
	before := c.Stats()
	for range reads {
		read()
	}
	after := c.Stats()
	hits, misses := after.Hits-before.Hits, after.Misses-before.Misses
	ratio := float64(hits) / float64(hits+misses)
	t.Logf("hit ratio %.3f over %d reads, %d sets dropped", ratio, reads, after.SetsDropped)
	if ratio < 0.6 {
		t.Fatalf("hit ratio %.3f, want >= 0.6", ratio)
	}
}

// Concurrent Get, Set and Del never return the block of another key.
func TestConcurrentUseNeverMixesKeys(t *testing.T) {
	c := newCache(t, 256<<10)
	var wg sync.WaitGroup
	errs := make(chan uint64, 8)
	for g := range uint64(4) {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(g, 0))
			for range 5000 {
				k := rng.Uint64N(512)
				switch rng.IntN(4) {
				case 0:
					c.Set(k, blockFor(k, 256))
				case 1:
					c.Del(k)
				default:
					if b, ok := c.Get(k); ok && binary.BigEndian.Uint64(b.data) != k {
						errs <- k
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for k := range errs {
		t.Fatalf("Get(%d) returned another key's block", k)
	}
}

func TestClosedCacheMisses(t *testing.T) {
	c, err := New[*testBlock](1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	x, y := newTestBlock([]byte("x")), newTestBlock([]byte("y"))
	c.Set(1, x)
	c.Wait()
	c.Close()
	if _, ok := c.Get(1); ok {
		t.Fatal("Get after Close hit")
	}
	c.Set(2, y) // must not panic
	c.Del(2)
	c.Wait()
	if x.released.Load() != 1 || y.released.Load() != 1 {
		t.Fatalf("releases after Close: held block %d, block set after %d; want 1, 1", x.released.Load(), y.released.Load())
	}
}

// TestNewSegmentIDIsUniqueAcrossGoroutines takes ids from many goroutines and
// checks none repeats and none is 0.
func TestNewSegmentIDIsUniqueAcrossGoroutines(t *testing.T) {
	c := newCache(t, 1<<20)
	const goroutines, each = 8, 1000
	ids := make(chan uint64, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				ids <- c.NewSegmentID()
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := make(map[uint64]bool, goroutines*each)
	for id := range ids {
		if id == 0 || seen[id] {
			t.Fatalf("id %d handed out twice or zero", id)
		}
		seen[id] = true
	}
}

// TestEveryBlockIsReleasedOnce sets, replaces and deletes many blocks from
// several goroutines, over a cache that evicts: once the cache is closed,
// every block handed to Set was released exactly once (a block released
// twice could be reused while the cache still serves it).
func TestEveryBlockIsReleasedOnce(t *testing.T) {
	c, err := New[*testBlock](64 << 10)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var all []*testBlock
	var wg sync.WaitGroup
	for g := range uint64(4) {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(g, 1))
			for range 5000 {
				k := rng.Uint64N(256)
				switch rng.IntN(5) {
				case 0:
					c.Del(k)
				case 1:
					c.Get(k)
				default:
					b := blockFor(k, 1<<10)
					mu.Lock()
					all = append(all, b)
					mu.Unlock()
					c.Set(k, b)
				}
			}
		})
	}
	wg.Wait()
	c.Wait()
	c.Close()
	for i, b := range all {
		if n := b.released.Load(); n != 1 {
			t.Fatalf("block %d of %d released %d times", i, len(all), n)
		}
	}
}
