package raftlog

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"gregor/logstore"
)

func TestRecordRoundTrip(t *testing.T) {
	e := &raftpb.Entry{Index: new(uint64(7)), Term: new(uint64(3)), Type: raftpb.EntryConfChange.Enum(), Data: []byte("abc")}
	hs := &raftpb.HardState{Term: new(uint64(4)), Vote: new(uint64(2)), Commit: new(uint64(6))}
	p := appendRecord(nil, kindEntry, entryPayload(nil, e))
	p = appendRecord(p, kindHardState, hardStatePayload(nil, hs))

	kind, payload, n, err := decodeRecord(p, maxLogRecordBytes)
	if err != nil || kind != kindEntry {
		t.Fatalf("decode entry record: kind %d, %v", kind, err)
	}
	got, err := decodeEntry(payload)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetIndex() != 7 || got.GetTerm() != 3 || got.GetType() != raftpb.EntryConfChange || string(got.GetData()) != "abc" {
		t.Fatalf("entry read back as %v", got)
	}
	kind, payload, m, err := decodeRecord(p[n:], maxLogRecordBytes)
	if err != nil || kind != kindHardState || n+m != len(p) {
		t.Fatalf("decode hard state record: kind %d, %d+%d of %d bytes, %v", kind, n, m, len(p), err)
	}
	ghs, err := decodeHardState(payload)
	if err != nil || ghs.GetTerm() != 4 || ghs.GetVote() != 2 || ghs.GetCommit() != 6 {
		t.Fatalf("hard state read back as %v, %v", ghs, err)
	}
}

// A record cut anywhere is io.ErrUnexpectedEOF, and one with any byte
// changed fails: what a torn or damaged tail looks like is never a record.
func TestRecordTornOrDamaged(t *testing.T) {
	e := &raftpb.Entry{Index: new(uint64(1)), Term: new(uint64(1)), Data: bytes.Repeat([]byte{0xab}, 40)}
	p := appendRecord(nil, kindEntry, entryPayload(nil, e))
	for cut := 0; cut < len(p); cut++ {
		if _, _, _, err := decodeRecord(p[:cut], maxLogRecordBytes); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut at %d of %d: %v", cut, len(p), err)
		}
	}
	for i := range p {
		for _, flip := range []byte{0x01, 0x80, 0xff} {
			q := bytes.Clone(p)
			q[i] ^= flip
			if _, _, _, err := decodeRecord(q, maxLogRecordBytes); !isTorn(err) {
				t.Fatalf("byte %d ^ %#x: decoded (%v)", i, flip, err)
			}
		}
	}
}

func TestSnapshotFile(t *testing.T) {
	snap := testSnapshot(5, 2, []byte("image"), 1, 2, 3)
	p, err := encodeSnapshotFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSnapshotFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetMetadata().GetIndex() != 5 || got.GetMetadata().GetTerm() != 2 || string(got.GetData()) != "image" ||
		len(got.GetMetadata().GetConfState().GetVoters()) != 3 {
		t.Fatalf("snapshot read back as %v", got)
	}
	for cut := 0; cut < len(p); cut++ {
		if _, err := decodeSnapshotFile(p[:cut]); !errors.Is(err, logstore.ErrCorruption) {
			t.Fatalf("snapshot file cut at %d: %v", cut, err)
		}
	}
	if _, err := decodeSnapshotFile(append(bytes.Clone(p), 0)); !errors.Is(err, logstore.ErrCorruption) {
		t.Fatalf("snapshot file with a byte after it: %v", err)
	}
}

// FuzzDecodeRecord: any input decodes to a record within bounds or fails
// without panicking, and a decoded entry or hard state encodes back to the
// same payload.
func FuzzDecodeRecord(f *testing.F) {
	e := &raftpb.Entry{Index: new(uint64(9)), Term: new(uint64(2)), Data: []byte("data")}
	f.Add(appendRecord(nil, kindEntry, entryPayload(nil, e)))
	f.Add(appendRecord(nil, kindHardState, hardStatePayload(nil, &raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(1))})))
	f.Add(appendRecord(nil, kindBase, basePayload(3, 1)))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, p []byte) {
		kind, payload, n, err := decodeRecord(p, maxLogRecordBytes)
		if err != nil {
			return
		}
		if n > len(p) || n != recordHeaderBytes+1+len(payload) {
			t.Fatalf("record of %d bytes from %d, payload %d", n, len(p), len(payload))
		}
		switch kind {
		case kindEntry:
			if e, err := decodeEntry(payload); err == nil && !bytes.Equal(entryPayload(nil, e), payload) {
				t.Fatalf("entry %v encodes differently", e)
			}
		case kindHardState:
			if hs, err := decodeHardState(payload); err == nil && !bytes.Equal(hardStatePayload(nil, hs), payload) {
				// Uvarints have one shortest form; a longer one decodes too.
				if _, err := decodeHardState(hardStatePayload(nil, hs)); err != nil {
					t.Fatalf("hard state %v does not round trip: %v", hs, err)
				}
			}
		case kindBase:
			_, _, _ = decodeBase(payload)
		}
	})
}

// FuzzReplaySegment: replaying any bytes never panics, and what it returns
// obeys the log's rules.
func FuzzReplaySegment(f *testing.F) {
	seg := appendRecord(nil, kindBase, basePayload(0, 0))
	for i := uint64(1); i <= 3; i++ {
		seg = appendRecord(seg, kindEntry, entryPayload(nil, &raftpb.Entry{Index: new(i), Term: new(uint64(1)), Data: []byte{byte(i)}}))
	}
	seg = appendRecord(seg, kindHardState, hardStatePayload(nil, &raftpb.HardState{Term: new(uint64(1)), Commit: new(uint64(2))}))
	f.Add(seg)
	f.Add(seg[:len(seg)-3])
	f.Fuzz(func(t *testing.T, p []byte) {
		s, whole, err := replaySegment(p)
		if err != nil {
			return
		}
		if whole > len(p) {
			t.Fatalf("%d whole bytes of %d", whole, len(p))
		}
		for i, e := range s.entries {
			if e.GetIndex() != s.snapIndex+uint64(i)+1 {
				t.Fatalf("entry %d at position %d after snapshot %d", e.GetIndex(), i, s.snapIndex)
			}
		}
		if s.hardState.GetCommit() > s.lastIndex() {
			t.Fatalf("commit %d past last index %d", s.hardState.GetCommit(), s.lastIndex())
		}
	})
}

func testSnapshot(index, term uint64, data []byte, voters ...uint64) *raftpb.Snapshot {
	return &raftpb.Snapshot{
		Data: data,
		Metadata: &raftpb.SnapshotMetadata{
			Index:     new(index),
			Term:      new(term),
			ConfState: &raftpb.ConfState{Voters: voters},
		},
	}
}
