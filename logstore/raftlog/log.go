package raftlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// DirName is the directory of the metadata log in a data directory, as
// Kafka names it.
const DirName = "__cluster_metadata"

const (
	segmentSuffix  = ".log"
	snapshotSuffix = ".snap"
	// maxSegmentBytes bounds the segment Open and Compact read.
	maxSegmentBytes = 1 << 31
)

// Update is the durable part of one raft Ready, saved in this order: the
// snapshot, the entries, the hard state.
type Update struct {
	// Snapshot is a snapshot to install (nil or empty: none). Entries at or
	// below its index go; its file is written before anything else.
	Snapshot *raftpb.Snapshot
	// Entries are appended; one at an index the log holds replaces that
	// entry and every later one.
	Entries []*raftpb.Entry
	// HardState replaces the saved hard state (nil or empty: unchanged).
	HardState *raftpb.HardState
	// MustSync says the update must be durable before Save returns.
	MustSync bool
}

// Log is the durable raft log in one directory.
type Log struct {
	fs     vfs.FS
	dir    string
	logger *zap.Logger

	// seq is the active segment's sequence number; f is it, open for
	// writing, and size its length in whole records.
	seq  uint64
	f    vfs.File
	size int64

	snapIndex, snapTerm uint64
	lastIndex           uint64
	hardState           *raftpb.HardState

	// broken is set when a write or fsync failed: the log refuses every
	// later write and the node must restart to recover it.
	broken error
	buf    []byte
}

// Open recovers the log in dir, creating dir and an empty log when there is
// none, and returns it with the state it holds. A torn tail is cut off and
// files a crash left behind are removed.
func Open(fsys vfs.FS, dir string, logger *zap.Logger) (*Log, State, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	l := &Log{fs: fsys, dir: dir, logger: logger}
	if err := makeDirDurable(fsys, dir); err != nil {
		return nil, State{}, err
	}
	names, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, State{}, fmt.Errorf("list %s: %w", dir, err)
	}
	segments, snapshots := listFiles(names)
	if len(segments) == 0 {
		if len(snapshots) > 0 {
			return nil, State{}, fmt.Errorf("%w: %s holds snapshots but no log segment", logstore.ErrCorruption, dir)
		}
		if err := l.createSegment(1, appendRecord(nil, kindBase, basePayload(0, 0))); err != nil {
			return nil, State{}, err
		}
		l.removeStale(names)
		return l, State{}, nil
	}
	st, err := l.recover(segments[len(segments)-1])
	if err != nil {
		return nil, State{}, err
	}
	l.removeStale(names)
	return l, st, nil
}

