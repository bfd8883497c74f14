package logstore

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// offsetIndexEntry maps a batch's base offset, relative to its segment's base
// offset, to the batch's byte position in the .log file. An .index file is a
// sequence of these as two big-endian uint32s.
type offsetIndexEntry struct {
	relOffset uint32
	position  uint32
}

// timeIndexEntry records the largest batch max timestamp seen in a segment up
// to an index point and the relative base offset of the batch that carried it.
// A .timeindex file is a sequence of these as a big-endian int64 and uint32.
type timeIndexEntry struct {
	timestampMs int64
	relOffset   uint32
}

const (
	offsetIndexEntryBytes = 8
	timeIndexEntryBytes   = 12
)

// lookupOffsetIndex returns the entry with the largest relative offset at or
// below rel, or the segment start (0, 0) when there is none.
func lookupOffsetIndex(index []offsetIndexEntry, rel uint32) offsetIndexEntry {
	i := sort.Search(len(index), func(i int) bool { return index[i].relOffset > rel })
	if i == 0 {
		return offsetIndexEntry{}
	}
	return index[i-1]
}

// lookupTimeIndexBelow returns the relative offset of the last entry whose
// timestamp is below timestampMs: every batch before that offset has a max
// timestamp below timestampMs too, so a search can start there. It returns 0
// when no entry qualifies.
func lookupTimeIndexBelow(index []timeIndexEntry, timestampMs int64) uint32 {
	i := sort.Search(len(index), func(i int) bool { return index[i].timestampMs >= timestampMs })
	if i == 0 {
		return 0
	}
	return index[i-1].relOffset
}

func encodeOffsetIndex(index []offsetIndexEntry) []byte {
	buf := make([]byte, 0, len(index)*offsetIndexEntryBytes)
	for _, e := range index {
		buf = binary.BigEndian.AppendUint32(buf, e.relOffset)
		buf = binary.BigEndian.AppendUint32(buf, e.position)
	}
	return buf
}

// decodeOffsetIndex parses an .index file and checks that it is consistent
// with a .log file of logBytes bytes: entries strictly increasing in both
// offset and position, positions inside the file.
func decodeOffsetIndex(p []byte, logBytes int64) ([]offsetIndexEntry, error) {
	if len(p)%offsetIndexEntryBytes != 0 {
		return nil, fmt.Errorf("%w: offset index of %d bytes is not a multiple of %d", ErrCorruption, len(p), offsetIndexEntryBytes)
	}
	index := make([]offsetIndexEntry, 0, len(p)/offsetIndexEntryBytes)
	for i := 0; i < len(p); i += offsetIndexEntryBytes {
		e := offsetIndexEntry{
			relOffset: binary.BigEndian.Uint32(p[i:]),
			position:  binary.BigEndian.Uint32(p[i+4:]),
		}
		if int64(e.position)+BatchHeaderBytes > logBytes {
			return nil, fmt.Errorf("%w: offset index entry %d points at position %d past the log's %d bytes", ErrCorruption, len(index), e.position, logBytes)
		}
		if n := len(index); n > 0 && (e.relOffset <= index[n-1].relOffset || e.position <= index[n-1].position) {
			return nil, fmt.Errorf("%w: offset index entry %d (%d@%d) does not increase", ErrCorruption, n, e.relOffset, e.position)
		}
		index = append(index, e)
	}
	return index, nil
}

func encodeTimeIndex(index []timeIndexEntry) []byte {
	buf := make([]byte, 0, len(index)*timeIndexEntryBytes)
	for _, e := range index {
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.timestampMs))
		buf = binary.BigEndian.AppendUint32(buf, e.relOffset)
	}
	return buf
}

// decodeTimeIndex parses a .timeindex file whose entries must increase in
// timestamp and not decrease in offset, all below maxRelOffset.
func decodeTimeIndex(p []byte, maxRelOffset uint32) ([]timeIndexEntry, error) {
	if len(p)%timeIndexEntryBytes != 0 {
		return nil, fmt.Errorf("%w: time index of %d bytes is not a multiple of %d", ErrCorruption, len(p), timeIndexEntryBytes)
	}
	index := make([]timeIndexEntry, 0, len(p)/timeIndexEntryBytes)
	for i := 0; i < len(p); i += timeIndexEntryBytes {
		e := timeIndexEntry{
			timestampMs: int64(binary.BigEndian.Uint64(p[i:])),
			relOffset:   binary.BigEndian.Uint32(p[i+8:]),
		}
		if e.relOffset > maxRelOffset {
			return nil, fmt.Errorf("%w: time index entry %d offset %d past the segment", ErrCorruption, len(index), e.relOffset)
		}
		if n := len(index); n > 0 && (e.timestampMs <= index[n-1].timestampMs || e.relOffset < index[n-1].relOffset) {
			return nil, fmt.Errorf("%w: time index entry %d does not increase", ErrCorruption, n)
		}
		index = append(index, e)
	}
	return index, nil
}
