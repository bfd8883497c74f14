package vfs

import (
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"time"
)

// memNode is a directory or a file of a Mem. All fields are guarded by Mem.mu.
type memNode struct {
	isDir bool

	// Directories: current entries and entries as of the last SyncDir.
	entries        map[string]*memNode
	durableEntries map[string]*memNode

	// Files: current content and content as of the last Sync. synced may share
	// data's backing array (syncedShared); mutate data only after
	// beforeMutate.
	data         []byte
	synced       []byte
	syncedShared bool
	// lastWrite is the last write since the last Sync, kept only for torn
	// writes.
	lastWrite *pendingWrite
	// linked is whether a directory entry of the current tree names the file;
	// opens counts its open Files. Its bytes count as used while either holds.
	linked bool
	opens  int
}

type pendingWrite struct {
	off  int64
	data []byte
}

func newDirNode() *memNode {
	return &memNode{
		isDir:          true,
		entries:        make(map[string]*memNode),
		durableEntries: make(map[string]*memNode),
	}
}

// beforeMutate must be called before data is changed at index from or above:
// it gives synced its own copy if data's change would show through it.
func (n *memNode) beforeMutate(from int64) {
	if n.syncedShared && from < int64(len(n.synced)) {
		n.synced = append([]byte(nil), n.synced...)
		n.syncedShared = false
	}
}

func cloneEntries(src map[string]*memNode) map[string]*memNode {
	dst := make(map[string]*memNode, len(src))
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

func sortedNames(entries map[string]*memNode) []string {
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// splitPath cleans name into its elements below the root; "/a/b", "a/b" and
// "a//b/" are the same path, and the root has no elements.
func splitPath(name string) []string {
	p := path.Clean("/" + name)
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// lookup finds the node at the path of elems.
func (m *Mem) lookup(elems []string) (*memNode, error) {
	n := m.root
	for _, e := range elems {
		if !n.isDir {
			return nil, syscall.ENOTDIR
		}
		next, ok := n.entries[e]
		if !ok {
			return nil, syscall.ENOENT
		}
		n = next
	}
	return n, nil
}

// lookupParent finds the directory that holds the last element of name, and
// that element. The root has no parent (EINVAL).
func (m *Mem) lookupParent(name string) (*memNode, string, error) {
	elems := splitPath(name)
	if len(elems) == 0 {
		return nil, "", syscall.EINVAL
	}
	dir, err := m.lookup(elems[:len(elems)-1])
	if err != nil {
		return nil, "", err
	}
	if !dir.isDir {
		return nil, "", syscall.ENOTDIR
	}
	return dir, elems[len(elems)-1], nil
}

// unlink accounts for file n losing its directory entry.
func (m *Mem) unlink(n *memNode) {
	if n.isDir {
		for _, name := range sortedNames(n.entries) {
			m.unlink(n.entries[name])
		}
		return
	}
	if n.linked && n.opens == 0 {
		m.usedBytes -= int64(len(n.data))
	}
	n.linked = false
}

// OpenFile opens name with os.O_* flags (O_RDONLY, O_WRONLY, O_RDWR, O_CREATE,
// O_EXCL, O_TRUNC, O_APPEND). Directories cannot be opened.
func (m *Mem) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := m.begin(OpOpen, name); err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.openNode(name, flag)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	access := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	n.opens++
	return &memFile{
		m:        m,
		node:     n,
		name:     name,
		epoch:    m.epoch,
		readable: access == os.O_RDONLY || access == os.O_RDWR,
		writable: access == os.O_WRONLY || access == os.O_RDWR,
		appends:  flag&os.O_APPEND != 0,
	}, nil
}

// openNode finds or creates the file that OpenFile opens, applying O_TRUNC.
func (m *Mem) openNode(name string, flag int) (*memNode, error) {
	dir, base, err := m.lookupParent(name)
	if err != nil {
		return nil, err
	}
	n, ok := dir.entries[base]
	switch {
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, syscall.EEXIST
	case ok && n.isDir:
		return nil, syscall.EISDIR
	case !ok && flag&os.O_CREATE == 0:
		return nil, syscall.ENOENT
	case !ok:
		n = &memNode{linked: true}
		dir.entries[base] = n
	}
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if flag&os.O_TRUNC != 0 && writable && len(n.data) > 0 {
		n.beforeMutate(0)
		m.usedBytes -= int64(len(n.data))
		n.data = n.data[:0]
		n.lastWrite = nil
	}
	return n, nil
}

// Remove deletes a file or an empty directory.
func (m *Mem) Remove(name string) error {
	if err := m.begin(OpRemove, name); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.lookupParent(name)
	if err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	n, ok := dir.entries[base]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOENT}
	}
	if n.isDir && len(n.entries) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(dir.entries, base)
	m.unlink(n)
	return nil
}

