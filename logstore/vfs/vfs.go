package vfs

import (
	"io"
	"os"
)

// FS is a filesystem. Directory entries created, renamed or removed are durable
// only once the parent directory has been synced with SyncDir.
type FS interface {
	// OpenFile opens name with os.O_* flags.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove deletes a file or an empty directory.
	Remove(name string) error
	// RemoveAll deletes name and everything below it; a missing name is no error.
	RemoveAll(name string) error
	// Rename atomically moves oldpath to newpath, replacing newpath.
	Rename(oldpath, newpath string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(path string, perm os.FileMode) error
	// ReadDir lists the names in a directory, sorted.
	ReadDir(name string) ([]string, error)
	// Stat describes name.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the directory's entries durable (fsync of the directory).
	SyncDir(name string) error
}

// File is an open file.
type File interface {
	io.ReaderAt
	// Write appends at the file's write position (the end for O_APPEND files).
	io.Writer
	io.WriterAt
	io.Closer
	// Sync makes every write before it durable.
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Size is the current size, including unsynced writes.
	Size() (int64, error)
	// Name is the path the file was opened with.
	Name() string
}

// OSFiler is implemented by files backed by an *os.File, so a reader can hand a
// file section to sendfile.
type OSFiler interface {
	OSFile() *os.File
}

// FSSyncer is an FS that makes everything written to the filesystem that
// holds a directory durable at once, file contents and directory entries
// (Linux's syncfs): one journal commit, where syncing a thousand
// directories one by one costs up to a commit each.
type FSSyncer interface {
	SyncFS(dir string) error
}
