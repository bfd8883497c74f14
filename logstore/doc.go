// Package logstore is the partition log: segments of Kafka RecordBatch v2
// batches named by their 20-digit base offset, sparse offset and time indexes,
// crash recovery, flush policies with group-commit fsync, retention, compaction
// and durable checkpoints. It works over the filesystem interface in
// logstore/vfs (the OS, or an in-memory one that simulates crashes), and caches
// blocks through a small interface implemented by logstore/blockcache.
// Beside it, logstore/internaltopic names the internal topics and hashes a
// group or transactional id to its partition, for the cores above that
// share them (groups, txn, cluster).
//
// It imports nothing of gregor outside logstore/... .
//
// # Layout
//
// A partition directory holds, per segment, <base>.log (batches exactly as
// received, base offset and partition leader epoch rewritten), <base>.index
// (relative offset → position, one entry per index.interval.bytes) and
// <base>.timeindex (max timestamp so far → relative offset), plus the
// recovery-point-offset-checkpoint, log-start-offset-checkpoint,
// cleaner-offset-checkpoint, leader-epoch-checkpoint, the clean-shutdown
// marker and partition.metadata (the id of the topic whose log it is,
// written when a log is first opened for a topic), each replaced
// atomically. Index files are written when a segment
// rolls and at Close; the active segment's are rebuilt by recovery. Close
// rewrites only the files whose content changed (an idle log's hold theirs
// from its last close) and syncs the directory once before it creates the
// marker; CloseForShutdown leaves the marker's directory sync to one sync
// of the whole filesystem by the stopping node (vfs.FSSyncer).
//
// The files, by responsibility: batch.go (RecordBatch v2 validation and
// in-place rewrites), log.go (the Log, appends), segment.go and
// index.go (segments and their indexes), read.go and sendfile_*.go (reads,
// zero-copy), timestamp.go (ListOffsets by time), recovery.go (Open),
// truncate.go (truncation, retention, log start advances), flush.go (Sync,
// Tick, Close; fdatasync_*.go), checkpoint.go (single-offset checkpoints and Kafka's
// multi-entry checkpoint format), leader_epoch.go (the leader-epoch cache:
// epoch → start offset, EndOffsetForEpoch, its checkpoint and recovery),
// offset_checkpoint.go (the replication-offset-checkpoint API a log directory
// uses for high watermarks), partition_metadata.go (the topic id file), cache.go (the BlockCache interface and its keys),
// block.go (blocks counted by reference and their pool), tail.go (when the
// active segment's last block is kept in memory), recent.go (the headers of
// the batches appended since the last offset-index entry, which reads find
// their batches by), codecs.go (record compression), compact.go, cleaner.go, cleaner_run.go
// and replace.go (compaction), empty_stretch.go (the empty batches
// compaction leaves), groupcommit.go (batched fsync), prealloc*.go (a
// segment's disk blocks reserved ahead of its appends), writev_*.go and
// raw_writes.go (appends as one pwritev, through a raw system call),
// held.go (a leader's recent appends served from the buffers they came in),
// records_validate.go, records_each.go and decompress_bounded.go (a produced
// batch's records checked, read and decompressed within a bound),
// open_kind.go (whether an open rescans the log), broker_clean_shutdown.go
// (the broker's shutdown marker, Kafka's .kafka_cleanshutdown), config.go.
//
// # Durability
//
// Sync fsyncs every segment holding unflushed records and advances the
// flushed offset (Kafka's recovery point); flush.messages and flush.ms call it,
// and GroupCommitter calls it for many appends at once. Recovery after an
// unclean shutdown rescans the segments past the checkpointed recovery point
// and truncates at the first batch with a short length, a bad CRC-32C or a
// non-increasing offset, dropping every later segment; a segment that ends
// before the next one's base offset loses the later segments only when its
// index files (synced at the roll, ending with its last batch) name a batch
// past its end, since compaction leaves such gaps too (recovery.go);
// everything below the flushed offset at the crash survives. The leader-epoch checkpoint is written
// before the records that start a new epoch, so no record on disk lacks its
// epoch; recovery drops entries past the recovered log end offset.
//
// # Concurrency
//
// A Log is safe for one appender and many concurrent readers: one goroutine
// (the partition actor, or the simulator) calls the mutating methods; any
// goroutine may read, take offsets, look up leader epochs, and call Sync.
// Read returns Records that keep their segments open until released, so
// retention never breaks a read in progress. The Log starts no goroutines
// and reads no clock; GroupCommitter owns one goroutine for production use,
// and CleanJob.Run runs on whichever goroutine the caller gives it.
//
// The package holds no mutable state of its own (a test enforces it): the
// BlockCache hands out the segment ids its keys are made of, so logs sharing
// a cache never collide; each Log, KeyOffsetMap and call of the exported
// compaction helpers has its own Codecs; a Records copies through a block
// of the log's pool when sendfile does not apply. Two Logs in one process share
// nothing but what the caller hands both (the filesystem, the cache, the
// block pool).
//
// # Memory
//
// The bytes of an append are copied once by the log: into the segment file
// (the page cache). A log with a cache also copies them into the active
// segment's tail block, but only while a reader is caught up (tail.go): the
// tail serves that reader from memory and, block by block, feeds the cache.
// A follower's fetch (ReadUntailed) never asks for the tail: a leader sends
// it from the file by sendfile, as Kafka does, without a copy of its own.
// Tail and cache blocks come from a BlockPool shared by the node's logs and
// are counted by reference (Block): the log, the cache and every Records
// pointing into a block hold one, and the block returns to the pool, to be
// filled again, only when the last is released. The cache drops blocks on
// its own goroutine, so a reader that finds a block takes its reference with
// a check that the block still holds the key it looked up. Appends, reads
// and the cache thus reuse the same memory instead of allocating a block per
// 64 KiB; with a poisoning pool (tests), a block used after its release is
// overwritten and caught.
//
// # Compaction
//
// With cleanup.policy=compact the log cleaner (cleaner.go) keeps the latest
// record of each key and tombstones for delete.retention.ms, in three steps
// so that appends never wait for it: PlanClean (appender, cheap: dirty ratio,
// compaction lags) hands out a CleanJob holding the closed segments it will
// read; CleanJob.Run (any goroutine: the node's cleaner) maps keys to latest
// offsets with a bounded KeyOffsetMap and writes cleaned copies of groups of
// segments with filterBatch (a group of several segments becomes one even
// when nothing in it goes); CommitClean (appender) swaps them in and
// advances the cleaner-offset-checkpoint. The swap is ReplaceSegments': the
// cleaned file becomes "<base>-<end>.swap", which recovery completes after a
// crash, and readers holding the old segments keep reading them. Replaced
// segments are below the recovery point, so recovery trusts them; it treats
// a gap between a rescanned segment's end and the next segment's base offset
// as lost data, which holds because segments roll at the log end offset.
// Recovery deletes leftover "<base>.log.cleaned" files.
//
// Producer state (producer_state.go, producer_snapshot.go,
// producer_txnindex.go, producer_clean.go): the Log keeps, for every producer
// id its batches carry, the epoch, the last five batches (sequences and
// offsets), the time of the last batch and the first offset of an open
// transaction, as its batches in offset order build it (ProducerStates.Apply,
// the same function the replica core applies). It writes "<offset>.snapshot"
// files (the state of every batch below the offset) at segment rolls and
// clean shutdown, rebuilds the state on Open and after a truncation from the
// newest snapshot at or below the log end and the batches after it, and
// keeps the aborted transactions in memory and in a "<base>.txnindex" per
// segment (Kafka's layout) for read_committed fetches (AbortedTransactions).
// The cleaner stops at the first unstable offset (every transaction it
// sees is decided), drops the records of aborted transactions, compacts
// those of committed ones by key like any other, and, past
// delete.retention.ms, drops markers whose transaction left nothing (not a
// producer's last batch), as Kafka's cleaner does.
package logstore
