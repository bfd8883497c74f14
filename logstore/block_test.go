package logstore

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"gregor/logstore/vfs"
)

// TestBlockAcquireNoticesReleaseAndReuse: a reader holding a pointer to a
// block found in the cache gets a reference only while the block is held and
// holds the bytes of the key it looked up.
func TestBlockAcquireNoticesReleaseAndReuse(t *testing.T) {
	pool := NewBlockPool(1<<20, true)
	b := pool.get(4096)
	b.buf = append(b.buf, "abc"...)
	b.seal(42)
	if !b.acquire(42) {
		t.Fatal("acquire of a held block failed")
	}
	if b.acquire(43) {
		t.Fatal("acquire under another key succeeded")
	}
	b.Release()
	b.Release() // the last reference: back to the pool
	if b.acquire(42) {
		t.Fatal("acquire of a released block succeeded")
	}
	again := pool.get(4096)
	if again != b {
		t.Fatal("the pool did not hand the released block out again")
	}
	if len(again.buf) != 0 {
		t.Fatalf("a reused block holds %d bytes, want 0", len(again.buf))
	}
	if b.acquire(42) {
		t.Fatal("acquire of a block being filled again succeeded")
	}
	again.seal(7)
	if b.acquire(42) || !b.acquire(7) {
		t.Fatal("acquire after reuse: wrong key accepted or right key refused")
	}
	b.Release()
	again.Release()
	if st := pool.Stats(); st.Gets != 2 || st.Reuses != 1 || st.KeptBytes != 4096 {
		t.Fatalf("stats %+v, want 2 gets, 1 reuse, 4096 bytes kept", st)
	}
}

func TestBlockReleasedTwicePanics(t *testing.T) {
	b := NewBlockPool(1<<20, false).get(4096)
	b.Release()
	defer func() {
		if recover() == nil {
			t.Fatal("a second release did not panic")
		}
	}()
	b.Release()
}

// TestPoisonedPoolCatchesWriteAfterRelease: in poisoning mode a released
// block is overwritten, and a write to it before its reuse panics on reuse.
func TestPoisonedPoolCatchesWriteAfterRelease(t *testing.T) {
	pool := NewBlockPool(1<<20, true)
	b := pool.get(4096)
	b.buf = append(b.buf, "data"...)
	stale := b.buf
	b.Release()
	if stale[0] != poisonByte {
		t.Fatalf("released block holds %q, want the poison", stale[:4])
	}
	stale[1] = 'x' // a holder that kept writing after its release
	defer func() {
		if recover() == nil {
			t.Fatal("reusing a block written after its release did not panic")
		}
	}()
	pool.get(4096)
}

func TestBlockPoolKeepsAtMostItsBound(t *testing.T) {
	pool := NewBlockPool(3*4096, false)
	var blocks []*Block
	for range 5 {
		blocks = append(blocks, pool.get(4096))
	}
	blocks = append(blocks, pool.get(3000)) // not a pooled size
	for _, b := range blocks {
		b.Release()
	}
	if st := pool.Stats(); st.KeptBytes != 3*4096 {
		t.Fatalf("kept %d bytes, want %d", st.KeptBytes, 3*4096)
	}
	var nilPool *BlockPool
	b := nilPool.get(4096)
	b.Release() // a nil pool keeps nothing and does not panic
}

