package raftlog

import (
	"fmt"

	"go.etcd.io/raft/v3/raftpb"

	"gregor/logstore"
)

// State is what a log holds: what a raft node restarts from.
type State struct {
	// Snapshot is the snapshot the entries continue; nil when there is none
	// (a log that never took or received one).
	Snapshot *raftpb.Snapshot
	// HardState is raft's last saved hard state; nil when none was saved.
	// Its commit index is never past the last entry, nor below the
	// snapshot.
	HardState *raftpb.HardState
	// Entries are the entries after the snapshot, contiguous and in order.
	Entries []*raftpb.Entry
}

// Empty says whether the log holds nothing at all: a node that never
// started, or never heard from a quorum.
func (s State) Empty() bool {
	return s.Snapshot == nil && s.HardState == nil && len(s.Entries) == 0
}

// LastIndex is the index of the last entry, or of the snapshot when no entry
// follows it (0 for an empty log).
func (s State) LastIndex() uint64 {
	if n := len(s.Entries); n > 0 {
		return s.Entries[n-1].GetIndex()
	}
	return s.Snapshot.GetMetadata().GetIndex()
}

// segmentState is a segment replayed: its base, the entries after it and
// the last hard state.
type segmentState struct {
	snapIndex, snapTerm uint64
	hardState           *raftpb.HardState
	entries             []*raftpb.Entry
}

func (s *segmentState) lastIndex() uint64 { return s.snapIndex + uint64(len(s.entries)) }

// termAt is the term of the entry at index i, which must be the snapshot's
// or one of the entries.
func (s *segmentState) termAt(i uint64) uint64 {
	if i == s.snapIndex {
		return s.snapTerm
	}
	return s.entries[i-s.snapIndex-1].GetTerm()
}

// replaySegment reads a segment's records. It stops at the first record a
// torn write cut short or damaged, and returns how many bytes before it are
// whole. A segment whose base is not whole, or a whole record that breaks
// the log's rules, is logstore.ErrCorruption.
func replaySegment(p []byte) (*segmentState, int, error) {
	kind, payload, n, err := decodeRecord(p, maxLogRecordBytes)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: segment base: %v", logstore.ErrCorruption, err)
	}
	if kind != kindBase {
		return nil, 0, fmt.Errorf("%w: segment starts with a record of kind %d, not its base", logstore.ErrCorruption, kind)
	}
	s := &segmentState{}
	if s.snapIndex, s.snapTerm, err = decodeBase(payload); err != nil {
		return nil, 0, err
	}
	whole := n
	for whole < len(p) {
		kind, payload, n, err := decodeRecord(p[whole:], maxLogRecordBytes)
		if isTorn(err) {
			return s, whole, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("raft log record at byte %d: %w", whole, err)
		}
		switch kind {
		case kindEntry:
			err = s.applyEntry(payload)
		case kindHardState:
			err = s.applyHardState(payload)
		default:
			err = fmt.Errorf("%w: record of kind %d inside a segment", logstore.ErrCorruption, kind)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("raft log record at byte %d: %w", whole, err)
		}
		whole += n
	}
	return s, whole, nil
}

// applyEntry appends an entry, replacing the one at its index and every
// later one, as raft's log does.
func (s *segmentState) applyEntry(payload []byte) error {
	e, err := decodeEntry(payload)
	if err != nil {
		return err
	}
	i, last := e.GetIndex(), s.lastIndex()
	switch {
	case i <= s.snapIndex:
		return fmt.Errorf("%w: entry %d at or below the snapshot at %d", logstore.ErrCorruption, i, s.snapIndex)
	case i > last+1:
		return fmt.Errorf("%w: entry %d after entry %d leaves a gap", logstore.ErrCorruption, i, last)
	case e.GetTerm() < s.termAt(i-1):
		return fmt.Errorf("%w: entry %d at term %d follows term %d", logstore.ErrCorruption, i, e.GetTerm(), s.termAt(i-1))
	}
	if i <= last && i <= s.hardState.GetCommit() && s.termAt(i) != e.GetTerm() {
		return fmt.Errorf("%w: entry %d replaced at term %d below the commit index %d", logstore.ErrCorruption, i, e.GetTerm(), s.hardState.GetCommit())
	}
	s.entries = append(s.entries[:i-s.snapIndex-1], e)
	return nil
}

// applyHardState makes a hard state the last one. It never commits past the
// last entry, nor goes back in term.
func (s *segmentState) applyHardState(payload []byte) error {
	hs, err := decodeHardState(payload)
	if err != nil {
		return err
	}
	if hs.GetCommit() > s.lastIndex() {
		return fmt.Errorf("%w: hard state commits %d past the last entry %d", logstore.ErrCorruption, hs.GetCommit(), s.lastIndex())
	}
	if hs.GetTerm() < s.hardState.GetTerm() {
		return fmt.Errorf("%w: hard state term %d after term %d", logstore.ErrCorruption, hs.GetTerm(), s.hardState.GetTerm())
	}
	s.hardState = hs
	return nil
}