// RemoveAll deletes name and everything below it; a missing name is no error.
func (m *Mem) RemoveAll(name string) error {
	if err := m.begin(OpRemoveAll, name); err != nil {
		return &fs.PathError{Op: "removeall", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir, base, err := m.lookupParent(name)
	if err != nil {
		if err == syscall.ENOENT {
			return nil
		}
		return &fs.PathError{Op: "removeall", Path: name, Err: err}
	}
	if n, ok := dir.entries[base]; ok {
		delete(dir.entries, base)
		m.unlink(n)
	}
	return nil
}

// Rename atomically moves oldpath to newpath, replacing a file or an empty
// directory at newpath.
func (m *Mem) Rename(oldpath, newpath string) error {
	if err := m.begin(OpRename, oldpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.rename(oldpath, newpath); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

func (m *Mem) rename(oldpath, newpath string) error {
	oldDir, oldBase, err := m.lookupParent(oldpath)
	if err != nil {
		return err
	}
	n, ok := oldDir.entries[oldBase]
	if !ok {
		return syscall.ENOENT
	}
	newDir, newBase, err := m.lookupParent(newpath)
	if err != nil {
		return err
	}
	if n.isDir && m.isBelow(newDir, n) {
		return syscall.EINVAL
	}
	target, exists := newDir.entries[newBase]
	if exists {
		switch {
		case target == n:
			return nil
		case n.isDir && !target.isDir:
			return syscall.ENOTDIR
		case !n.isDir && target.isDir:
			return syscall.EISDIR
		case target.isDir && len(target.entries) > 0:
			return syscall.ENOTEMPTY
		}
		m.unlink(target)
	}
	delete(oldDir.entries, oldBase)
	newDir.entries[newBase] = n
	return nil
}

// isBelow reports whether dir is ancestor or dir itself.
func (m *Mem) isBelow(dir, ancestor *memNode) bool {
	if dir == ancestor {
		return true
	}
	for _, name := range sortedNames(ancestor.entries) {
		if c := ancestor.entries[name]; c.isDir && m.isBelow(dir, c) {
			return true
		}
	}
	return false
}

// MkdirAll creates a directory and its parents. New directories are durable
// only once their parent is synced with SyncDir.
func (m *Mem) MkdirAll(name string, perm os.FileMode) error {
	if err := m.begin(OpMkdirAll, name); err != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, e := range splitPath(name) {
		next, ok := n.entries[e]
		if !ok {
			next = newDirNode()
			n.entries[e] = next
		}
		if !next.isDir {
			return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
		}
		n = next
	}
	return nil
}

// ReadDir lists the names in a directory, sorted.
func (m *Mem) ReadDir(name string) ([]string, error) {
	if err := m.begin(OpReadDir, name); err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(splitPath(name))
	if err == nil && !n.isDir {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	return sortedNames(n.entries), nil
}

// Stat describes name. ModTime is always the zero time.
func (m *Mem) Stat(name string) (os.FileInfo, error) {
	if err := m.begin(OpStat, name); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	elems := splitPath(name)
	n, err := m.lookup(elems)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	base := "/"
	if len(elems) > 0 {
		base = elems[len(elems)-1]
	}
	return memFileInfo{name: base, size: int64(len(n.data)), isDir: n.isDir}, nil
}

// SyncDir makes the directory's current entries durable.
func (m *Mem) SyncDir(name string) error {
	if err := m.begin(OpSyncDir, name); err != nil {
		return &fs.PathError{Op: "sync", Path: name, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.lookup(splitPath(name))
	if err == nil && !n.isDir {
		err = syscall.ENOTDIR
	}
	if err != nil {
		return &fs.PathError{Op: "sync", Path: name, Err: err}
	}
	n.durableEntries = cloneEntries(n.entries)
	return nil
}

// SyncFS makes every file's content and every directory's entries
// durable: Mem is one filesystem, and syncfs syncs the whole of it.
func (m *Mem) SyncFS(dir string) error {
	if err := m.begin(OpSyncFS, dir); err != nil {
		return &fs.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.lookup(splitPath(dir)); err != nil {
		return &fs.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	syncTree(m.root, map[*memNode]bool{})
	return nil
}

func syncTree(dir *memNode, visited map[*memNode]bool) {
	if visited[dir] {
		return
	}
	visited[dir] = true
	dir.durableEntries = cloneEntries(dir.entries)
	for _, n := range dir.entries {
		if n.isDir {
			syncTree(n, visited)
			continue
		}
		n.synced = n.data[:len(n.data):len(n.data)]
		n.syncedShared = true
		n.lastWrite = nil
	}
}

var _ FSSyncer = (*Mem)(nil)

// memFileInfo is the os.FileInfo of a Mem node.
type memFileInfo struct {
	name  string
	size  int64
	isDir bool
}

func (fi memFileInfo) Name() string { return fi.name }
func (fi memFileInfo) Size() int64  { return fi.size }
func (fi memFileInfo) Mode() os.FileMode {
	if fi.isDir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (fi memFileInfo) ModTime() time.Time { return time.Time{} }
func (fi memFileInfo) IsDir() bool        { return fi.isDir }
func (fi memFileInfo) Sys() any           { return nil }
