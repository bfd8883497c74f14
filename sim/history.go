package sim

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// The history of client operations (CORRECTNESS.md §2.1): each operation is
// invoked, then completes once as ok (it happened), fail (it certainly did
// not) or info (unknown: a timeout, an answer that does not say). Every
// value sent is unique.

type outcome int8

const (
	pending outcome = iota
	outcomeOK
	outcomeFail
	outcomeInfo
)

func (o outcome) String() string {
	return [...]string{"pending", "ok", "fail", "info"}[o]
}

// sendOp is one produce of one value to one partition, with the producer's
// retries folded in (idempotence is off: a retry after an unknown outcome
// may append the value twice).
type sendOp struct {
	index    int
	process  int32
	tp       tpKey
	value    string
	acks     int16
	invokeMs int64
	doneMs   int64
	outcome  outcome
	// offset is where the ok attempt's value was appended.
	offset int64
	// ambiguous says some attempt may have been appended.
	ambiguous bool
	attempts  int
	deadline  int64
	lastError string
	// idempotent says the producer numbered its batches: a retry never
	// appends the value twice (Q2).
	idempotent bool
	// resentAfterUnknown says the producer sent the value again under a
	// new epoch or producer id after an attempt whose outcome it did not
	// know (franz-go's reset after a refusal for its producer,
	// client_idempotent_pipeline.go): it may be in the log twice (Q2), and
	// acknowledged after values sent after it (Q8).
	resentAfterUnknown bool
	// resentAfterStateLoss says the producer sent the value again under a
	// new producer id or epoch after its partition's producer state was
	// lost since the producer began there (World.stateLossEra: lost
	// records, or the topic deleted and created again): the partition
	// took a later batch of the old producer at any sequence, and may
	// hold it before this value (Q8).
	resentAfterStateLoss bool
	// abandoned says the client gave up the send (its transaction failed
	// meanwhile): producerSend sends it no more.
	abandoned bool
	// timestampMs is the CreateTime the producer gave the value, when
	// timestamped (every attempt sends it); appendTimeMs the LogAppendTime
	// its ok answer gave, when appendTimeKnown (timestamps.go, Q13).
	timestampMs int64
	timestamped bool
	// headerMaxMs, when not 0, is the max timestamp the producer wrongly
	// writes in its batch's header (timestamps.go).
	headerMaxMs     int64
	appendTimeMs    int64
	appendTimeKnown bool
	// attempt is what the last attempt knew (out_of_order.go); gate, for
	// a pipeline's batch, says when an attempt may go (client_pipeline.go).
	attempt produceAttempt
	gate    *pipeGate
	// recreatedEra is, for a write to recreateTopic, how many of its ids
	// were deleted when it was sent (topic_recreate_txn.go).
	recreatedEra int
}

// pollOp is one ok poll of one partition by an assigned consumer: the
// records read from position on, in offset order.
type pollOp struct {
	index    int
	process  int32
	tp       tpKey
	position int64
	atMs     int64
	// sentMs is when the fetch was sent (0: not recorded).
	sentMs  int64
	records []readRecord
	// final says the poll belongs to the final read phase; committed that
	// it read with read_committed (what it delivered is records of kind
	// recData).
	final     bool
	committed bool
}

// seekOp is a consumer moving its position (after OFFSET_OUT_OF_RANGE):
// poll monotonicity (Q9) starts afresh.
type seekOp struct {
	process int32
	tp      tpKey
	from    int64
	to      int64
	atMs    int64
}

// readRecord is one offset a poll covered: a record's value, a
// transaction marker (recControl, no value), or a record of an aborted
// transaction that a read_committed consumer skips (recAborted).
type readRecord struct {
	offset int64
	value  string
	kind   recKind
	// timestampMs is the record's timestamp as a client reads it: the
	// batch's max timestamp under LogAppendTime, else its own.
	timestampMs int64
}

type recKind uint8

const (
	recData recKind = iota
	recControl
	recAborted
)

type history struct {
	ops   int
	sends []*sendOp
	polls []*pollOp
	seeks []*seekOp
}

