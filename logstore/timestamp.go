package logstore

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// attrLogAppendTime is the timestamp-type bit of a batch's attributes; with it
// every record's timestamp is the batch's max timestamp.
const (
	attrLogAppendTime = 0x08
	attrCodecMask     = 0x07
)

// TimestampOffset is a record's offset and timestamp, as ListOffsets returns.
type TimestampOffset struct {
	Offset      int64
	TimestampMs int64
}

// OffsetForTimestamp returns the offset and timestamp of the first record at
// or after the log start offset whose timestamp is at or above timestampMs
// (ListOffsets with a timestamp). found is false when there is none. It
// decodes (and decompresses) the one batch the indexes lead to.
func (l *Log) OffsetForTimestamp(timestampMs int64) (to TimestampOffset, found bool, err error) {
	views, logStart := l.allViews()
	defer releaseViews(views)
	for i := range views {
		v := &views[i]
		if v.maxTimestampMs < timestampMs || v.nextOffset <= logStart {
			continue
		}
		startRel := lookupTimeIndexBelow(v.timeIndex, timestampMs)
		startRel = max(startRel, uint32(max(logStart-v.baseOffset, 0)))
		pos := int64(lookupOffsetIndex(v.index, startRel).position)
		for pos < v.sizeBytes {
			h, err := v.readBatchHeader(pos, l.cache, l.blockBytes)
			if err != nil {
				return TimestampOffset{}, false, fmt.Errorf("offset for timestamp %d: %w", timestampMs, err)
			}
			if h.maxTimestampMs >= timestampMs && h.lastOffset() >= logStart {
				to, found, err := l.findRecord(v, pos, h, func(offset, ts int64) bool { return offset >= logStart && ts >= timestampMs })
				if err != nil || found {
					return to, found, err
				}
			}
			pos += h.sizeBytes
		}
	}
	return TimestampOffset{}, false, nil
}

// OffsetOfMaxTimestamp answers ListOffsets timestamp -3 (KIP-734): among
// the batches that end at or after the log start offset, it takes the one with
// the largest max timestamp (the first on ties) and returns its first record
// at or after the log start offset carrying that timestamp (or, when that
// record precedes the log start offset, the batch's first record at or after
// it). found is false for an empty log.
func (l *Log) OffsetOfMaxTimestamp() (to TimestampOffset, found bool, err error) {
	views, logStart := l.allViews()
	defer releaseViews(views)
	var best *segmentView
	var bestTs int64 = -1
	var bestPos int64
	for i := range views {
		v := &views[i]
		ts, pos, err := l.segmentMaxTimestamp(v, logStart)
		if err != nil {
			return TimestampOffset{}, false, fmt.Errorf("offset of max timestamp: %w", err)
		}
		if pos >= 0 && (best == nil || ts > bestTs) {
			best, bestTs, bestPos = v, ts, pos
		}
	}
	if best == nil {
		return TimestampOffset{}, false, nil
	}
	h, err := best.readBatchHeader(bestPos, l.cache, l.blockBytes)
	if err != nil {
		return TimestampOffset{}, false, fmt.Errorf("offset of max timestamp: %w", err)
	}
	to, found, err = l.findRecord(best, bestPos, h, func(offset, ts int64) bool { return offset >= logStart && ts >= bestTs })
	if err != nil || found {
		return to, found, err
	}
	return l.findRecord(best, bestPos, h, func(offset, _ int64) bool { return offset >= logStart })
}

// segmentMaxTimestamp returns the largest batch max timestamp in v among
// batches ending at or after logStart that hold records, and the position
// of the first batch carrying it (-1 when there is none). A batch
// compaction emptied keeps the max timestamp of records it no longer has:
// it is passed over, else -3 would answer no record at all (the
// simulator's timestamps profile, seed 32). A segment scans from its
// recorded maximum's batch, or from logStart in the segment holding it,
// and stops at the recorded maximum once found.
func (l *Log) segmentMaxTimestamp(v *segmentView, logStart int64) (int64, int64, error) {
	if v.nextOffset <= logStart || v.sizeBytes == 0 {
		return -1, -1, nil
	}
	if logStart > v.baseOffset {
		return l.scanMaxTimestamp(v, logStart, uint32(logStart-v.baseOffset))
	}
	if v.offsetOfMaxTimestamp >= 0 {
		ts, pos, err := l.scanMaxTimestamp(v, logStart, uint32(v.offsetOfMaxTimestamp-v.baseOffset))
		if err != nil || pos >= 0 && ts == v.maxTimestampMs {
			return ts, pos, err
		}
		// The recorded maximum is an emptied batch's: an earlier batch may
		// hold the largest timestamp left.
	}
	return l.scanMaxTimestamp(v, logStart, 0)
}