// recover reads the segment seq and the snapshot it continues, cuts off its
// torn tail, and opens it for appending.
func (l *Log) recover(seq uint64) (State, error) {
	name := path.Join(l.dir, segmentName(seq))
	p, err := logstore.ReadWholeFile(l.fs, name, maxSegmentBytes)
	if err != nil {
		return State{}, err
	}
	s, whole, err := replaySegment(p)
	if err != nil {
		return State{}, fmt.Errorf("%s: %w", name, err)
	}
	var st State
	if s.snapIndex > 0 {
		snapName := path.Join(l.dir, snapshotName(s.snapIndex))
		sp, err := logstore.ReadWholeFile(l.fs, snapName, maxSnapshotBytes)
		if errors.Is(err, fs.ErrNotExist) {
			return State{}, fmt.Errorf("%w: %s continues snapshot %d, which is missing", logstore.ErrCorruption, name, s.snapIndex)
		}
		if err != nil {
			return State{}, err
		}
		snap, err := decodeSnapshotFile(sp)
		if err != nil {
			return State{}, fmt.Errorf("%s: %w", snapName, err)
		}
		if md := snap.GetMetadata(); md.GetIndex() != s.snapIndex || md.GetTerm() != s.snapTerm {
			return State{}, fmt.Errorf("%w: %s holds index %d term %d, the segment continues index %d term %d",
				logstore.ErrCorruption, snapName, md.GetIndex(), md.GetTerm(), s.snapIndex, s.snapTerm)
		}
		st.Snapshot = snap
	}
	f, err := l.fs.OpenFile(name, os.O_WRONLY, 0o644)
	if err != nil {
		return State{}, fmt.Errorf("open %s: %w", name, err)
	}
	if whole < len(p) {
		l.logger.Warn("metadata log ends in a torn record; cut off", zap.String("segment", name), zap.Int("bytes", len(p)-whole))
		if err := f.Truncate(int64(whole)); err != nil {
			_ = f.Close()
			return State{}, fmt.Errorf("cut %s back to %d bytes: %w", name, whole, err)
		}
	}
	// What the last process wrote is made durable before this one acts on
	// it: a process that stopped after a failed sync (an I/O error) left
	// its last records in the page cache only, and a power loss after this
	// process voted or acknowledged on them would take them back (its term
	// going back, an acknowledged entry lost).
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return State{}, fmt.Errorf("sync %s: %w", name, err)
	}
	l.seq, l.f, l.size = seq, f, int64(whole)
	l.snapIndex, l.snapTerm, l.lastIndex = s.snapIndex, s.snapTerm, s.lastIndex()
	l.hardState = s.hardState
	st.Entries = s.entries
	if hs := s.hardState; hs != nil {
		// A snapshot is committed: a hard state saved with an older commit
		// index (before the snapshot's install) says less than the log.
		st.HardState = &raftpb.HardState{Term: new(hs.GetTerm()), Vote: new(hs.GetVote()), Commit: new(max(hs.GetCommit(), s.snapIndex))}
	}
	return st, nil
}

// Save makes a Ready's snapshot, entries and hard state durable (when
// u.MustSync; else written, to be made durable by a later synced Save). A
// failure leaves the log refusing every later write.
func (l *Log) Save(u Update) error {
	if l.broken != nil {
		return l.broken
	}
	if err := l.checkEntries(u); err != nil {
		return err
	}
	if u.Snapshot.GetMetadata().GetIndex() > 0 {
		hs := l.hardState
		if !isEmptyHardState(u.HardState) {
			hs = u.HardState
		}
		if err := l.startSegment(u.Snapshot, u.Entries, hs); err != nil {
			l.broken = fmt.Errorf("metadata log unusable until restart: %w", err)
			return err
		}
		return nil
	}
	l.buf = l.buf[:0]
	for _, e := range u.Entries {
		l.buf = appendRecord(l.buf, kindEntry, entryPayload(nil, e))
	}
	if !isEmptyHardState(u.HardState) {
		l.buf = appendRecord(l.buf, kindHardState, hardStatePayload(nil, u.HardState))
	}
	if len(l.buf) == 0 {
		return nil
	}
	if err := l.append(l.buf, u.MustSync); err != nil {
		l.broken = fmt.Errorf("metadata log unusable until restart: %w", err)
		return err
	}
	if n := len(u.Entries); n > 0 {
		l.lastIndex = u.Entries[n-1].GetIndex()
	}
	if !isEmptyHardState(u.HardState) {
		l.hardState = u.HardState
	}
	return nil
}