// TestTailKeptOnlyWhileReadersAreCaughtUp: appends copy into the tail (and
// feed the cache) only after a read reached the end of the log, and stop
// tailKeepMs after the last such read; reads are right in every phase.
func TestTailKeptOnlyWhileReadersAreCaughtUp(t *testing.T) {
	cache := newMapCache()
	cfg := smallConfig()
	cfg.SegmentBytes = 64 << 10
	l := openTestLog(t, vfs.NewMem(), "/p", cfg, cache, 0)
	defer l.Close()
	tail := func() bool {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return l.active().tail != nil
	}
	want := appendN(t, l, 100, 100, 0)
	if cache.len() != 0 || tail() {
		t.Fatalf("without readers: %d blocks cached, tail kept %v; want none", cache.len(), tail())
	}
	readAtEnd(t, l)
	want = append(want, appendN(t, l, 100, 100, 1000)...)
	if cache.len() == 0 || !tail() {
		t.Fatalf("after a caught-up read: %d blocks cached, tail kept %v; want some, true", cache.len(), tail())
	}
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
	// readAllBatches ended caught up; appends long after stop the tail.
	want = append(want, appendN(t, l, 1, 100, 1000+tailKeepMs)...)
	if !tail() {
		t.Fatal("tail dropped within tailKeepMs of a caught-up read")
	}
	cached := cache.len()
	want = append(want, appendN(t, l, 100, 100, 2000+2*tailKeepMs)...)
	if tail() || cache.len() != cached {
		t.Fatalf("no reads for tailKeepMs: tail kept %v, %d blocks cached (was %d)", tail(), cache.len(), cached)
	}
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
}

// TestPooledBlocksNeverReusedWhileHeld appends while readers read and hold
// records (memory chunks of tail and cache blocks) on other goroutines, over
// a small evicting cache and a poisoned pool: blocks are reused all the time,
// and every read returns the stored bytes, so none was reused while held.
// Run it with -race.
func TestPooledBlocksNeverReusedWhileHeld(t *testing.T) {
	cache := newEvictingCache(8 * 4096)
	cfg := smallConfig()
	cfg.SegmentBytes = 64 << 10
	pool := NewBlockPool(64<<10, true)
	l, err := Open(Options{FS: vfs.NewMem(), Dir: "/p", Config: cfg, Cache: cache, BlockPool: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	var mu sync.Mutex
	var stored [][]byte // by offset: every batch holds one record
	var done atomic.Bool
	var wg sync.WaitGroup
	check := func(p []byte) {
		for len(p) > 0 {
			n, err := BatchSize(p)
			if err != nil || n > len(p) {
				t.Errorf("read a broken batch: size %d of %d left: %v", n, len(p), err)
				done.Store(true)
				return
			}
			b := p[:n]
			p = p[n:]
			base := int64(binary.BigEndian.Uint64(b))
			mu.Lock()
			var want []byte
			if base >= 0 && base < int64(len(stored)) {
				want = stored[base]
			}
			mu.Unlock()
			if !bytes.Equal(b, want) {
				t.Errorf("offset %d: read %s, stored %s", base, batchDigest(b), batchDigest(want))
				done.Store(true)
			}
		}
	}
	for r := range 3 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 9))
			for !done.Load() {
				end := l.LogEndOffset()
				if end == 0 {
					runtime.Gosched()
					continue
				}
				offset := rng.Int64N(end)
				if r == 0 {
					offset = end - 1 // caught up: keeps the tail on
				}
				recs, err := l.Read(offset, 1+rng.Int64N(16<<10), end)
				if err != nil {
					t.Error(err)
					return
				}
				runtime.Gosched() // hold the records while appends go on
				var p []byte
				if rng.IntN(2) == 0 {
					p, err = recs.Bytes()
				} else {
					var buf bytes.Buffer
					_, err = recs.WriteTo(&buf)
					p = buf.Bytes()
				}
				recs.Release()
				if err != nil {
					t.Error(err)
					return
				}
				check(p)
			}
		})
	}
	for i := range 3000 {
		b := simpleBatch(t, 1, 200+i%700, int64(i), i)
		// What the append will store, known before readers can see it.
		SetBatchBaseOffset(b, int64(i))
		SetBatchLeaderEpoch(b, 1)
		mu.Lock()
		stored = append(stored, bytes.Clone(b))
		mu.Unlock()
		if _, err := l.Append([][]byte{b}, 1, int64(i)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			runtime.Gosched()
		}
	}
	done.Store(true)
	wg.Wait()
	if st := pool.Stats(); st.Reuses == 0 {
		t.Fatalf("no block was reused (%+v): the test proves nothing", st)
	}
}
