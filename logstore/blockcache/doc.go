// Package blockcache is the block cache shared by every partition of a node:
// recently written and read blocks of segment files, kept in memory so tailing
// consumers and followers read memory instead of the disk. It wraps
// github.com/dgraph-io/ristretto/v2 (TinyLFU admission, sampled LFU eviction)
// with the settings its pitfalls call for: costs are the blocks' byte sizes
// (IgnoreInternalCost), and keys are mixed with splitmix64 so aligned or
// packed keys spread over every shard and sketch counter, while the raw key
// serves as the conflict hash so two keys never alias.
//
// A cache is an optimisation, never a source of truth: Set is asynchronous
// and may be dropped or refused by the admission policy, so callers must be
// correct on every miss. Blocks are shared, not copied: a block handed to Set
// or returned by Get must never be modified. A block is counted by reference
// (the Block constraint): Set takes over one reference, which the cache
// releases exactly once when it lets go of the block, however that happens,
// so its owner can reuse the memory once every holder released it. Get
// takes no reference; the caller takes its own, in a way that notices a
// block released meanwhile.
//
// It imports nothing of gregor: it is generic over the block type, and
// logstore declares the small interface it needs (Get, Set, and
// NewSegmentID() uint64, which numbers the segments whose blocks the keys
// name: the id space belongs to the cache, so every log sharing it gets
// unique keys).
//
// Concurrency: a Cache is safe for concurrent use by any number of
// goroutines. Close stops its two background goroutines.
package blockcache
