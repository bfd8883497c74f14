package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path"
	"slices"
	"strings"

	"go.uber.org/zap"
)

// producerSnapshotExt names a producer state snapshot: the state of every
// batch below the offset in its name (Kafka's "<offset>.snapshot").
const producerSnapshotExt = ".snapshot"

// producerSnapshotsKept is how many snapshots a log keeps (the newest).
const producerSnapshotsKept = 2

// maxProducerSnapshotBytes bounds a snapshot read back.
const maxProducerSnapshotBytes = 256 << 20

// producerSnapshotVersion is the version snapshots are written in: 2 holds
// each producer's latest ended transaction; 1, without it, is still read.
const producerSnapshotVersion = 2

// encodeProducerSnapshot encodes the state: a version byte, the entries in
// producer id order, and a CRC-32C of everything before it.
func encodeProducerSnapshot(s *ProducerStates) []byte {
	p := []byte{producerSnapshotVersion}
	p = binary.AppendUvarint(p, uint64(s.Len()))
	for _, id := range s.IDs() {
		e := s.entries[id]
		p = binary.AppendVarint(p, e.ProducerID)
		p = binary.AppendVarint(p, int64(e.ProducerEpoch))
		p = binary.AppendVarint(p, e.LastTimestamp)
		p = binary.AppendVarint(p, int64(e.CoordinatorEpoch))
		p = binary.AppendVarint(p, e.TxnFirstOffset)
		p = binary.AppendVarint(p, e.LastTxnFirstOffset)
		p = binary.AppendVarint(p, e.LastTxnMarkerOffset)
		p = binary.AppendUvarint(p, uint64(len(e.Batches)))
		for _, b := range e.Batches {
			p = binary.AppendVarint(p, int64(b.FirstSequence))
			p = binary.AppendVarint(p, int64(b.LastSequence))
			p = binary.AppendVarint(p, b.FirstOffset)
			p = binary.AppendVarint(p, b.LastOffset)
			p = binary.AppendVarint(p, b.MaxTimestampMs)
		}
	}
	return binary.BigEndian.AppendUint32(p, crc32.Checksum(p, crc32c))
}

// decodeProducerSnapshot decodes what encodeProducerSnapshot wrote; damage
// is ErrCorruption.
func decodeProducerSnapshot(p []byte) (*ProducerStates, error) {
	if len(p) < 5 || crc32.Checksum(p[:len(p)-4], crc32c) != binary.BigEndian.Uint32(p[len(p)-4:]) {
		return nil, fmt.Errorf("%w: producer snapshot checksum", ErrCorruption)
	}
	version := p[0]
	if version != 1 && version != producerSnapshotVersion {
		return nil, fmt.Errorf("%w: producer snapshot version %d", ErrCorruption, p[0])
	}
	d := snapshotDecoder{p: p[1 : len(p)-4]}
	s := NewProducerStates()
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		e := &ProducerEntry{ProducerID: d.varint(), ProducerEpoch: int16(d.varint()), LastTimestamp: d.varint(),
			CoordinatorEpoch: int32(d.varint()), TxnFirstOffset: d.varint(), LastTxnFirstOffset: -1, LastTxnMarkerOffset: -1}
		if version >= 2 {
			e.LastTxnFirstOffset, e.LastTxnMarkerOffset = d.varint(), d.varint()
		}
		nb := d.uvarint()
		if nb > ProducerBatchesKept {
			return nil, fmt.Errorf("%w: producer snapshot holds %d batches of producer %d", ErrCorruption, nb, e.ProducerID)
		}
		for j := uint64(0); j < nb && d.err == nil; j++ {
			e.Batches = append(e.Batches, ProducerBatch{FirstSequence: int32(d.varint()), LastSequence: int32(d.varint()),
				FirstOffset: d.varint(), LastOffset: d.varint(), MaxTimestampMs: d.varint()})
		}
		s.entries[e.ProducerID] = e
		if e.TxnFirstOffset >= 0 {
			s.ongoing[e.ProducerID] = e.TxnFirstOffset
		}
	}
	if d.err == nil && len(d.p) > 0 {
		d.err = fmt.Errorf("%d bytes after the last producer", len(d.p))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: producer snapshot: %w", ErrCorruption, d.err)
	}
	return s, nil
}

type snapshotDecoder struct {
	p   []byte
	err error
}

func (d *snapshotDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.err = errors.New("bad uvarint")
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *snapshotDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.p = d.p[n:]
	return v
}

// ProducerStates is a copy of the producer state of every batch in the log.
func (l *Log) ProducerStates() *ProducerStates { return l.producers.Clone() }