// checkEntries refuses an update that breaks the log's shape: entries out
// of order, too large, leaving a gap, or at or below the snapshot.
func (l *Log) checkEntries(u Update) error {
	base, last := l.snapIndex, l.lastIndex
	if idx := u.Snapshot.GetMetadata().GetIndex(); idx > 0 {
		if idx <= l.snapIndex {
			return fmt.Errorf("install snapshot %d: the log already starts after snapshot %d", idx, l.snapIndex)
		}
		if u.Snapshot.GetMetadata().GetTerm() == 0 {
			return fmt.Errorf("install snapshot %d: term 0", idx)
		}
		base, last = idx, idx
	}
	for i, e := range u.Entries {
		switch {
		case len(e.GetData()) > MaxEntryBytes:
			return fmt.Errorf("entry %d holds %d bytes, more than %d", e.GetIndex(), len(e.GetData()), MaxEntryBytes)
		case i == 0 && (e.GetIndex() <= base || e.GetIndex() > last+1):
			return fmt.Errorf("entry %d does not follow the log (snapshot %d, last entry %d)", e.GetIndex(), base, last)
		case i > 0 && e.GetIndex() != u.Entries[i-1].GetIndex()+1:
			return fmt.Errorf("entry %d follows entry %d", e.GetIndex(), u.Entries[i-1].GetIndex())
		}
	}
	return nil
}

// append writes whole records at the end of the segment, and syncs when
// asked. A failed write is cut off again.
func (l *Log) append(p []byte, sync bool) error {
	if _, err := l.f.WriteAt(p, l.size); err != nil {
		err = fmt.Errorf("append to %s: %w", l.f.Name(), err)
		if terr := l.f.Truncate(l.size); terr != nil {
			return fmt.Errorf("%w (cutting it back: %v)", err, terr)
		}
		return err
	}
	l.size += int64(len(p))
	if sync {
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", l.f.Name(), err)
		}
	}
	return nil
}

// Compact makes snap, taken locally at an index the log holds, the start of
// the log: entries up to its index go. On failure the log still holds
// everything it held; only its size stays.
func (l *Log) Compact(snap *raftpb.Snapshot) error {
	if l.broken != nil {
		return l.broken
	}
	md := snap.GetMetadata()
	if md.GetIndex() <= l.snapIndex || md.GetIndex() > l.lastIndex {
		return fmt.Errorf("compact at %d: the log holds entries %d to %d", md.GetIndex(), l.snapIndex+1, l.lastIndex)
	}
	name := path.Join(l.dir, segmentName(l.seq))
	p, err := logstore.ReadWholeFile(l.fs, name, maxSegmentBytes)
	if err != nil {
		return err
	}
	s, whole, err := replaySegment(p)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if whole != len(p) || s.lastIndex() != l.lastIndex {
		return fmt.Errorf("%w: %s reads back as %d whole bytes of %d, entries to %d, not %d",
			logstore.ErrCorruption, name, whole, len(p), s.lastIndex(), l.lastIndex)
	}
	if term := s.termAt(md.GetIndex()); term != md.GetTerm() {
		return fmt.Errorf("compact at %d: snapshot term %d, the entry's term %d", md.GetIndex(), md.GetTerm(), term)
	}
	tail := s.entries[md.GetIndex()-s.snapIndex:]
	return l.startSegment(snap, tail, l.hardState)
}

// startSegment writes snap's file, then a new segment holding snap's base,
// entries and hs, and removes the segment and snapshot it replaces.
func (l *Log) startSegment(snap *raftpb.Snapshot, entries []*raftpb.Entry, hs *raftpb.HardState) error {
	md := snap.GetMetadata()
	p, err := encodeSnapshotFile(snap)
	if err != nil {
		return err
	}
	snapName := path.Join(l.dir, snapshotName(md.GetIndex()))
	if err := vfs.WriteFileAtomic(l.fs, snapName, p); err != nil {
		return err
	}
	seg := appendRecord(nil, kindBase, basePayload(md.GetIndex(), md.GetTerm()))
	for _, e := range entries {
		seg = appendRecord(seg, kindEntry, entryPayload(nil, e))
	}
	if !isEmptyHardState(hs) {
		seg = appendRecord(seg, kindHardState, hardStatePayload(nil, hs))
	}
	oldSeq, oldSnap := l.seq, l.snapIndex
	if err := l.createSegment(oldSeq+1, seg); err != nil {
		return err
	}
	l.snapIndex, l.snapTerm = md.GetIndex(), md.GetTerm()
	l.lastIndex = l.snapIndex + uint64(len(entries))
	l.hardState = hs
	stale := []string{segmentName(oldSeq)}
	if oldSnap > 0 {
		stale = append(stale, snapshotName(oldSnap))
	}
	l.remove(stale)
	return nil
}

