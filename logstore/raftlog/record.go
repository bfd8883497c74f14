package raftlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"gregor/logstore"
)

// recordKind says what a record's payload is.
type recordKind byte

const (
	// kindBase opens a segment: the index and term of the snapshot the
	// segment continues.
	kindBase recordKind = 1
	// kindEntry is one raft entry.
	kindEntry recordKind = 2
	// kindHardState is raft's hard state (term, vote, commit).
	kindHardState recordKind = 3
	// kindSnapshot is a whole raftpb.Snapshot, the one record of a
	// snapshot file.
	kindSnapshot recordKind = 4
)

const (
	// recordHeaderBytes is the length and CRC before a record's kind.
	recordHeaderBytes = 8
	// MaxEntryBytes bounds the data of one entry; Save refuses a larger
	// one, and the quorum refuses to propose it.
	MaxEntryBytes = 32 << 20
	// maxLogRecordBytes bounds a record of a segment: a length field beyond
	// it is damage, not a record.
	maxLogRecordBytes = MaxEntryBytes + 64
	// maxSnapshotBytes bounds a snapshot file.
	maxSnapshotBytes = 1 << 30
)

// crc32c is the Castagnoli table, the CRC Kafka's record batches use.
var crc32c = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends one framed record to dst.
func appendRecord(dst []byte, kind recordKind, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recordHeaderBytes)...)
	dst = append(dst, byte(kind))
	dst = append(dst, payload...)
	body := dst[start+recordHeaderBytes:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, crc32c))
	return dst
}

// decodeRecord reads the framed record at the start of p, whose length may
// be at most maxBytes, and returns its kind, its payload (aliasing p) and
// its size. A record cut short is io.ErrUnexpectedEOF; a length out of
// bounds or a CRC that does not match is logstore.ErrCorruption. Both are
// what a torn write leaves at the end of a segment.
func decodeRecord(p []byte, maxBytes int) (recordKind, []byte, int, error) {
	if len(p) < recordHeaderBytes {
		return 0, nil, 0, io.ErrUnexpectedEOF
	}
	length := int64(binary.BigEndian.Uint32(p))
	if length < 1 || length > int64(maxBytes) {
		return 0, nil, 0, fmt.Errorf("%w: raft log record length %d", logstore.ErrCorruption, length)
	}
	if int64(len(p)-recordHeaderBytes) < length {
		return 0, nil, 0, io.ErrUnexpectedEOF
	}
	body := p[recordHeaderBytes : recordHeaderBytes+length]
	if crc32.Checksum(body, crc32c) != binary.BigEndian.Uint32(p[4:]) {
		return 0, nil, 0, fmt.Errorf("%w: raft log record checksum", logstore.ErrCorruption)
	}
	return recordKind(body[0]), body[1:], recordHeaderBytes + int(length), nil
}

// isTorn says whether a decodeRecord error is what a torn write leaves.
func isTorn(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, logstore.ErrCorruption)
}

// entryPayload encodes an entry: uvarint index, term and type, then data.
func entryPayload(dst []byte, e *raftpb.Entry) []byte {
	dst = binary.AppendUvarint(dst, e.GetIndex())
	dst = binary.AppendUvarint(dst, e.GetTerm())
	dst = binary.AppendUvarint(dst, uint64(e.GetType()))
	return append(dst, e.GetData()...)
}

func decodeEntry(p []byte) (*raftpb.Entry, error) {
	r := uvarintReader{p: p}
	index, term, typ := r.next(), r.next(), r.next()
	if r.err != nil {
		return nil, fmt.Errorf("%w: raft log entry: %v", logstore.ErrCorruption, r.err)
	}
	if _, known := raftpb.EntryType_name[int32(typ)]; !known || typ > 1<<31 {
		return nil, fmt.Errorf("%w: raft log entry %d has type %d", logstore.ErrCorruption, index, typ)
	}
	if index == 0 {
		return nil, fmt.Errorf("%w: raft log entry at index 0", logstore.ErrCorruption)
	}
	e := &raftpb.Entry{Index: new(index), Term: new(term), Type: raftpb.EntryType(typ).Enum()}
	if len(r.p) > 0 {
		e.Data = append([]byte(nil), r.p...)
	}
	return e, nil
}

// hardStatePayload encodes a hard state: uvarint term, vote and commit.
func hardStatePayload(dst []byte, hs *raftpb.HardState) []byte {
	dst = binary.AppendUvarint(dst, hs.GetTerm())
	dst = binary.AppendUvarint(dst, hs.GetVote())
	return binary.AppendUvarint(dst, hs.GetCommit())
}

func decodeHardState(p []byte) (*raftpb.HardState, error) {
	r := uvarintReader{p: p}
	term, vote, commit := r.next(), r.next(), r.next()
	if r.err == nil && len(r.p) > 0 {
		r.err = fmt.Errorf("%d bytes after the hard state", len(r.p))
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: raft log hard state: %v", logstore.ErrCorruption, r.err)
	}
	return &raftpb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}, nil
}

// basePayload encodes a segment's base: uvarint index and term of the
// snapshot it continues.
func basePayload(index, term uint64) []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, index), term)
}

func decodeBase(p []byte) (index, term uint64, err error) {
	r := uvarintReader{p: p}
	index, term = r.next(), r.next()
	if r.err == nil && len(r.p) > 0 {
		r.err = fmt.Errorf("%d bytes after the base", len(r.p))
	}
	if r.err == nil && (index == 0) != (term == 0) {
		r.err = fmt.Errorf("snapshot index %d with term %d", index, term)
	}
	if r.err != nil {
		return 0, 0, fmt.Errorf("%w: raft log segment base: %v", logstore.ErrCorruption, r.err)
	}
	return index, term, nil
}

// encodeSnapshotFile is the content of a snapshot file.
func encodeSnapshotFile(snap *raftpb.Snapshot) ([]byte, error) {
	p, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	if len(p)+1 > maxSnapshotBytes {
		return nil, fmt.Errorf("snapshot %d is %d bytes, more than %d", snap.GetMetadata().GetIndex(), len(p), maxSnapshotBytes)
	}
	return appendRecord(nil, kindSnapshot, p), nil
}

// decodeSnapshotFile reads a snapshot file's content; anything but one whole
// snapshot record is logstore.ErrCorruption.
func decodeSnapshotFile(p []byte) (*raftpb.Snapshot, error) {
	kind, payload, n, err := decodeRecord(p, maxSnapshotBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot file: %v", logstore.ErrCorruption, err)
	}
	if kind != kindSnapshot || n != len(p) {
		return nil, fmt.Errorf("%w: snapshot file holds a record of kind %d and %d bytes after it", logstore.ErrCorruption, kind, len(p)-n)
	}
	snap := &raftpb.Snapshot{}
	if err := proto.Unmarshal(payload, snap); err != nil {
		return nil, fmt.Errorf("%w: snapshot file: %v", logstore.ErrCorruption, err)
	}
	if snap.GetMetadata().GetIndex() == 0 || snap.GetMetadata().GetTerm() == 0 {
		return nil, fmt.Errorf("%w: snapshot file at index %d, term %d", logstore.ErrCorruption,
			snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm())
	}
	return snap, nil
}

// uvarintReader reads uvarints from p; the first error sticks.
type uvarintReader struct {
	p   []byte
	err error
}

func (r *uvarintReader) next() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.p)
	if n <= 0 {
		r.err = errors.New("uvarint cut short or too long")
		return 0
	}
	r.p = r.p[n:]
	return v
}