// scanMaxTimestamp is segmentMaxTimestamp's scan of v from the batch
// holding relative offset rel.
func (l *Log) scanMaxTimestamp(v *segmentView, logStart int64, rel uint32) (int64, int64, error) {
	bestTs, bestPos := int64(-1), int64(-1)
	for pos := int64(lookupOffsetIndex(v.index, rel).position); pos < v.sizeBytes; {
		h, err := v.readBatchHeader(pos, l.cache, l.blockBytes)
		if err != nil {
			return 0, 0, err
		}
		if h.lastOffset() >= logStart && h.numRecords > 0 && (bestPos < 0 || h.maxTimestampMs > bestTs) {
			bestTs, bestPos = h.maxTimestampMs, pos
		}
		if logStart <= v.baseOffset && bestPos >= 0 && bestTs == v.maxTimestampMs {
			break // the recorded maximum is found; no later batch beats it
		}
		pos += h.sizeBytes
	}
	return bestTs, bestPos, nil
}

// allViews snapshots every segment (acquired) and the log start offset.
func (l *Log) allViews() ([]segmentView, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	views := make([]segmentView, 0, len(l.segments))
	for _, s := range l.segments {
		if !s.acquire() {
			panic(fmt.Sprintf("logstore: listed segment %s is already closed", s.logPath()))
		}
		v := s.view()
		v.blockBytes = l.blockBytes
		views = append(views, v)
	}
	return views, l.logStartOffset
}

func releaseViews(views []segmentView) {
	for i := range views {
		views[i].releaseTail()
		views[i].seg.release()
	}
}

// findRecord decodes the batch h at pos and returns the first record that
// match accepts.
func (l *Log) findRecord(v *segmentView, pos int64, h batchHeader, match func(offset, timestampMs int64) bool) (TimestampOffset, bool, error) {
	raw := make([]byte, h.sizeBytes)
	if err := v.readAt(raw, pos, l.cache, l.blockBytes); err != nil {
		return TimestampOffset{}, false, err
	}
	b, err := ParseBatch(raw)
	if err != nil {
		return TimestampOffset{}, false, fmt.Errorf("segment %s position %d: %w", v.seg.logPath(), pos, err)
	}
	var found TimestampOffset
	ok := false
	err = eachRecord(l.codecs, &b, func(r *kmsg.Record) bool {
		offset := b.FirstOffset + int64(r.OffsetDelta)
		ts := b.FirstTimestamp + r.TimestampDelta64
		if b.Attributes&attrLogAppendTime != 0 {
			ts = b.MaxTimestamp
		}
		if match(offset, ts) {
			found, ok = TimestampOffset{Offset: offset, TimestampMs: ts}, true
			return false
		}
		return true
	})
	if err != nil {
		return TimestampOffset{}, false, fmt.Errorf("segment %s position %d: %w", v.seg.logPath(), pos, err)
	}
	return found, ok, nil
}

// eachRecord decompresses b's records and calls fn for each until it returns
// false.
func eachRecord(codecs *Codecs, b *Batch, fn func(r *kmsg.Record) bool) error {
	data := b.Records
	if codec := b.Attributes & attrCodecMask; codec != 0 {
		var err error
		if data, err = codecs.decompress(data, kgo.CompressionCodecType(codec)); err != nil {
			return err
		}
	}
	var r kmsg.Record
	for i := int32(0); i < b.NumRecords; i++ {
		length, n := binary.Varint(data)
		if n <= 0 || length < 0 || int64(len(data)-n) < length {
			return fmt.Errorf("%w: record %d of %d: bad length", ErrCorruption, i, b.NumRecords)
		}
		if err := r.ReadFrom(data[:n+int(length)]); err != nil {
			return fmt.Errorf("%w: record %d of %d: %v", ErrCorruption, i, b.NumRecords, err)
		}
		data = data[n+int(length):]
		if !fn(&r) {
			return nil
		}
	}
	return nil
}