// createSegment writes a whole segment under a temporary name, renames it
// into place (durably) and makes it the active one.
func (l *Log) createSegment(seq uint64, content []byte) error {
	name := path.Join(l.dir, segmentName(seq))
	if err := vfs.WriteFileAtomic(l.fs, name, content); err != nil {
		return err
	}
	f, err := l.fs.OpenFile(name, os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	if l.f != nil {
		// The old segment is no longer needed; a failed close changes
		// nothing durable.
		_ = l.f.Close()
	}
	l.seq, l.f, l.size = seq, f, int64(len(content))
	return nil
}

// removeStale removes what a crash may have left beside the active segment
// and its snapshot: older segments and snapshots, temporary files.
func (l *Log) removeStale(names []string) {
	var stale []string
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, vfs.TempSuffix):
			stale = append(stale, name)
		case name == segmentName(l.seq) || (l.snapIndex > 0 && name == snapshotName(l.snapIndex)):
		case strings.HasSuffix(name, segmentSuffix) || strings.HasSuffix(name, snapshotSuffix):
			if _, ok := parseName(name); ok {
				stale = append(stale, name)
			}
		}
	}
	l.remove(stale)
}

// remove deletes files of the directory that the log no longer needs. A
// failure only leaves them for the next Open.
func (l *Log) remove(names []string) {
	if len(names) == 0 {
		return
	}
	for _, name := range names {
		if err := l.fs.Remove(path.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.logger.Warn("metadata log file not removed", zap.String("file", name), zap.Error(err))
		}
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		l.logger.Warn("metadata log directory not synced", zap.String("dir", l.dir), zap.Error(err))
	}
}

// Size is the length of the active segment in bytes; it grows with every
// Save and shrinks with every snapshot.
func (l *Log) Size() int64 { return l.size }

// Close closes the active segment. It syncs nothing: what was not saved
// with MustSync may be lost.
func (l *Log) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if l.broken == nil {
		l.broken = errors.New("metadata log closed")
	}
	return err
}

func isEmptyHardState(hs *raftpb.HardState) bool {
	return hs.GetTerm() == 0 && hs.GetVote() == 0 && hs.GetCommit() == 0
}

func segmentName(seq uint64) string    { return fmt.Sprintf("%020d%s", seq, segmentSuffix) }
func snapshotName(index uint64) string { return fmt.Sprintf("%020d%s", index, snapshotSuffix) }
func parseName(name string) (uint64, bool) {
	stem, _, ok := strings.Cut(name, ".")
	if !ok || len(stem) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(stem, 10, 64)
	return n, err == nil
}

// listFiles returns the sequence numbers of the segments and the indexes of
// the snapshots among names, in increasing order (names are sorted, and the
// numbers have a fixed width).
func listFiles(names []string) (segments, snapshots []uint64) {
	for _, name := range names {
		n, ok := parseName(name)
		switch {
		case !ok:
		case name == segmentName(n):
			segments = append(segments, n)
		case name == snapshotName(n):
			snapshots = append(snapshots, n)
		}
	}
	return segments, snapshots
}

// makeDirDurable creates dir and its missing parents, and syncs the parent
// of each directory it created so that the new entries survive a crash.
func makeDirDurable(fsys vfs.FS, dir string) error {
	var missing []string
	for p := path.Clean(dir); p != "." && p != "/"; p = path.Dir(p) {
		if _, err := fsys.Stat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		missing = append(missing, p)
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := fsys.SyncDir(path.Dir(missing[i])); err != nil {
			return fmt.Errorf("sync %s: %w", path.Dir(missing[i]), err)
		}
	}
	return nil
}
