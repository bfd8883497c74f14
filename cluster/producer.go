package cluster

import (
	"fmt"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// DefaultProducerIDExpirationMs is Kafka's producer.id.expiration.ms: a
// producer id with no batch for this long is forgotten.
const DefaultProducerIDExpirationMs = 86_400_000

// producerCheck is the outcome of checking an idempotent batch against the
// partition's producer state.
type producerCheck struct {
	code int16
	msg  string
	// duplicate is set when the batch is a retry of one of the producer's
	// latest batches: it is answered with that batch's offsets and not
	// appended again.
	duplicate *logstore.ProducerBatch
}

// checkProducer checks an idempotent batch as Kafka's log layer does, against
// the producer's entry and the batches of it still being appended:
//   - an epoch older than the producer's is INVALID_PRODUCER_EPOCH (a zombie);
//   - a batch with the sequences of one of its latest batches is a duplicate;
//   - a newer epoch must start at sequence 0, and within an epoch a batch
//     must follow the last one's sequence: else OUT_OF_ORDER_SEQUENCE_NUMBER.
//     An epoch the partition knows with no sequence (a transaction.version
//     2 marker carries the epoch bumped for the producer's next
//     transaction) starts at 0 too, as in Kafka (inSequence(-1, 0)): taking
//     any sequence there let a later batch in ahead of a first one that
//     failed, whose retry was then out of order;
//   - a producer the partition does not know (new, or expired) may start
//     anywhere.
func (r *Replica) checkProducer(info logstore.ProducerBatchInfo) producerCheck {
	entry, known := r.producers.Get(info.ProducerID)
	pending := r.producerAppending[info.ProducerID]
	if !known && len(pending) == 0 {
		return r.checkVerificationSeq(info)
	}
	epoch, lastSeq := int16(-1), int32(-1)
	if known {
		epoch, lastSeq = entry.ProducerEpoch, entry.LastSequence()
	}
	if n := len(pending); n > 0 {
		if pending[n-1].ProducerEpoch != epoch {
			lastSeq = -1
		}
		epoch = pending[n-1].ProducerEpoch
		if pending[n-1].BaseSequence >= 0 {
			lastSeq = pending[n-1].LastSequence
		}
	}
	if info.ProducerEpoch < epoch {
		return producerCheck{code: kerr.InvalidProducerEpoch.Code,
			msg: fmt.Sprintf("producer %d epoch %d is older than the partition's %d", info.ProducerID, info.ProducerEpoch, epoch)}
	}
	if info.ProducerEpoch == epoch {
		if known && entry.ProducerEpoch == epoch {
			if b, ok := entry.FindBatch(info.BaseSequence, info.LastSequence); ok {
				return producerCheck{duplicate: &b}
			}
		}
		for _, p := range pending {
			if p.ProducerEpoch == epoch && p.BaseSequence == info.BaseSequence && p.LastSequence == info.LastSequence {
				// The original is being appended: the client retries
				// and then finds it among the latest batches.
				return producerCheck{code: kerr.RequestTimedOut.Code,
					msg: fmt.Sprintf("producer %d sequence %d is still being appended", info.ProducerID, info.BaseSequence)}
			}
		}
	}
	if check := r.checkVerificationSeq(info); check.code != 0 {
		return check
	}
	switch {
	case info.ProducerEpoch > epoch && info.BaseSequence != 0 && epoch >= 0:
		return producerCheck{code: kerr.OutOfOrderSequenceNumber.Code,
			msg: fmt.Sprintf("producer %d starts epoch %d at sequence %d, not 0", info.ProducerID, info.ProducerEpoch, info.BaseSequence)}
	case info.ProducerEpoch == epoch && lastSeq < 0 && info.BaseSequence != 0:
		return producerCheck{code: kerr.OutOfOrderSequenceNumber.Code,
			msg: fmt.Sprintf("producer %d epoch %d sent sequence %d as the first of the epoch, not 0", info.ProducerID, epoch, info.BaseSequence)}
	case info.ProducerEpoch == epoch && lastSeq >= 0 && !inSequence(lastSeq, info.BaseSequence):
		return producerCheck{code: kerr.OutOfOrderSequenceNumber.Code,
			msg: fmt.Sprintf("producer %d epoch %d sent sequence %d after %d", info.ProducerID, epoch, info.BaseSequence, lastSeq)}
	}
	return producerCheck{}
}

// checkVerificationSeq refuses a batch that comes after one of its
// producer's batches that waited for verification and was not appended
// (noteVerificationSeq), as Kafka's ProducerAppendInfo does: a producer the
// partition does not know may otherwise start anywhere, and would find the
// retry of the earlier batch refused as out of order.
func (r *Replica) checkVerificationSeq(info logstore.ProducerBatchInfo) producerCheck {
	if lowest, blocked := r.verificationSeqBlocks(info); blocked {
		return producerCheck{code: kerr.OutOfOrderSequenceNumber.Code,
			msg: fmt.Sprintf("producer %d sent sequence %d before its batch at sequence %d, which %s, was appended", info.ProducerID, info.BaseSequence, lowest, VerificationSeqRefusal)}
	}
	return producerCheck{}
}

// VerificationSeqRefusal is in the message of every OUT_OF_ORDER_SEQUENCE_NUMBER
// checkVerificationSeq answers, so that a reader of the reply (the
// simulator's counters) can tell that refusal from a plain sequence gap.
const VerificationSeqRefusal = "waited for its transaction's verification"

// inSequence says next follows last (wrapping past math.MaxInt32 to 0).
func inSequence(last, next int32) bool {
	return next == last+1 || last == math.MaxInt32 && next == 0
}

// producerAppendStarted records an idempotent batch handed out for
// appending.
func (r *Replica) producerAppendStarted(info logstore.ProducerBatchInfo) {
	r.forgetVerificationSeq(info)
	r.producerAppending[info.ProducerID] = append(r.producerAppending[info.ProducerID], info)
}

// producerAppendDone takes a batch handed out for appending off the list;
// appended, it enters the producer state at its offsets.
func (r *Replica) producerAppendDone(info logstore.ProducerBatchInfo, baseOffset int64, appended bool) {
	pending := r.producerAppending[info.ProducerID]
	if i := slices.IndexFunc(pending, func(p logstore.ProducerBatchInfo) bool {
		return p.BaseSequence == info.BaseSequence && p.ProducerEpoch == info.ProducerEpoch
	}); i >= 0 {
		pending = slices.Delete(pending, i, i+1)
	}
	// An emptied list stays, with its array, for the producer's next
	// batch (one allocation per batch otherwise); expireProducers drops
	// the emptied ones.
	r.producerAppending[info.ProducerID] = pending
	if appended {
		info.LastOffset += baseOffset - info.FirstOffset
		info.FirstOffset = baseOffset
		r.txnCompleted(r.producers.Apply(info))
	}
}

// answerDuplicate answers a retried batch with its original offsets, as a
// completed append would be: at once for acks=1, once the high watermark
// passed it for acks=all.
func (r *Replica) answerDuplicate(p pendingProduce, b logstore.ProducerBatch) {
	p.baseOffset, p.nextOffset = b.FirstOffset, b.LastOffset+1
	switch {
	case p.acks == 0:
	case p.acks == 1 || p.nextOffset <= r.highWatermark:
		r.reply(p, 0, "")
	default:
		i, _ := slices.BinarySearchFunc(r.awaitingHW, p.nextOffset, func(q pendingProduce, next int64) int {
			return cmpInt64(q.nextOffset, next+1)
		})
		r.awaitingHW = slices.Insert(r.awaitingHW, i, p)
	}
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// applyFollowerBatches takes batches a follower appended into the producer
// state, as its leader did when it appended them: transactional batches open
// their producer's transaction, and a marker ends it (a transaction whose
// marker the high watermark has not passed stays unstable, as on the
// leader).
func (r *Replica) applyFollowerBatches(infos []logstore.ProducerBatchInfo) {
	for _, info := range infos {
		r.forgetVerificationSeq(info)
		r.txnCompleted(r.producers.Apply(info))
	}
}

// producerInfos reads the producer fields of stored batches.
func producerInfos(batches [][]byte) []logstore.ProducerBatchInfo {
	out := make([]logstore.ProducerBatchInfo, 0, len(batches))
	for _, b := range batches {
		if len(b) >= logstore.BatchHeaderBytes {
			out = append(out, logstore.ReadProducerBatchInfo(b))
		}
	}
	return out
}

// producersTruncated takes the log's producer state after a truncation; a
// shell that does not hand it over leaves the core dropping the batches past
// the new log end (a producer left with none starts anew).
func (r *Replica) producersTruncated(st *logstore.ProducerStates, logEnd int64) {
	if st != nil {
		r.producers = st
		return
	}
	var gone []int64
	for _, id := range r.producers.IDs() {
		e, _ := r.producers.Get(id)
		if len(e.Batches) > 0 && e.Batches[len(e.Batches)-1].LastOffset >= logEnd {
			gone = append(gone, id)
		}
	}
	r.producers.Remove(gone...)
}

// expireProducers forgets the producer ids whose last batch is older than
// producer.id.expiration.ms (by the wall clock; batches carry the producer's
// time, as Kafka's) and that have no open transaction or append; the shell
// forgets them in the log too.
func (r *Replica) expireProducers(wallMs int64) {
	var gone []int64
	for _, id := range r.producers.IDs() {
		e, _ := r.producers.Get(id)
		if e.TxnFirstOffset < 0 && len(r.producerAppending[id]) == 0 && wallMs-e.LastTimestamp >= r.opts.ProducerIDExpirationMs {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		r.producers.Remove(gone...)
		r.ready.ExpireProducers = append(r.ready.ExpireProducers, gone...)
	}
	// The emptied lists kept for their arrays (producerAppendDone) go too.
	for id, pending := range r.producerAppending {
		if len(pending) == 0 {
			delete(r.producerAppending, id)
		}
	}
	r.expireVerificationSeqs(wallMs)
}

// Producers is the partition's producer state (DescribeProducers); the
// caller must not change it.
func (r *Replica) Producers() *logstore.ProducerStates { return r.producers }
