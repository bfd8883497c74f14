package logstore

import "encoding/binary"

// EpochRange is a stretch of offsets [FirstOffset, LastOffset] of one
// partition leader epoch.
type EpochRange struct {
	FirstOffset, LastOffset int64
	LeaderEpoch             int32
}

// EmptyBatch encodes a RecordBatch v2 with no record that covers offsets
// [base, last] in leader epoch epoch: no producer, no timestamp. It is what
// compaction leaves of a batch whose records all went (Kafka's
// RETAIN_EMPTY), and a reader skips its offsets.
func EmptyBatch(base, last int64, epoch int32) []byte {
	p := make([]byte, BatchHeaderBytes)
	binary.BigEndian.PutUint64(p[batchBaseOffsetPos:], uint64(base))
	binary.BigEndian.PutUint32(p[batchLengthPos:], BatchHeaderBytes-batchLengthOverhead)
	binary.BigEndian.PutUint32(p[batchLeaderEpochPos:], uint32(epoch))
	p[batchMagicPos] = 2
	binary.BigEndian.PutUint32(p[batchLastOffsetDeltaPos:], uint32(last-base))
	binary.BigEndian.PutUint64(p[batchLastOffsetDeltaPos+4:], ^uint64(0)) // base timestamp -1
	binary.BigEndian.PutUint64(p[batchMaxTimestampPos:], ^uint64(0))      // max timestamp -1
	binary.BigEndian.PutUint64(p[batchMaxTimestampPos+8:], ^uint64(0))    // producer id -1
	binary.BigEndian.PutUint16(p[batchMaxTimestampPos+16:], ^uint16(0))   // producer epoch -1
	binary.BigEndian.PutUint32(p[batchMaxTimestampPos+18:], ^uint32(0))   // base sequence -1
	// The record count (the last four bytes) stays 0.
	ChecksumBatch(p)
	return p
}

// IsEmptyStretchBatch says b holds no record and names no producer: a batch
// EmptyStretchRecords made (compaction keeps an empty batch only for its
// producer's sequence, so every batch it keeps names one).
func IsEmptyStretchBatch(b *Batch) bool { return b.NumRecords == 0 && b.ProducerID < 0 }

// MayBeEmptyStretchBatch says, from the header of the batch at the start of
// p alone, whether it may be an empty stretch: it counts no record and names
// no producer. It reads no record and checks no CRC (false when p is shorter
// than a header), so a caller looking for empty stretches among fetched
// batches pays ParseBatch's pass over the bytes only for the few candidates;
// IsEmptyStretchBatch of the parsed batch decides. Every batch
// IsEmptyStretchBatch accepts passes it.
func MayBeEmptyStretchBatch(p []byte) bool {
	if len(p) < BatchHeaderBytes {
		return false
	}
	return binary.BigEndian.Uint32(p[batchRecordCountPos:]) == 0 && int64(binary.BigEndian.Uint64(p[batchProducerIDPos:])) < 0
}

// EmptyStretchRecords are records of one empty batch per range (EmptyBatch),
// in memory: a leader's answer to a follower whose fetch offset lies in a
// stretch of its log that holds no batch up to its log end offset, so that
// the follower's log end moves over the stretch as its leader's does.
func EmptyStretchRecords(ranges []EpochRange) *Records {
	r := &Records{}
	for i, e := range ranges {
		p := EmptyBatch(e.FirstOffset, e.LastOffset, e.LeaderEpoch)
		if i == 0 {
			r.FirstOffset = e.FirstOffset
		}
		r.NextOffset = e.LastOffset + 1
		r.sizeBytes += int64(len(p))
		r.chunks = append(r.chunks, recordsChunk{mem: p})
	}
	return r
}
