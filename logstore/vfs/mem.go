package vfs

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
)

// ErrCrashed is returned by every operation on a File opened before a crash,
// and by every operation of a Mem after the op budget of CrashAfterOps ran
// out (until Crash is called). Test with errors.Is.
var ErrCrashed = errors.New("vfs: simulated crash")

// Op names a filesystem operation, as handed to an ErrorHook.
type Op string

// The operations of FS and File. Every one of them counts towards OpCount
// (File.Name does not, it is no I/O).
const (
	OpOpen      Op = "open"
	OpRemove    Op = "remove"
	OpRemoveAll Op = "removeall"
	OpRename    Op = "rename"
	OpMkdirAll  Op = "mkdirall"
	OpReadDir   Op = "readdir"
	OpStat      Op = "stat"
	OpSyncDir   Op = "syncdir"
	OpSyncFS    Op = "syncfs"
	OpReadAt    Op = "readat"
	OpWrite     Op = "write"
	OpWriteAt   Op = "writeat"
	OpClose     Op = "close"
	OpSync      Op = "sync"
	OpTruncate  Op = "truncate"
	OpSize      Op = "size"
)

// ErrorHook decides whether an operation fails before it takes effect: a
// non-nil return is the operation's error (wrapped in an *fs.PathError) and
// nothing is changed. For Rename, path is the old path. It is called without
// Mem's lock held, so it may call Mem's methods (Crash included).
type ErrorHook func(op Op, path string) error

// MemOption configures NewMem.
type MemOption func(*Mem)

// WithTornWrites makes Crash keep a random prefix (possibly empty, possibly
// all) of the last unsynced write of every file, as a disk that tore that write
// would. The prefix lengths come from a PRNG seeded with seed, so the same
// sequence of operations and crashes gives the same bytes.
func WithTornWrites(seed uint64) MemOption {
	return func(m *Mem) { m.tornRand = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// Mem is an in-memory FS that simulates crashes. Each file keeps its content as
// of its last File.Sync beside its current content; each directory keeps its
// entries as of its last SyncDir beside its current ones. Crash reverts both,
// so only what was made durable survives.
//
// Semantics worth knowing:
//   - A created, renamed or removed entry is durable only after SyncDir of its
//     parent; a new directory made by MkdirAll likewise needs SyncDir of its
//     parent (the root always exists). A rename across directories is durable
//     in each directory separately; should a crash find a node durable under
//     two names, it keeps the current one (else the first in sorted order).
//   - Removing a file frees its space at once, even if it is still open.
//   - Directories cannot be opened with OpenFile (use SyncDir).
//   - Nothing observable depends on map order; ReadDir is sorted; Stat's
//     ModTime is the zero time.
//
// Mem is safe for concurrent use.
type Mem struct {
	mu   sync.Mutex
	root *memNode
	// epoch increases at each crash; a File opened in an older epoch is dead.
	epoch uint64

	opCount int64
	// opLimit is the op count after which every op fails with ErrCrashed.
	opLimit int64
	hook    ErrorHook

	usedBytes  int64
	limitBytes int64

	tornRand *rand.Rand
}

// NewMem returns an empty in-memory filesystem holding only the root
// directory.
func NewMem(opts ...MemOption) *Mem {
	m := &Mem{
		root:       newDirNode(),
		opLimit:    math.MaxInt64,
		limitBytes: math.MaxInt64,
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// SetErrorHook installs h (nil removes it). See ErrorHook.
func (m *Mem) SetErrorHook(h ErrorHook) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.hook = h
}

// SetSpaceLimit caps the bytes held by files (linked or open) at limitBytes; a
// negative limit removes the cap. A write that would pass the cap writes what
// fits and fails with an error wrapping syscall.ENOSPC; writes succeed again
// once space is freed or the cap raised. Lowering the cap below the current use
// deletes nothing.
func (m *Mem) SetSpaceLimit(limitBytes int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if limitBytes < 0 {
		limitBytes = math.MaxInt64
	}
	m.limitBytes = limitBytes
}

// UsedBytes is the number of bytes held by files that are linked or open.
func (m *Mem) UsedBytes() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.usedBytes
}

// OpCount is the number of operations begun so far (including failed ones,
// excluding those refused after the CrashAfterOps budget ran out).
func (m *Mem) OpCount() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.opCount
}

// CrashAfterOps lets n more operations run; every later one fails with
// ErrCrashed and changes nothing, as if the machine lost power right after
// the nth. Call Crash to "reboot": it reverts to the durable state and lifts
// the limit. A negative n lifts the limit without crashing.
func (m *Mem) CrashAfterOps(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n < 0 {
		m.opLimit = math.MaxInt64
		return
	}
	m.opLimit = m.opCount + n
}

// Crash simulates a power loss and reboot: every file reverts to its content
// as of its last Sync (plus a torn prefix of its last unsynced write with
// WithTornWrites), every directory to its entries as of its last SyncDir, and
// every File opened before becomes unusable (ErrCrashed). The op budget of
// CrashAfterOps is lifted; the error hook and space limit stay.
func (m *Mem) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch++
	m.opLimit = math.MaxInt64
	m.usedBytes = 0
	dedupeDurable(m.root)
	visited := make(map[*memNode]bool)
	m.revertDir(m.root, visited)
}

