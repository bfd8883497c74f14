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
	// Commit says a control batch is a transaction's commit marker (not
	// its abort marker); CoordinatorEpoch is the epoch of the transaction
	// coordinator that wrote it.
	Commit           bool
	CoordinatorEpoch int32
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
	if info.Control {
		var typ int16
		typ, info.CoordinatorEpoch = readControlRecord(p[BatchHeaderBytes:])
		info.Commit = typ == ControlCommit
	}
	return info
}

// The control record types of transaction markers (the key's type field).
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// readControlRecord reads the marker type (the key's) and the coordinator
// epoch (the value's) of the first record of an uncompressed control batch's
// records; -1, -1 when it cannot.
func readControlRecord(recs []byte) (int16, int32) {
	for i := 0; i < 4; i++ { // length, attributes, timestamp delta, offset delta
		if i == 1 {
			if len(recs) == 0 {
				return -1, -1
			}
			recs = recs[1:]
			continue
		}
		_, n := binary.Varint(recs)
		if n <= 0 {
			return -1, -1
		}
		recs = recs[n:]
	}
	keyLen, n := binary.Varint(recs)
	if n <= 0 || keyLen < 4 || int64(len(recs)-n) < keyLen {
		return -1, -1
	}
	typ := int16(binary.BigEndian.Uint16(recs[n+2:]))
	recs = recs[n+int(keyLen):]
	valueLen, n := binary.Varint(recs)
	if n <= 0 || valueLen < 6 || int64(len(recs)-n) < valueLen {
		return typ, -1
	}
	return typ, int32(binary.BigEndian.Uint32(recs[n+2:]))
}

// CompletedTxn is a transaction a marker ended: the producer, the first
// offset of its records and the marker's offset.
type CompletedTxn struct {
	ProducerID  int64
	FirstOffset int64
	// LastOffset is the marker's offset.
	LastOffset int64
	Aborted    bool
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
	// LastTxnFirstOffset and LastTxnMarkerOffset are where the producer's
	// latest ended transaction started and where its marker is, -1 when
	// none ended: a replica that restarts with its marker above its high
	// watermark keeps the transaction unstable until the marker is
	// replicated, as the replica that wrote it did.
	LastTxnFirstOffset, LastTxnMarkerOffset int64
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
	// ongoing maps the producers with an open transaction to its first
	// offset.
	ongoing map[int64]int64
}

// NewProducerStates is the empty state.
func NewProducerStates() *ProducerStates {
	return &ProducerStates{entries: map[int64]*ProducerEntry{}, ongoing: map[int64]int64{}}
}

// Clone is a deep copy.
func (s *ProducerStates) Clone() *ProducerStates {
	c := &ProducerStates{entries: make(map[int64]*ProducerEntry, len(s.entries)), ongoing: maps.Clone(s.ongoing)}
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
		delete(s.ongoing, id)
	}
}

// FirstUnstableOffset is the first offset of the oldest open transaction;
// false when none is open.
func (s *ProducerStates) FirstUnstableOffset() (int64, bool) {
	first, found := int64(math.MaxInt64), false
	for _, off := range s.ongoing {
		first, found = min(first, off), true
	}
	return first, found
}

// Ongoing lists the open transactions' producers with their first offsets,
// by producer id.
func (s *ProducerStates) Ongoing() map[int64]int64 { return maps.Clone(s.ongoing) }

// EndedSince lists each producer's latest ended transaction whose marker is
// at or past offset, by producer id.
func (s *ProducerStates) EndedSince(offset int64) []CompletedTxn {
	var out []CompletedTxn
	for _, id := range s.IDs() {
		if e := s.entries[id]; e.LastTxnMarkerOffset >= offset {
			out = append(out, CompletedTxn{ProducerID: id, FirstOffset: e.LastTxnFirstOffset, LastOffset: e.LastTxnMarkerOffset})
		}
	}
	return out
}

// Apply takes one appended batch into the state. Batches without a producer
// id change nothing. A newer epoch replaces what was known of the producer;
// an older one (a replica copying what its leader accepted before a fence)
// is taken as it comes. A control batch ends the producer's transaction,
// which it returns with ended set (a value, not a pointer: one allocation
// fewer per marker).
func (s *ProducerStates) Apply(info ProducerBatchInfo) (done CompletedTxn, ended bool) {
	if info.ProducerID == NoProducerID {
		return CompletedTxn{}, false
	}
	e, ok := s.entries[info.ProducerID]
	if !ok {
		e = &ProducerEntry{ProducerID: info.ProducerID, ProducerEpoch: info.ProducerEpoch, CoordinatorEpoch: -1, TxnFirstOffset: -1,
			LastTxnFirstOffset: -1, LastTxnMarkerOffset: -1}
		s.entries[info.ProducerID] = e
	}
	if info.ProducerEpoch != e.ProducerEpoch {
		e.ProducerEpoch, e.Batches = info.ProducerEpoch, e.Batches[:0] // the array is kept for the new epoch's batches
	}
	e.LastTimestamp = max(e.LastTimestamp, info.MaxTimestampMs)
	switch {
	case info.Control:
		if e.TxnFirstOffset >= 0 {
			done, ended = CompletedTxn{ProducerID: info.ProducerID, FirstOffset: e.TxnFirstOffset, LastOffset: info.LastOffset, Aborted: !info.Commit}, true
			e.LastTxnFirstOffset, e.LastTxnMarkerOffset = e.TxnFirstOffset, info.LastOffset
		}
		e.TxnFirstOffset = -1
		e.CoordinatorEpoch = max(e.CoordinatorEpoch, info.CoordinatorEpoch)
		delete(s.ongoing, info.ProducerID)
		return done, ended
	case info.Transactional && e.TxnFirstOffset < 0:
		e.TxnFirstOffset = info.FirstOffset
		s.ongoing[info.ProducerID] = info.FirstOffset
	}
	if info.BaseSequence < 0 {
		return CompletedTxn{}, false
	}
	if len(e.Batches) == ProducerBatchesKept {
		e.Batches = append(e.Batches[:0], e.Batches[1:]...)
	}
	e.Batches = append(e.Batches, ProducerBatch{FirstSequence: info.BaseSequence, LastSequence: info.LastSequence,
		FirstOffset: info.FirstOffset, LastOffset: info.LastOffset, MaxTimestampMs: info.MaxTimestampMs})
	return CompletedTxn{}, false
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
