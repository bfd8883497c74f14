package raftlog

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"gregor/logstore/vfs"
)

// crashModel is the log a raft node would have written: what Save and
// Compact were given, applied the way raft's log applies them.
type crashModel struct {
	snap    *raftpb.Snapshot
	hs      *raftpb.HardState
	entries []*raftpb.Entry
	// term is the newest term so far; new entries and hard states use it.
	term uint64

	// states are the states after each record written since the last
	// recovery (states[0] is what it recovered); acked is the last one a
	// synced Save or a snapshot made durable.
	states []string
	acked  int
}

func (m *crashModel) snapIndex() uint64 { return m.snap.GetMetadata().GetIndex() }
func (m *crashModel) commit() uint64    { return max(m.hs.GetCommit(), m.snapIndex()) }
func (m *crashModel) last() uint64      { return m.snapIndex() + uint64(len(m.entries)) }

func (m *crashModel) termAt(i uint64) uint64 {
	if i == m.snapIndex() {
		return m.snap.GetMetadata().GetTerm()
	}
	return m.entries[i-m.snapIndex()-1].GetTerm()
}

// expected renders the model as recovery would return it.
func (m *crashModel) expected() string {
	st := State{Snapshot: m.snap, Entries: m.entries}
	if m.hs != nil {
		st.HardState = hardState(m.hs.GetTerm(), m.hs.GetVote(), m.commit())
	}
	return describe(st)
}

func (m *crashModel) record() { m.states = append(m.states, m.expected()) }

func (m *crashModel) reset(st State) {
	m.snap, m.hs, m.entries = st.Snapshot, st.HardState, st.Entries
	m.term = max(1, m.hs.GetTerm(), m.snap.GetMetadata().GetTerm())
	if n := len(m.entries); n > 0 {
		m.term = max(m.term, m.entries[n-1].GetTerm())
	}
	m.states, m.acked = []string{m.expected()}, 0
}

// step makes one raft-like change to the model, recording the states it
// passes through, then to the log.
func (m *crashModel) step(r *rand.Rand, l *Log) error {
	switch n := r.IntN(100); {
	case n < 55:
		return m.appendEntries(r, l)
	case n < 70:
		hs := hardState(m.term, uint64(r.IntN(3)), m.commit()+uint64(r.IntN(int(m.last()-m.commit())+1)))
		sync := hs.GetTerm() != m.hs.GetTerm() || hs.GetVote() != m.hs.GetVote() || r.IntN(2) == 0
		m.hs = hs
		m.record()
		return m.done(sync, l.Save(Update{HardState: hs, MustSync: sync}))
	case n < 85:
		return m.installSnapshot(r, l)
	default:
		if m.commit() <= m.snapIndex() {
			return nil
		}
		i := m.snapIndex() + 1 + uint64(r.IntN(int(m.commit()-m.snapIndex())))
		snap := testSnapshot(i, m.termAt(i), fmt.Appendf(nil, "compacted at %d", i), 1, 2)
		m.entries = m.entries[i-m.snapIndex():]
		m.snap = snap
		m.record()
		return m.done(true, l.Compact(snap))
	}
}

// done ends a step whose states are recorded: a crash during it may leave
// any of them (or an earlier one), and a durable success acknowledges them.
func (m *crashModel) done(durable bool, err error) error {
	if err == nil && durable {
		m.acked = len(m.states) - 1
	}
	return err
}

// appendEntries appends after the commit index, replacing a suffix when a
// new term's leader disagrees, and sometimes advances the hard state.
func (m *crashModel) appendEntries(r *rand.Rand, l *Log) error {
	from := m.commit() + 1 + uint64(r.IntN(int(m.last()-m.commit())+1))
	if from <= m.last() || r.IntN(4) == 0 {
		m.term++
	}
	to := from + uint64(r.IntN(4))
	es := ents(from, to, m.term)
	var hs *raftpb.HardState
	if r.IntN(3) > 0 {
		hs = hardState(m.term, uint64(r.IntN(3)), m.commit()+uint64(r.IntN(int(to-m.commit())+1)))
	}
	sync := r.IntN(5) > 0
	for _, e := range es {
		m.entries = append(m.entries[:e.GetIndex()-m.snapIndex()-1], e)
		m.record()
	}
	if hs != nil {
		m.hs = hs
		m.record()
	}
	return m.done(sync, l.Save(Update{Entries: es, HardState: hs, MustSync: sync}))
}

// installSnapshot saves a leader's snapshot past the commit index, with
// entries after it.
func (m *crashModel) installSnapshot(r *rand.Rand, l *Log) error {
	m.term++
	s := m.commit() + 1 + uint64(r.IntN(int(m.last()-m.commit())+4))
	snap := testSnapshot(s, m.term, fmt.Appendf(nil, "installed at %d", s), 1, 2, 3)
	es := ents(s+1, s+uint64(r.IntN(3)), m.term)
	hs := hardState(m.term, 0, s+uint64(r.IntN(len(es)+1)))
	m.snap, m.entries, m.hs = snap, es, hs
	m.record()
	return m.done(true, l.Save(Update{Snapshot: snap, Entries: es, HardState: hs, MustSync: true}))
}

