// Package vfs is the filesystem the log store runs on: the operating system's
// (OS), or an in-memory one (Mem) that can simulate a crash, torn writes, a
// full disk and injected I/O errors, for tests and the simulator. Paths use
// forward slashes. WriteFileAtomic replaces a small file (a checkpoint)
// crash-safely on either.
//
// It imports nothing of gregor.
//
// Concurrency: an FS and its Files are safe for concurrent use, with the usual
// file semantics (concurrent ReadAt with one writer).
package vfs