// RemoveProducers forgets expired producer ids.
func (l *Log) RemoveProducers(ids []int64) { l.producers.Remove(ids...) }

// producerSnapshots lists the snapshot offsets in the directory, ascending.
func (l *Log) producerSnapshots() ([]int64, error) {
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list producer snapshots: %w", err)
	}
	var offsets []int64
	for _, name := range names {
		if off, ok := parseSegmentFileName(name, producerSnapshotExt); ok && strings.HasSuffix(name, producerSnapshotExt) {
			offsets = append(offsets, off)
		}
	}
	slices.Sort(offsets)
	return offsets, nil
}

// writeProducerSnapshot writes the state as of the log end offset and drops
// the older snapshots past producerSnapshotsKept. A snapshot is only a
// shortcut for recovery: a failure is logged, not returned.
func (l *Log) writeProducerSnapshot() {
	if l.producers == nil {
		return
	}
	at := l.logEndOffset
	name := path.Join(l.dir, segmentFileName(at, producerSnapshotExt))
	if err := writeFileAtomic(l.fs, name, encodeProducerSnapshot(l.producers)); err != nil {
		l.logger.Warn("producer snapshot not written", zap.Int64("offset", at), zap.Error(err))
		return
	}
	l.dropOldProducerSnapshots()
}

// dropOldProducerSnapshots removes the oldest snapshots past
// producerSnapshotsKept.
func (l *Log) dropOldProducerSnapshots() {
	offsets, err := l.producerSnapshots()
	if err != nil {
		return
	}
	for len(offsets) > producerSnapshotsKept {
		_ = l.fs.Remove(path.Join(l.dir, segmentFileName(offsets[0], producerSnapshotExt)))
		offsets = offsets[1:]
	}
}

// loadProducerState rebuilds the producer state: from the newest snapshot
// at or below the log end offset (newer ones, left by a truncation or lost
// writes, are deleted), then every batch from there to the log end.
func (l *Log) loadProducerState() error {
	offsets, err := l.producerSnapshots()
	if err != nil {
		return err
	}
	if err := l.loadTxnIndexes(); err != nil {
		return err
	}
	state, from := NewProducerStates(), l.logStartOffset
	for i := len(offsets) - 1; i >= 0; i-- {
		name := path.Join(l.dir, segmentFileName(offsets[i], producerSnapshotExt))
		if offsets[i] > l.logEndOffset {
			_ = l.fs.Remove(name)
			continue
		}
		p, err := ReadWholeFile(l.fs, name, maxProducerSnapshotBytes)
		var s *ProducerStates
		if err == nil {
			s, err = decodeProducerSnapshot(p)
		}
		if err != nil {
			l.logger.Warn("ignoring producer snapshot", zap.String("file", name), zap.Error(err))
			continue
		}
		state, from = s, max(offsets[i], l.logStartOffset)
		break
	}
	if err := l.scanProducerBatches(state, from); err != nil {
		return fmt.Errorf("rebuild producer state from %d: %w", from, err)
	}
	l.producers = state
	return nil
}

// scanProducerBatches applies every batch from offset from to the log end.
func (l *Log) scanProducerBatches(s *ProducerStates, from int64) error {
	var buf []byte
	for off := from; off < l.logEndOffset; {
		recs, err := l.Read(off, 1<<20, l.logEndOffset)
		if err != nil {
			return err
		}
		buf, err = recs.AppendTo(buf[:0])
		next := recs.NextOffset
		recs.Release()
		if err != nil {
			return err
		}
		for p := buf; len(p) >= BatchHeaderBytes; {
			n, err := BatchSize(p)
			if err != nil || n > len(p) {
				return fmt.Errorf("%w: batch at offset %d", ErrCorruption, off)
			}
			if info := ReadProducerBatchInfo(p); info.LastOffset >= from {
				if done, ended := s.Apply(info); ended {
					l.noteCompletedTxn(l.segments[segmentIndexFor(l.segments, info.LastOffset)], done)
				}
			}
			p = p[n:]
		}
		if next <= off {
			break
		}
		off = next
	}
	return nil
}

// resetProducerState empties the state and deletes every snapshot (the log
// starts over).
func (l *Log) resetProducerState() {
	l.producers = NewProducerStates()
	l.mu.Lock()
	l.aborted = nil
	l.mu.Unlock()
	offsets, _ := l.producerSnapshots()
	for _, off := range offsets {
		_ = l.fs.Remove(path.Join(l.dir, segmentFileName(off, producerSnapshotExt)))
	}
}