// durableLocation is a durable directory entry.
type durableLocation struct {
	dir  *memNode
	name string
}

// dedupeDurable makes every node durably reachable under one name at most.
// Renames across directories are durable in each directory separately, so
// after syncing both parents at different times a node can be durable under
// its old and its new name; a real filesystem journals a rename as one
// transaction. The name kept is the one that is also current, else the first
// in sorted walk order.
func dedupeDurable(root *memNode) {
	locations := make(map[*memNode][]durableLocation)
	var order []*memNode
	var walk func(dir *memNode)
	walk = func(dir *memNode) {
		for _, name := range sortedNames(dir.durableEntries) {
			n := dir.durableEntries[name]
			seen := len(locations[n]) > 0
			if !seen {
				order = append(order, n)
			}
			locations[n] = append(locations[n], durableLocation{dir, name})
			if n.isDir && !seen {
				walk(n)
			}
		}
	}
	walk(root)
	for _, n := range order {
		locs := locations[n]
		if len(locs) < 2 {
			continue
		}
		keep := 0
		for i, l := range locs {
			if l.dir.entries[l.name] == n {
				keep = i
				break
			}
		}
		for i, l := range locs {
			if i != keep {
				delete(l.dir.durableEntries, l.name)
			}
		}
	}
}

// revertDir replaces dir's entries by its durable ones and reverts everything
// reachable from them, in sorted name order so the torn-write PRNG is consumed
// deterministically.
func (m *Mem) revertDir(dir *memNode, visited map[*memNode]bool) {
	if visited[dir] {
		return
	}
	visited[dir] = true
	dir.entries = cloneEntries(dir.durableEntries)
	for _, name := range sortedNames(dir.entries) {
		n := dir.entries[name]
		if n.isDir {
			m.revertDir(n, visited)
			continue
		}
		if visited[n] {
			continue
		}
		visited[n] = true
		m.revertFile(n)
	}
}

// revertFile makes n's durable content (with a torn last write) its content.
func (m *Mem) revertFile(n *memNode) {
	data := append([]byte(nil), n.synced...)
	if m.tornRand != nil && n.lastWrite != nil {
		w := n.lastWrite
		keep := m.tornRand.IntN(len(w.data) + 1)
		if end := w.off + int64(keep); keep > 0 {
			if end > int64(len(data)) {
				data = append(data, make([]byte, end-int64(len(data)))...)
			}
			copy(data[w.off:end], w.data[:keep])
		}
	}
	n.data = data
	n.synced = data[:len(data):len(data)]
	n.syncedShared = true
	n.lastWrite = nil
	n.linked = true
	n.opens = 0
	m.usedBytes += int64(len(data))
}

// begin counts an operation, refuses it after the op budget ran out and asks
// the error hook about it. It must be called without m.mu held.
func (m *Mem) begin(op Op, path string) error {
	m.mu.Lock()
	if m.opCount >= m.opLimit {
		m.mu.Unlock()
		return ErrCrashed
	}
	m.opCount++
	hook := m.hook
	m.mu.Unlock()
	if hook == nil {
		return nil
	}
	if err := hook(op, path); err != nil {
		return fmt.Errorf("injected: %w", err)
	}
	return nil
}
