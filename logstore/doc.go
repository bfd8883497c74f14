// Package logstore is the partition log: segments of Kafka RecordBatch v2
// batches named by their 20-digit base offset, sparse offset and time indexes,
// crash recovery, flush policies with group-commit fsync, retention, compaction
// and durable checkpoints. It works over the filesystem interface in
// logstore/vfs (the OS, or an in-memory one that simulates crashes), and caches
// blocks through a small interface implemented by logstore/blockcache.
//
// It imports nothing of gregor outside logstore/... .
//
// # Layout
//
// A partition directory holds, per segment, <base>.log (batches exactly as
// received, base offset and partition leader epoch rewritten), <base>.index
// (relative offset → position, one entry per index.interval.bytes) and
// <base>.timeindex (max timestamp so far → relative offset), plus the
// recovery-point-offset-checkpoint, log-start-offset-checkpoint and the
// clean-shutdown marker, each replaced atomically. Index files are written
// when a segment rolls and at Close; the active segment's are rebuilt by
// recovery.
//
// # Durability
//
// Sync fsyncs every segment holding unflushed records and advances the
// flushed offset (Kafka's recovery point); flush.messages and flush.ms call it,
// and GroupCommitter calls it for many appends at once. Recovery after an
// unclean shutdown rescans the segments past the checkpointed recovery point
// and truncates at the first batch with a short length, a bad CRC-32C or a
// non-increasing offset, dropping every later segment; everything below the
// flushed offset at the crash survives.
//
// # Concurrency
//
// A Log is safe for one appender and many concurrent readers: one goroutine
// (the partition actor, or the simulator) calls the mutating methods; any
// goroutine may read, take offsets, and call Sync. Read returns Records that
// keep their segments open until released, so retention never breaks a read
// in progress. The Log starts no goroutines and reads no clock;
// GroupCommitter owns one goroutine for production use.
//
// # Compaction seam
//
// Segments lists the segments; a compactor writes a cleaned copy of a run of
// non-active segments and ReplaceSegments swaps it in atomically (through a
// "<base>-<end>.swap" file that recovery completes after a crash). Replaced
// segments are below the recovery point, so recovery trusts them; it treats a
// gap between a rescanned segment's end and the next segment's base offset as
// lost data, which holds because segments roll at the log end offset.
package logstore
