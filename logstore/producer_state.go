package logstore

import (
	"encoding/binary"
	"maps"
	"math"
	"slices"
)

// ProducerBatchesKept is how many of a producer's latest batches a partition
// remembers (Kafka's): a retry of one of them is answered with its original
// offset instead of being appended again.
const ProducerBatchesKept = 5

// NoProducerID is a batch's producer id when its producer is not idempotent.
const NoProducerID = -1

// ProducerBatchInfo is what a RecordBatch v2 header says of its producer,
// read without decoding the records.
type ProducerBatchInfo struct {
	ProducerID    int64
	ProducerEpoch int16
	// BaseSequence is the first record's sequence number (-1: none);
	// LastSequence the last record's (wrapping past math.MaxInt32 to 0).
	BaseSequence, LastSequence int32
	FirstOffset, LastOffset    int64
	MaxTimestampMs             int64
	Transactional, Control     bool
}

// ReadProducerBatchInfo reads the producer fields of the batch header at the
// start of p (at least BatchHeaderBytes long; not checked further).
func ReadProducerBatchInfo(p []byte) ProducerBatchInfo {
	attrs := int16(binary.BigEndian.Uint16(p[batchAttributesPos:]))
	base := int64(binary.BigEndian.Uint64(p[batchBaseOffsetPos:]))
	lastDelta := int32(binary.BigEndian.Uint32(p[batchLastOffsetDeltaPos:]))
	info := ProducerBatchInfo{
		ProducerID:     int64(binary.BigEndian.Uint64(p[43:])),
		ProducerEpoch:  int16(binary.BigEndian.Uint16(p[51:])),
		BaseSequence:   int32(binary.BigEndian.Uint32(p[53:])),
		FirstOffset:    base,
		LastOffset:     base + int64(lastDelta),
		MaxTimestampMs: int64(binary.BigEndian.Uint64(p[batchMaxTimestampPos:])),
		Transactional:  attrs&0x10 != 0,
		Control:        attrs&0x20 != 0,
	}
	info.LastSequence = -1
	if info.BaseSequence >= 0 {
		info.LastSequence = addSequence(info.BaseSequence, lastDelta)
	}
	return info
}

// addSequence adds delta to a sequence number, wrapping past math.MaxInt32
// to 0 as producers do.
func addSequence(seq, delta int32) int32 {
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// ProducerBatch is one of a producer's latest batches: its sequences and
// where it landed.
type ProducerBatch struct {
	FirstSequence, LastSequence int32
	FirstOffset, LastOffset     int64
	MaxTimestampMs              int64
}

// ProducerEntry is what a partition knows of one producer id: its epoch, its
// latest batches (oldest first, at most ProducerBatchesKept), the time of
// its last batch (the producer's clock, as the batch says: expiry counts
// from it) and the first offset of its ongoing transaction.
type ProducerEntry struct {
	ProducerID    int64
	ProducerEpoch int16
	Batches       []ProducerBatch
	LastTimestamp int64
	// CoordinatorEpoch is the epoch of the transaction coordinator that
	// wrote the producer's last transaction marker (-1: none).
	CoordinatorEpoch int32
	// TxnFirstOffset is the first offset of the ongoing transaction, -1
	// when there is none.
	TxnFirstOffset int64
}

// LastSequence is the sequence of the producer's last record, -1 when no
// batch is remembered.
func (e *ProducerEntry) LastSequence() int32 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastSequence
}

// FindBatch returns the remembered batch with exactly these sequences.
func (e *ProducerEntry) FindBatch(first, last int32) (ProducerBatch, bool) {
	for _, b := range e.Batches {
		if b.FirstSequence == first && b.LastSequence == last {
			return b, true
		}
	}
	return ProducerBatch{}, false
}

// ProducerStates is a partition's producer state: every producer id its log
// holds batches of (until they expire), as the log's batches in offset
// order built it. The same batches build the same state on every replica:
// the leader as it appends, a follower as it copies, a restart from a
// snapshot and the log after it.
type ProducerStates struct {
	entries map[int64]*ProducerEntry
}

// NewProducerStates is the empty state.
func NewProducerStates() *ProducerStates {
	return &ProducerStates{entries: map[int64]*ProducerEntry{}}
}

// Clone is a deep copy.
func (s *ProducerStates) Clone() *ProducerStates {
	c := &ProducerStates{entries: make(map[int64]*ProducerEntry, len(s.entries))}
	for id, e := range s.entries {
		ce := *e
		ce.Batches = slices.Clone(e.Batches)
		c.entries[id] = &ce
	}
	return c
}

// Get returns the entry of a producer id; the caller must not change it.
func (s *ProducerStates) Get(id int64) (*ProducerEntry, bool) {
	e, ok := s.entries[id]
	return e, ok
}

// Len is the number of producer ids.
func (s *ProducerStates) Len() int { return len(s.entries) }

// IDs lists the producer ids in order.
func (s *ProducerStates) IDs() []int64 { return slices.Sorted(maps.Keys(s.entries)) }

// Remove forgets producer ids (expired ones).
func (s *ProducerStates) Remove(ids ...int64) {
	for _, id := range ids {
		delete(s.entries, id)
	}
}

// Apply takes one appended batch into the state. Batches without a producer
// id change nothing. A newer epoch replaces what was known of the producer;
// an older one (a replica copying what its leader accepted before a fence)
// is taken as it comes. A control batch ends the producer's transaction.
func (s *ProducerStates) Apply(info ProducerBatchInfo) {
	if info.ProducerID == NoProducerID {
		return
	}
	e, ok := s.entries[info.ProducerID]
	if !ok {
		e = &ProducerEntry{ProducerID: info.ProducerID, ProducerEpoch: info.ProducerEpoch, CoordinatorEpoch: -1, TxnFirstOffset: -1}
		s.entries[info.ProducerID] = e
	}
	if info.ProducerEpoch != e.ProducerEpoch {
		e.ProducerEpoch, e.Batches = info.ProducerEpoch, nil
	}
	e.LastTimestamp = max(e.LastTimestamp, info.MaxTimestampMs)
	switch {
	case info.Control:
		e.TxnFirstOffset = -1
		return
	case info.Transactional && e.TxnFirstOffset < 0:
		e.TxnFirstOffset = info.FirstOffset
	}
	if info.BaseSequence < 0 {
		return
	}
	if len(e.Batches) == ProducerBatchesKept {
		e.Batches = append(e.Batches[:0], e.Batches[1:]...)
	}
	e.Batches = append(e.Batches, ProducerBatch{FirstSequence: info.BaseSequence, LastSequence: info.LastSequence,
		FirstOffset: info.FirstOffset, LastOffset: info.LastOffset, MaxTimestampMs: info.MaxTimestampMs})
}

// ApplyBatches takes every batch of p (whole stored batches, offsets set)
// into the state.
func (s *ProducerStates) ApplyBatches(p []byte) {
	for len(p) >= BatchHeaderBytes {
		n, err := BatchSize(p)
		if err != nil || n > len(p) {
			return
		}
		s.Apply(ReadProducerBatchInfo(p))
		p = p[n:]
	}
}
