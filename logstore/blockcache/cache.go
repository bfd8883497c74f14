package blockcache

import (
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
)

// DefaultMaxBytes is the default capacity of a node's block cache: 256 MiB.
const DefaultMaxBytes int64 = 256 << 20

const (
	// typicalBlockBytes sizes the admission sketch: ristretto wants about ten
	// counters per block the cache holds when full.
	typicalBlockBytes = 4 << 10
	countersPerBlock  = 10
	minCounters       = 1 << 10
	// maxCounters caps the sketch (about 3 bytes a counter) for huge caches.
	maxCounters = 1 << 24
	// setBufferItems is ristretto's recommended Get-buffer size.
	setBufferItems = 64
	// counterStripes spreads the hit and miss counters over cache lines so
	// concurrent readers do not contend on one word.
	counterStripes = 16
)

// Block is what a Cache holds: a block of bytes that others may share,
// counted by reference. The cache holds one reference to each block it
// keeps, given with Set.
type Block interface {
	comparable
	// Len is the block's size in bytes, its cost in the cache.
	Len() int
	// Release drops the cache's reference when the cache lets go of the
	// block: evicted, refused by the admission policy, replaced under its
	// key, deleted, dropped at once because the set buffer was full, or at
	// Close.
	Release()
}

// Cache holds immutable blocks by uint64 key, bounded by their total size in
// bytes. The zero value is not usable; call New.
type Cache[B Block] struct {
	cache  *ristretto.Cache[uint64, B]
	hits   [counterStripes]paddedCounter
	misses [counterStripes]paddedCounter
	// sets counts Set calls; setsDropped those ristretto refused at once
	// because its buffer was full.
	sets, setsDropped atomic.Uint64
	// lastSegmentID is the last id NewSegmentID handed out.
	lastSegmentID atomic.Uint64
}

// paddedCounter fills a 64-byte cache line.
type paddedCounter struct {
	n atomic.Uint64
	_ [56]byte
}

// Stats are a cache's counters since New.
type Stats struct {
	// Hits and Misses count Get calls that found, or did not find, a block.
	Hits, Misses uint64
	// Sets counts Set calls, SetsDropped those dropped at once because the
	// set buffer was full. A set not dropped may still be refused later by the
	// admission policy, which is not counted.
	Sets, SetsDropped uint64
}

// HitRatio is Hits/(Hits+Misses), or 0 before any Get.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// New returns a cache holding at most maxBytes of blocks.
func New[B Block](maxBytes int64) (*Cache[B], error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("new block cache: max bytes %d, want > 0", maxBytes)
	}
	counters := min(maxCounters, max(minCounters, countersPerBlock*(maxBytes/typicalBlockBytes)))
	rc, err := ristretto.NewCache(&ristretto.Config[uint64, B]{
		NumCounters:        counters,
		MaxCost:            maxBytes,
		BufferItems:        setBufferItems,
		IgnoreInternalCost: true,
		KeyToHash:          keyToHash,
		// Every way a value leaves ristretto (eviction, rejection,
		// replacement, deletion, Clear and Close) ends here; a missing
		// item comes as the zero value.
		OnExit: func(b B) {
			var none B
			if b != none {
				b.Release()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("new block cache of %d bytes: %w", maxBytes, err)
	}
	return &Cache[B]{cache: rc}, nil
}

// keyToHash mixes the key for ristretto's shard and sketch (the identity hash
// would put aligned keys in one shard) and keeps the raw key as the conflict
// hash, so distinct keys never alias.
func keyToHash(key uint64) (uint64, uint64) { return splitmix64(key), key }

// splitmix64 is the finaliser of the SplitMix64 generator: a bijective mix of
// all 64 bits.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Get returns the block stored under key. The block must not be modified.
// No reference is taken: the cache may release the block at any moment, so
// the caller must take one of its own in a way that notices a block released
// meanwhile (logstore's Block.acquire).
func (c *Cache[B]) Get(key uint64) (B, bool) {
	block, ok := c.cache.Get(key)
	// Aligned keys share their low bits; stripe by the mixed ones.
	stripe := splitmix64(key) % counterStripes
	if ok {
		c.hits[stripe].n.Add(1)
	} else {
		c.misses[stripe].n.Add(1)
	}
	return block, ok
}

// Set offers block under key, at a cost of its length, with a reference the
// caller gives up. It is asynchronous: a Get right after may miss, and the
// block may be dropped or refused by the admission policy (then released).
// The cache keeps block itself, so the caller must not modify it afterwards.
func (c *Cache[B]) Set(key uint64, block B) {
	c.sets.Add(1)
	if !c.cache.Set(key, block, int64(block.Len())) {
		// Not stored and not handed to OnExit: the buffer was full or
		// the cache is closed.
		c.setsDropped.Add(1)
		block.Release()
	}
}

// Del removes the block stored under key, including one still in the set
// buffer.
func (c *Cache[B]) Del(key uint64) { c.cache.Del(key) }

// Wait blocks until every Set so far has been applied or refused. Tests and
// write-then-read paths use it; correctness never depends on it.
func (c *Cache[B]) Wait() { c.cache.Wait() }

// NewSegmentID returns an id this cache has never returned before, from 1
// up, for a user to build keys from: logstore takes one per segment
// incarnation and keys that segment's blocks by it, so keys stay unique
// across every partition sharing the cache.
func (c *Cache[B]) NewSegmentID() uint64 { return c.lastSegmentID.Add(1) }

// Stats returns the counters since New.
func (c *Cache[B]) Stats() Stats {
	var s Stats
	for i := range counterStripes {
		s.Hits += c.hits[i].n.Load()
		s.Misses += c.misses[i].n.Load()
	}
	s.Sets = c.sets.Load()
	s.SetsDropped = c.setsDropped.Load()
	return s
}

// Close stops the cache's goroutines and frees its blocks. It must not run
// concurrently with other calls (ristretto closes its set buffer, so a
// racing Set could panic): close the cache after every user has stopped.
// After Close every Get misses and every Set is dropped.
func (c *Cache[B]) Close() { c.cache.Close() }
