package logstore

import (
	"fmt"
	"sync/atomic"
)

// BlockCache holds immutable blocks of segment data keyed by a uint64 unique
// among its users. It is shared by every partition of a node
// (logstore/blockcache implements it with ristretto). Set may drop a block
// and Get may miss at any time: the log never depends on a hit. A block
// handed to Set is never modified afterwards, and the cache must not modify
// it either.
//
// The cache also hands out the segment ids the keys are made of, so that
// keys stay unique across every log sharing it without any process-wide
// counter.
type BlockCache interface {
	// Get returns the block stored under key, if the cache holds it.
	Get(key uint64) ([]byte, bool)
	// Set offers block for caching under key.
	Set(key uint64, block []byte)
	// NewSegmentID returns an id that this cache has never returned
	// before, from 1 up. A log takes one for each segment incarnation (a
	// new segment, or one whose bytes may have changed by truncation), so
	// a block cached before a truncation is never served after it. It is
	// called from any goroutine.
	NewSegmentID() uint64
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

func (*noCache) Get(uint64) ([]byte, bool) { return nil, false }
func (*noCache) Set(uint64, []byte)        {}
func (c *noCache) NewSegmentID() uint64    { return c.lastSegmentID.Add(1) }
