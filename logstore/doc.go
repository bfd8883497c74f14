// Package logstore is the partition log: segments of Kafka RecordBatch v2
// batches named by their 20-digit base offset, sparse offset and time indexes,
// crash recovery, flush policies with group-commit fsync, retention, compaction
// and durable checkpoints. It works over the filesystem interface in
// logstore/vfs (the OS, or an in-memory one that simulates crashes), and caches
// blocks through a small interface implemented by logstore/blockcache.
//
// It imports nothing of gregor outside logstore/... .
//
// Concurrency: a Log is safe for one appender and many concurrent readers;
// see the Log type for the exact contract.
package logstore