func newHistory() *history { return &history{} }

func (h *history) invokeSend(process int32, tp tpKey, value string, acks int16, nowMs, deadline int64) *sendOp {
	h.ops++
	op := &sendOp{index: h.ops, process: process, tp: tp, value: value, acks: acks, invokeMs: nowMs, offset: -1, deadline: deadline}
	h.sends = append(h.sends, op)
	return op
}

func (h *history) poll(process int32, tp tpKey, position int64, records []readRecord, nowMs int64, final bool) *pollOp {
	h.ops++
	op := &pollOp{index: h.ops, process: process, tp: tp, position: position, atMs: nowMs, records: records, final: final}
	h.polls = append(h.polls, op)
	return op
}

func (h *history) seek(process int32, tp tpKey, from, to, nowMs int64) {
	h.ops++
	h.seeks = append(h.seeks, &seekOp{process: process, tp: tp, from: from, to: to, atMs: nowMs})
}

// decodeRecords reads the records of fetched batches (uncompressed, as
// the workload writes them), with their offsets. Control batches give one
// entry of kind recControl per record; with readCommitted, the records of
// the aborted transactions the answer lists are of kind recAborted, as a
// read_committed consumer skips them (an aborted transaction of a
// producer starts at its listed first offset and ends at its abort
// marker). next is the offset after the last whole batch (-1: none): past
// a batch compaction emptied (kept for its producer's state), which has no
// record to move a consumer's position.
func decodeRecords(p []byte, aborted []kmsg.FetchResponseTopicPartitionAbortedTransaction, readCommitted bool) (out []readRecord, next int64, err error) {
	next = -1
	aborted = slices.Clone(aborted)
	slices.SortFunc(aborted, func(a, b kmsg.FetchResponseTopicPartitionAbortedTransaction) int {
		return cmp.Compare(a.FirstOffset, b.FirstOffset)
	})
	var abortedPids map[int64]bool
	for len(p) > 0 {
		size, err := logstore.BatchSize(p)
		if err != nil {
			return nil, -1, err
		}
		if size > len(p) {
			break // a partial batch at the end of a response
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(p[:size]); err != nil {
			return nil, -1, fmt.Errorf("batch at %d: %w", b.FirstOffset, err)
		}
		if b.Attributes&0x07 != 0 {
			return nil, -1, fmt.Errorf("batch at %d is compressed", b.FirstOffset)
		}
		last := b.FirstOffset + int64(b.LastOffsetDelta)
		for readCommitted && len(aborted) > 0 && aborted[0].FirstOffset <= last {
			if abortedPids == nil {
				abortedPids = map[int64]bool{}
			}
			abortedPids[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		control := b.Attributes&0x20 != 0
		kind := recData
		switch {
		case control:
			kind = recControl
			if info := logstore.ReadProducerBatchInfo(p[:size]); !info.Commit {
				delete(abortedPids, b.ProducerID)
			}
		case b.Attributes&0x10 != 0 && abortedPids[b.ProducerID]:
			kind = recAborted
		}
		rs := b.Records
		for i := 0; i < int(b.NumRecords); i++ {
			length, n := binary.Varint(rs)
			if n <= 0 || int64(n)+length > int64(len(rs)) {
				return nil, -1, fmt.Errorf("batch at %d: record %d does not decode", b.FirstOffset, i)
			}
			var r kmsg.Record
			if err := r.ReadFrom(rs[:int64(n)+length]); err != nil {
				return nil, -1, fmt.Errorf("batch at %d: record %d: %w", b.FirstOffset, i, err)
			}
			rec := readRecord{offset: b.FirstOffset + int64(r.OffsetDelta), value: string(r.Value), kind: kind, timestampMs: b.FirstTimestamp + r.TimestampDelta64}
			if b.Attributes&0x08 != 0 {
				rec.timestampMs = b.MaxTimestamp
			}
			if control {
				rec.value = ""
			}
			out = append(out, rec)
			rs = rs[int64(n)+length:]
		}
		p = p[size:]
		next = last + 1
	}
	return out, next, nil
}
