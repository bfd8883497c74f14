package logstore

import (
	"fmt"
	"sync/atomic"
)

// BlockCache holds blocks of segment data keyed by a uint64 unique among
// its users. It is shared by every partition of a node (logstore/blockcache
// implements it with ristretto). Set may drop a block and Get may miss at
// any time: the log never depends on a hit. A block's bytes never change
// once it is handed to Set, and the cache must not modify them either.
//
// Blocks are counted by reference (Block): Set takes over one reference
// from its caller, and the cache releases it when it lets go of the block
// (evicted, refused by its admission policy, replaced under its key, dropped
// at once, or at Close). Get takes no reference: the log acquires one itself
// (Block.acquire), which fails, and counts as a miss, when the block was
// released and handed out again meanwhile.
//
// The cache also hands out the segment ids the keys are made of, so that
// keys stay unique across every log sharing it without any process-wide
// counter.
type BlockCache interface {
	// Get returns the block stored under key, if the cache holds it.
	Get(key uint64) (*Block, bool)
	// Set offers block for caching under key, with one reference the
	// caller gives up.
	Set(key uint64, block *Block)
	// NewSegmentID returns an id that this cache has never returned
	// before, from 1 up. A log takes one for each segment incarnation (a
	// new segment, or one whose bytes may have changed by truncation), so
	// a block cached before a truncation is never served after it. It is
	// called from any goroutine.
	NewSegmentID() uint64
}

// cachedBlock returns the block cached under key with a reference the
// caller must release, or nil.
func cachedBlock(cache BlockCache, key uint64) *Block {
	b, ok := cache.Get(key)
	if !ok || b == nil || !b.acquire(key) {
		return nil
	}
	return b
}

// cacheBlock seals b as holding key's bytes and hands it, with the caller's
// reference, to the cache.
func cacheBlock(cache BlockCache, key uint64, b *Block) {
	b.seal(key)
	cache.Set(key, b)
}

// blockIndexBits is the width of the block index in a cache key: segments
// are below 2 GiB and blocks at least 4 KiB, so a segment has fewer than
// 2^19 blocks. The other 45 bits number segment incarnations, more than a
// node makes in its lifetime.
const blockIndexBits = 19

// blockCacheKey packs a segment incarnation and a block index.
func blockCacheKey(segmentID uint64, blockIndex int64) uint64 {
	if blockIndex < 0 || blockIndex >= 1<<blockIndexBits || segmentID >= 1<<(64-blockIndexBits) {
		panic(fmt.Sprintf("logstore: cache key out of range: segment id %d, block %d", segmentID, blockIndex))
	}
	return segmentID<<blockIndexBits | uint64(blockIndex)
}

// noCache is the BlockCache of a log opened without one: it holds nothing,
// and numbers the log's segment incarnations on its own (the cleaner tells
// a truncated segment by its id, with or without a cache).
type noCache struct {
	lastSegmentID atomic.Uint64
}

func (*noCache) Get(uint64) (*Block, bool) { return nil, false }
func (*noCache) Set(_ uint64, b *Block)    { b.Release() }
func (c *noCache) NewSegmentID() uint64    { return c.lastSegmentID.Add(1) }
