package logstore

import "sync/atomic"

// BlockCache holds immutable blocks of segment data keyed by a node-unique
// uint64. It is shared by every partition of a node (logstore/blockcache
// implements it with ristretto). Set may drop a block and Get may miss at any
// time: the log never depends on a hit. A block handed to Set is never
// modified afterwards, and the cache must not modify it either.
type BlockCache interface {
	// Get returns the block stored under key, if the cache holds it.
	Get(key uint64) ([]byte, bool)
	// Set offers block for caching under key.
	Set(key uint64, block []byte)
}

// nextSegmentCacheID numbers segment incarnations for cache keys. It is
// process-wide so that keys stay unique across every partition sharing a
// cache; a segment takes a new number when its bytes may change (truncation),
// so a stale block is never served.
var nextSegmentCacheID atomic.Uint64

func newSegmentCacheID() uint64 { return nextSegmentCacheID.Add(1) }

// blockCacheKey packs a segment incarnation and a block index (positions are
// below 2^31, so the index fits in 32 bits).
func blockCacheKey(segmentID uint64, blockIndex int64) uint64 {
	return segmentID<<32 | uint64(blockIndex)
}

// noCache is the BlockCache used when none is configured.
type noCache struct{}

func (noCache) Get(uint64) ([]byte, bool) { return nil, false }
func (noCache) Set(uint64, []byte)        {}
