package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Byte positions in a Kafka RecordBatch v2 (magic 2). The base offset, the
// length and the partition leader epoch precede the CRC and are not covered by
// it, so the broker rewrites them in place without re-encoding the batch.
const (
	batchBaseOffsetPos  = 0
	batchLengthPos      = 8
	batchLeaderEpochPos = 12
	batchMagicPos       = 16
	batchCRCPos         = 17
	batchAttributesPos  = 21
	// batchLastOffsetDeltaPos and batchMaxTimestampPos locate the header
	// fields the log indexes by without decoding the whole batch.
	batchLastOffsetDeltaPos = 23
	batchMaxTimestampPos    = 35
	batchProducerIDPos      = 43
	batchRecordCountPos     = 57
	batchCRCCoveredStart    = 21
	// BatchHeaderBytes is the size of a RecordBatch v2 header, up to and
	// including the record count.
	BatchHeaderBytes = 61
	// batchLengthOverhead is what the length field does not count: the base
	// offset and the length itself.
	batchLengthOverhead = 12
)

// ErrCorruption marks data that failed a structural or checksum check. Test
// with errors.Is.
var ErrCorruption = errors.New("corrupt record batch")

// ErrFailed marks an append refused because an earlier I/O error failed
// the log (a failed write it could not undo, a failed fsync): it takes no
// write until reopened.
var ErrFailed = errors.New("log failed")

// Batch is a validated view of one RecordBatch v2 as stored: the decoded header
// and the raw bytes it came from (Raw aliases the input).
type Batch struct {
	kmsg.RecordBatch
	Raw []byte
}

// LastOffset is the offset of the batch's last record.
func (b *Batch) LastOffset() int64 { return b.FirstOffset + int64(b.LastOffsetDelta) }

// NextOffset is the offset after the batch's last record.
func (b *Batch) NextOffset() int64 { return b.LastOffset() + 1 }

// BatchSize reads the total size of the batch that starts at p from its length
// field. It needs at least the first 12 bytes.
func BatchSize(p []byte) (int, error) {
	if len(p) < batchLengthOverhead {
		return 0, fmt.Errorf("%w: %d bytes, need %d for the length", ErrCorruption, len(p), batchLengthOverhead)
	}
	n := int32(binary.BigEndian.Uint32(p[batchLengthPos:]))
	if n < BatchHeaderBytes-batchLengthOverhead {
		return 0, fmt.Errorf("%w: length field %d is below the header size", ErrCorruption, n)
	}
	return int(n) + batchLengthOverhead, nil
}

// ParseBatch validates the single RecordBatch v2 that fills p exactly (magic,
// length, CRC-32C, record count and offset delta) and returns its header. It
// never panics on arbitrary input.
func ParseBatch(p []byte) (Batch, error) {
	size, err := BatchSize(p)
	if err != nil {
		return Batch{}, err
	}
	if size != len(p) {
		return Batch{}, fmt.Errorf("%w: length field says %d bytes, have %d", ErrCorruption, size, len(p))
	}
	if magic := int8(p[batchMagicPos]); magic != 2 {
		return Batch{}, fmt.Errorf("%w: magic %d, only 2 is supported", ErrCorruption, magic)
	}
	want := binary.BigEndian.Uint32(p[batchCRCPos:])
	if got := crc32cChecksum(p[batchCRCCoveredStart:]); got != want {
		return Batch{}, fmt.Errorf("%w: crc32c %08x, header says %08x", ErrCorruption, got, want)
	}
	b := Batch{Raw: p}
	if err := b.RecordBatch.ReadFrom(p); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrCorruption, err)
	}
	if b.LastOffsetDelta < 0 || b.NumRecords < 0 {
		return Batch{}, fmt.Errorf("%w: last offset delta %d, record count %d", ErrCorruption, b.LastOffsetDelta, b.NumRecords)
	}
	return b, nil
}

// EachBatch parses the batches that fill p, in order, and calls fn with
// each; it stops at fn's first error and returns it. A batch cut short by
// the end of p, or one ParseBatch refuses, is corruption (ErrCorruption),
// for readers of a log that promised whole, valid batches (the group and
// transaction coordinators replaying their partitions).
func EachBatch(p []byte, fn func(b *Batch) error) error {
	for len(p) > 0 {
		size, err := BatchSize(p)
		if err != nil {
			return err
		}
		if size > len(p) {
			return fmt.Errorf("%w: batch of %d bytes, %d read", ErrCorruption, size, len(p))
		}
		b, err := ParseBatch(p[:size])
		if err != nil {
			return err
		}
		p = p[size:]
		if err := fn(&b); err != nil {
			return err
		}
	}
	return nil
}

// SetBatchBaseOffset rewrites the base offset of the batch at the start of p.
func SetBatchBaseOffset(p []byte, offset int64) {
	binary.BigEndian.PutUint64(p[batchBaseOffsetPos:], uint64(offset))
}

// BatchLeaderEpoch is the partition leader epoch of the batch at the start
// of p (at least BatchHeaderBytes long).
func BatchLeaderEpoch(p []byte) int32 {
	return int32(binary.BigEndian.Uint32(p[batchLeaderEpochPos:]))
}

// SetBatchLeaderEpoch rewrites the partition leader epoch of the batch at the
// start of p.
func SetBatchLeaderEpoch(p []byte, epoch int32) {
	binary.BigEndian.PutUint32(p[batchLeaderEpochPos:], uint32(epoch))
}

// SetBatchLogAppendTime sets the timestamp-type attribute to LogAppendTime and
// the max timestamp to timestampMs in the batch filling p, then recomputes its
// CRC, as a broker does for topics with message.timestamp.type=LogAppendTime
// (clients then read every record's timestamp as the max timestamp).
func SetBatchLogAppendTime(p []byte, timestampMs int64) {
	const (
		attrLogAppendTime = 0x08
		maxTimestampPos   = 35
	)
	attrs := binary.BigEndian.Uint16(p[batchAttributesPos:])
	binary.BigEndian.PutUint16(p[batchAttributesPos:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(p[maxTimestampPos:], uint64(timestampMs))
	binary.BigEndian.PutUint32(p[batchCRCPos:], crc32cChecksum(p[batchCRCCoveredStart:]))
}

// SetBatchCreateTime sets the timestamp-type attribute to CreateTime and
// the max timestamp to maxTimestampMs in the batch filling p, then
// recomputes its CRC, unless the batch says so already: a broker keeps
// the largest of the records' own timestamps as the batch's, whatever
// the producer wrote there, as Kafka's LogValidator does.
func SetBatchCreateTime(p []byte, maxTimestampMs int64) {
	attrs := binary.BigEndian.Uint16(p[batchAttributesPos:])
	if attrs&attrLogAppendTime == 0 && int64(binary.BigEndian.Uint64(p[batchMaxTimestampPos:])) == maxTimestampMs {
		return
	}
	binary.BigEndian.PutUint16(p[batchAttributesPos:], attrs&^attrLogAppendTime)
	binary.BigEndian.PutUint64(p[batchMaxTimestampPos:], uint64(maxTimestampMs))
	binary.BigEndian.PutUint32(p[batchCRCPos:], crc32cChecksum(p[batchCRCCoveredStart:]))
}

// ChecksumBatch recomputes and stores the CRC-32C of the batch filling p.
func ChecksumBatch(p []byte) {
	binary.BigEndian.PutUint32(p[batchCRCPos:], crc32cChecksum(p[batchCRCCoveredStart:]))
}
