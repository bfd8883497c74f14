package cluster

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// Group commit: a shell may write the appends of one Ready together (one
// write for the produces that waited while the partition was busy). Each
// produce was checked on its own, its producer's sequence against the
// batches handed out before it. Should that write fail, the shell appends
// them one by one so that a batch the log refuses fails alone; but a batch
// whose producer's earlier batch (same epoch) failed must then not be
// written: it would leave a gap in that producer's sequence. The core
// marks such appends precluded when the earlier one fails, and withdraws
// them when the shell asks (AppendWithdrawn), answering
// OUT_OF_ORDER_SEQUENCE_NUMBER as it would had the batch come after the
// failure; the client retries both in order.

// precludeFollowers marks the appends handed out after failed, of the same
// producer and epoch, as precluded.
func (r *Replica) precludeFollowers(failed logstore.ProducerBatchInfo) {
	if failed.BaseSequence < 0 || len(r.producerAppending[failed.ProducerID]) == 0 {
		return
	}
	for id, p := range r.appending {
		if q := p.producer; p.hasProducer && q.ProducerID == failed.ProducerID && q.ProducerEpoch == failed.ProducerEpoch && q.BaseSequence >= 0 && sequenceAfter(q.BaseSequence, failed.BaseSequence) {
			p.precluded = true
			r.appending[id] = p
		}
	}
}

// AppendWithdrawn asks, before the shell writes append id on its own (its
// group's write failed), whether it may still go. When an earlier batch of
// its producer failed since it was handed out, the core withdraws it:
// answered OUT_OF_ORDER_SEQUENCE_NUMBER, as no longer being appended; it
// reports true and the shell must not write it (nor report its
// completion).
func (r *Replica) AppendWithdrawn(id RequestID) bool {
	p, ok := r.appending[id]
	if !ok || !p.precluded {
		return false
	}
	r.AppendCompleted(id, AppendOutcome{}, fmt.Errorf("producer %d sequence %d follows a batch of its whose append failed: %w",
		p.producer.ProducerID, p.producer.BaseSequence, kerr.OutOfOrderSequenceNumber))
	return true
}

// sequenceAfter says sequence a comes after b, sequences wrapping past
// math.MaxInt32 to 0 (a producer's batches in flight span far less than
// half the range).
func sequenceAfter(a, b int32) bool {
	if a >= b {
		return a > b && a-b < 1<<30
	}
	return b-a > 1<<30
}

// AppendsCompleted reports the outcomes of appends written together, in
// the order handed out, each as AppendCompleted would; the parked fetches
// wake once, after the last. Woken after the first, a follower's fetch
// would read only that one's batch (its bound is the log end offset the
// core knows) and come back at once for the rest: a round trip per
// append of the group instead of one.
func (r *Replica) AppendsCompleted(ids []RequestID, outs []AppendOutcome) {
	if len(ids) != len(outs) {
		panic(fmt.Sprintf("replica: %d append completions for %d outcomes", len(ids), len(outs)))
	}
	r.wakeDeferred = true
	for i, id := range ids {
		r.AppendCompleted(id, outs[i], nil)
	}
	r.wakeDeferred = false
	r.wakeReadable()
}
