package blockcache

import (
	"sync"
	"testing"

	"github.com/dgraph-io/ristretto/v2"
)

const benchBlockBytes = 4 << 10

// blockStore is what the benchmarks drive: our Cache and the references.
type blockStore interface {
	Get(key uint64) (*testBlock, bool)
	Set(key uint64, block *testBlock)
}

// rawRistretto is ristretto with the same settings and no wrapper: the cost
// of our counters.
type rawRistretto struct {
	c *ristretto.Cache[uint64, *testBlock]
}

func (r rawRistretto) Get(key uint64) (*testBlock, bool) { return r.c.Get(key) }
func (r rawRistretto) Set(key uint64, block *testBlock) {
	r.c.Set(key, block, int64(block.Len()))
}

// mutexMap is the naive alternative: a map under a read-write lock, with no
// bound.
type mutexMap struct {
	mu sync.RWMutex
	m  map[uint64]*testBlock
}

func (r *mutexMap) Get(key uint64) (*testBlock, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	b, ok := r.m[key]
	return b, ok
}

func (r *mutexMap) Set(key uint64, block *testBlock) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[key] = block
}

func benchStores(b *testing.B) []struct {
	name  string
	store blockStore
	wait  func()
} {
	c := newCache(b, 64<<20)
	rc, err := ristretto.NewCache(&ristretto.Config[uint64, *testBlock]{
		NumCounters: 10 * (64 << 20) / benchBlockBytes, MaxCost: 64 << 20, BufferItems: 64,
		IgnoreInternalCost: true, KeyToHash: keyToHash,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rc.Close)
	return []struct {
		name  string
		store blockStore
		wait  func()
	}{
		{"gregor", c, c.Wait},
		{"ref-ristretto-raw", rawRistretto{rc}, rc.Wait},
		{"ref-mutexmap", &mutexMap{m: make(map[uint64]*testBlock)}, func() {}},
	}
}

// BenchmarkGet reads resident blocks from every core at once.
func BenchmarkGet(b *testing.B) {
	const keys = 1024
	for _, s := range benchStores(b) {
		for k := range uint64(keys) {
			s.store.Set(k<<12, newTestBlock(make([]byte, benchBlockBytes)))
			if k%32 == 0 {
				s.wait()
			}
		}
		s.wait()
		b.Run("hit/"+s.name, func(b *testing.B) {
			b.SetBytes(benchBlockBytes)
			b.RunParallel(func(pb *testing.PB) {
				var k uint64
				for pb.Next() {
					k++
					if _, ok := s.store.Get((k % keys) << 12); !ok && s.name == "ref-mutexmap" {
						b.Error("mutexmap missed")
					}
				}
			})
		})
	}
}

// BenchmarkSet offers new and repeated blocks from one goroutine.
func BenchmarkSet(b *testing.B) {
	block := newTestBlock(make([]byte, benchBlockBytes))
	for _, s := range benchStores(b) {
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(benchBlockBytes)
			for i := range b.N {
				s.store.Set(uint64(i%100_000)<<12, block)
			}
			s.wait()
		})
	}
}
