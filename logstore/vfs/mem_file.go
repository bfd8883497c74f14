package vfs

import (
	"io"
	"io/fs"
	"syscall"
)

// memFile is an open File of a Mem.
type memFile struct {
	m     *Mem
	node  *memNode
	name  string
	epoch uint64

	readable, writable, appends bool

	// Guarded by m.mu.
	pos    int64
	closed bool
}

var _ File = (*memFile)(nil)

// Name is the path the file was opened with.
func (f *memFile) Name() string { return f.name }

// start begins op on f and, on success, returns with f.m.mu held.
func (f *memFile) start(op Op) error {
	if err := f.m.begin(op, f.name); err != nil {
		return &fs.PathError{Op: string(op), Path: f.name, Err: err}
	}
	f.m.mu.Lock()
	var err error
	switch {
	case f.epoch != f.m.epoch:
		err = ErrCrashed
	case f.closed:
		err = fs.ErrClosed
	}
	if err != nil {
		f.m.mu.Unlock()
		return &fs.PathError{Op: string(op), Path: f.name, Err: err}
	}
	return nil
}

// ReadAt reads len(p) bytes at off; fewer at the end of the file, with io.EOF.
func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.start(OpReadAt); err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	if !f.readable {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: syscall.EBADF}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: syscall.EINVAL}
	}
	data := f.node.data
	if off >= int64(len(data)) {
		return 0, io.EOF
	}
	n := copy(p, data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Write writes p at the write position (the end for O_APPEND files) and
// advances it.
func (f *memFile) Write(p []byte) (int, error) {
	if err := f.start(OpWrite); err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	off := f.pos
	if f.appends {
		off = int64(len(f.node.data))
	}
	n, err := f.writeLocked(p, off, "write")
	f.pos = off + int64(n)
	return n, err
}

// WriteAt writes p at off, extending the file with zeros if off is past its
// end.
func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.start(OpWriteAt); err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	if f.appends {
		// As os.File: WriteAt on an O_APPEND file is refused.
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: syscall.EINVAL}
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: syscall.EINVAL}
	}
	return f.writeLocked(p, off, "writeat")
}

// writeLocked writes what fits of p at off under the space limit.
func (f *memFile) writeLocked(p []byte, off int64, opName string) (int, error) {
	if !f.writable {
		return 0, &fs.PathError{Op: opName, Path: f.name, Err: syscall.EBADF}
	}
	node, m := f.node, f.m
	size := int64(len(node.data))
	// Bytes up to the current size are overwritten in place and cost nothing;
	// growth beyond it must fit in what is left under the limit.
	fits := int64(len(p))
	var err error
	if grow := off + fits - size; grow > 0 && grow > m.limitBytes-m.usedBytes {
		fits = max(0, size+max(0, m.limitBytes-m.usedBytes)-off)
		err = &fs.PathError{Op: opName, Path: f.name, Err: syscall.ENOSPC}
	}
	if fits == 0 {
		return 0, err
	}
	end := off + fits
	node.beforeMutate(min(off, size))
	if end > size {
		node.data = append(node.data, make([]byte, end-size)...)
		m.usedBytes += end - size
	}
	copy(node.data[off:end], p[:fits])
	if m.tornRand != nil {
		node.lastWrite = &pendingWrite{off: off, data: append([]byte(nil), p[:fits]...)}
	}
	return int(fits), err
}

// Close releases the file; later operations on it fail.
func (f *memFile) Close() error {
	if err := f.start(OpClose); err != nil {
		return err
	}
	defer f.m.mu.Unlock()
	f.closed = true
	f.node.opens--
	if f.node.opens == 0 && !f.node.linked {
		f.m.usedBytes -= int64(len(f.node.data))
	}
	return nil
}

// Sync makes the file's current content durable.
func (f *memFile) Sync() error {
	if err := f.start(OpSync); err != nil {
		return err
	}
	defer f.m.mu.Unlock()
	node := f.node
	node.synced = node.data[:len(node.data):len(node.data)]
	node.syncedShared = true
	node.lastWrite = nil
	return nil
}

// Truncate changes the file's size, extending it with zeros.
func (f *memFile) Truncate(size int64) error {
	if err := f.start(OpTruncate); err != nil {
		return err
	}
	defer f.m.mu.Unlock()
	if !f.writable {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	if size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	node, m := f.node, f.m
	cur := int64(len(node.data))
	if grow := size - cur; grow > 0 && grow > m.limitBytes-m.usedBytes {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: syscall.ENOSPC}
	}
	node.beforeMutate(min(size, cur))
	if size < cur {
		node.data = node.data[:size]
	} else {
		node.data = append(node.data, make([]byte, size-cur)...)
	}
	if node.linked || node.opens > 0 {
		m.usedBytes += size - cur
	}
	node.lastWrite = nil
	return nil
}

// Size is the current size, including unsynced writes.
func (f *memFile) Size() (int64, error) {
	if err := f.start(OpSize); err != nil {
		return 0, err
	}
	defer f.m.mu.Unlock()
	return int64(len(f.node.data)), nil
}