// TestCrashRecoversAPrefix saves raft-like updates, crashes the disk at a
// random operation (torn writes on, unsynced writes lost), and checks that
// recovery returns the state after some record written since the last
// recovery, no earlier than the last durable one: a prefix of what was
// written that loses nothing acknowledged, with the hard state never
// committing past the entries.
func TestCrashRecoversAPrefix(t *testing.T) {
	seeds := 300
	if testing.Short() {
		seeds = 50
	}
	// The runs must reach what they test: crashes inside a write, and
	// recoveries that lost unsynced records.
	crashedInStep, lostUnsynced := 0, 0
	defer func() {
		t.Logf("%d crashes inside a write, %d recoveries lost unsynced records", crashedInStep, lostUnsynced)
		if !t.Failed() && (crashedInStep == 0 || lostUnsynced == 0) {
			t.Errorf("the runs never crashed inside a write (%d) or never lost an unsynced record (%d)", crashedInStep, lostUnsynced)
		}
	}()
	for seed := range uint64(seeds) {
		r := rand.New(rand.NewPCG(seed, 7))
		fsys := vfs.NewMem(vfs.WithTornWrites(seed))
		m := &crashModel{}
		st := reopenAfterCrash(t, r, fsys, seed, false)
		m.reset(st)
		for round := 0; round < 5; round++ {
			l := mustOpen(t, fsys)
			if r.IntN(4) > 0 {
				fsys.CrashAfterOps(int64(r.IntN(120)))
			}
			for range 10 + r.IntN(30) {
				if err := m.step(r, l); err != nil {
					if !errors.Is(err, vfs.ErrCrashed) {
						t.Fatalf("seed %d: %v", seed, err)
					}
					crashedInStep++
					break
				}
			}
			st := reopenAfterCrash(t, r, fsys, seed, true)
			got := describe(st)
			found := false
			for k := m.acked; k < len(m.states) && !found; k++ {
				found = m.states[k] == got
				if found && k < len(m.states)-1 {
					lostUnsynced++
				}
			}
			if !found {
				t.Fatalf("seed %d round %d: recovered\n%s\nwhich is no state from the last durable one on:\n%s",
					seed, round, got, fmt.Sprintln(m.states[m.acked:]))
			}
			if st.HardState.GetCommit() > st.LastIndex() {
				t.Fatalf("seed %d: hard state commits %d past the last entry %d", seed, st.HardState.GetCommit(), st.LastIndex())
			}
			m.reset(st)
		}
	}
}

// reopenAfterCrash reboots the disk and opens the log, sometimes crashing
// again during recovery, which must then recover the same way.
func reopenAfterCrash(t *testing.T, r *rand.Rand, fsys *vfs.Mem, seed uint64, crash bool) State {
	t.Helper()
	if crash {
		fsys.Crash()
	}
	for attempt := 0; ; attempt++ {
		if attempt < 2 && r.IntN(3) == 0 {
			fsys.CrashAfterOps(int64(r.IntN(12)))
		}
		l, st, err := Open(fsys, testDir, nil)
		if err == nil {
			fsys.CrashAfterOps(-1)
			_ = l.Close()
			return st
		}
		if !errors.Is(err, vfs.ErrCrashed) {
			t.Fatalf("seed %d: recovery: %v", seed, err)
		}
		fsys.Crash()
	}
}

func mustOpen(t *testing.T, fsys vfs.FS) *Log {
	t.Helper()
	l, _, err := Open(fsys, testDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestOpenMakesWhatItReadsDurable: a process whose synced Save failed (an
// I/O error on the sync) stops, its records in the page cache only; the
// next process reads them and acts on them (its term, its vote), so a
// power loss after that must not take them back (swarm seed 72115: a
// voter's quorum epoch went back from 13 to 12).
func TestOpenMakesWhatItReadsDurable(t *testing.T) {
	fsys := vfs.NewMem()
	l, _ := openLog(t, fsys)
	if err := l.Save(Update{Entries: ents(1, 2, 12), HardState: hardState(12, 1, 2), MustSync: true}); err != nil {
		t.Fatal(err)
	}
	fsys.SetErrorHook(func(op vfs.Op, _ string) error {
		if op == vfs.OpSync {
			return errors.New("input/output error")
		}
		return nil
	})
	if err := l.Save(Update{HardState: hardState(13, 0, 2), MustSync: true}); err == nil {
		t.Fatal("a Save whose sync failed reported success")
	}
	fsys.SetErrorHook(nil)
	_ = l.Close() // the process stops; the machine keeps its page cache

	_, st := openLog(t, fsys)
	if got := st.HardState.GetTerm(); got != 13 {
		t.Fatalf("the next process read term %d; want 13, what the page cache holds", got)
	}
	fsys.Crash() // a power loss after it acted on term 13
	_, st = openLog(t, fsys)
	if got := st.HardState.GetTerm(); got != 13 {
		t.Fatalf("after a power loss the term is %d; the process before it had read and acted on 13", got)
	}
}
