package cluster

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// VerifyTxn asks the shell to ask the transaction coordinator whether the
// partition is in the producer's ongoing transaction (KIP-890 part 1, the
// verify-only AddPartitionsToTxn) before a transactional batch is appended,
// or, with Add, to add it to the transaction (KIP-890 part 2, the
// AddPartitionsToTxn v5 a broker sends for a producer); TxnVerified with
// the answer.
type VerifyTxn struct {
	ID              RequestID
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	// Add asks the coordinator to add the partition to the transaction
	// (opening one if none is) rather than only to verify it.
	Add bool
}

// TxnOperation is what a transactional produce lets its partition leader do
// about a transaction the partition does not know (Kafka's
// TransactionSupportedOperation).
type TxnOperation int8

// The operations, by the request's version.
const (
	// TxnVerifyOnly verifies the partition is in the transaction
	// (KIP-890 part 1) and refuses the batch when it is not.
	TxnVerifyOnly TxnOperation = iota
	// TxnAddPartition adds the partition to the producer's transaction
	// (KIP-890 part 2): the producer sent no AddPartitionsToTxn.
	TxnAddPartition
	// TxnVerifyAbortable verifies as TxnVerifyOnly, for a client that
	// knows TRANSACTION_ABORTABLE (Produce v11, TxnOffsetCommit v4), which
	// it is refused with (txnRefusalCode).
	TxnVerifyAbortable
)

// TxnOperationForProduce is the operation of a Produce request of version
// v: Produce v12 and later come from producers under transaction.version 2,
// which add partitions by producing to them; v11 producers handle
// TRANSACTION_ABORTABLE.
func TxnOperationForProduce(v int16) TxnOperation {
	switch {
	case v >= 12:
		return TxnAddPartition
	case v == 11:
		return TxnVerifyAbortable
	}
	return TxnVerifyOnly
}

// TxnOperationForTxnOffsetCommit is the operation of the offsets a
// TxnOffsetCommit of version v appends: v5 and later come from producers
// under transaction.version 2, which send no AddOffsetsToTxn; v4 producers
// handle TRANSACTION_ABORTABLE.
func TxnOperationForTxnOffsetCommit(v int16) TxnOperation {
	switch {
	case v >= 5:
		return TxnAddPartition
	case v == 4:
		return TxnVerifyAbortable
	}
	return TxnVerifyOnly
}

// verifyingProduce is a transactional produce waiting for its verification.
type verifyingProduce struct {
	id       RequestID
	req      ProduceRequest
	producer int64
	epoch    int16
	// add says the coordinator was asked to add the partition.
	add      bool
	answered bool
	code     int16
	// stale is set when a marker that may end the transaction the answer
	// is about was written while the produce waited: a yes no longer
	// holds (txnMarkerStarted).
	stale bool
}

// needsTxnVerification says whether a transactional batch must be verified
// with the coordinator first, as Kafka's log decides: only when the
// partition does not know the producer's transaction as ongoing. It is
// ongoing when the producer's latest batch (one being appended, else the
// producer state's) is a transactional data batch of the same epoch:
// verified once, no marker since. A produce of a producer with produces
// still waiting for verification waits too, so batches keep their order.
//
// The offsets of a TxnOffsetCommit (a batch with no sequence, appended by
// the group coordinator with the request's transactional id) are checked
// too, as Kafka's group coordinator checks them: a TxnOffsetCommit before
// v5 that no AddOffsetsToTxn preceded would leave a transaction open on
// the offsets partition that no marker ever ends.
func (r *Replica) needsTxnVerification(req ProduceRequest, info logstore.ProducerBatchInfo) bool {
	if req.TransactionalID == "" || !info.Transactional || info.Control {
		return false
	}
	if slices.ContainsFunc(r.verifying, func(v verifyingProduce) bool { return v.producer == info.ProducerID }) {
		return true
	}
	if epoch, ok := r.txnAdded[info.ProducerID]; ok && epoch == info.ProducerEpoch {
		return false
	}
	if pending := r.producerAppending[info.ProducerID]; len(pending) > 0 {
		last := pending[len(pending)-1]
		return !(last.Transactional && !last.Control && last.ProducerEpoch == info.ProducerEpoch)
	}
	e, ok := r.producers.Get(info.ProducerID)
	return !ok || e.ProducerEpoch != info.ProducerEpoch || e.TxnFirstOffset < 0
}

// awaitTxnVerification parks a produce until its verification is answered,
// noting its sequence (noteVerificationSeq). The records are copied: the
// shell releases the request's buffer once Produce returns.
func (r *Replica) awaitTxnVerification(id RequestID, req ProduceRequest, info logstore.ProducerBatchInfo, wallMs int64) {
	r.noteVerificationSeq(info, wallMs)
	req.Records = slices.Clone(req.Records)
	add := req.TxnOperation == TxnAddPartition
	r.verifying = append(r.verifying, verifyingProduce{id: id, req: req, producer: info.ProducerID, epoch: info.ProducerEpoch, add: add})
	r.ready.VerifyTxns = append(r.ready.VerifyTxns, VerifyTxn{ID: id, TransactionalID: req.TransactionalID,
		ProducerID: info.ProducerID, ProducerEpoch: info.ProducerEpoch, Add: add})
}

// TxnVerified reports the coordinator's answer to a VerifyTxn: 0 (the
// partition is in the ongoing transaction) or the code the produce is
// refused with. Produces are taken up in the order they arrived: a yes
// appends (the produce is checked again as new, without verification), a
// no or a yes made stale by a marker refuses. An answer for a produce the
// core no longer holds (it stopped leading) is ignored.
func (r *Replica) TxnVerified(id RequestID, code int16, now Instant) {
	i := slices.IndexFunc(r.verifying, func(v verifyingProduce) bool { return v.id == id })
	if i < 0 {
		return
	}
	r.verifying[i].answered, r.verifying[i].code = true, code
	for len(r.verifying) > 0 && r.verifying[0].answered {
		v := r.verifying[0]
		r.verifying = slices.Delete(r.verifying, 0, 1)
		p := pendingProduce{id: v.id, acks: v.req.Acks}
		switch {
		case v.code != 0:
			r.reply(p, txnRefusalCode(v.code, v.req.TxnOperation), fmt.Sprintf("the transaction coordinator did not verify producer %d's transaction on the partition", v.producer))
		case v.stale:
			r.reply(p, kerr.InvalidTxnState.Code, fmt.Sprintf("producer %d's transaction ended on the partition while its produce was verified", v.producer))
		default:
			r.produce(v.id, v.req, now, true)
		}
	}
}

// TxnPartitionAdded tells the leader that its partition is in the ongoing
// transaction of the producer id and epoch (the transaction coordinator
// appended it, AddPartitionsToTxn): the producer's transactional batches
// of that epoch need no verification until a marker for the producer ends
// the transaction here or the replica stops leading. The coordinator tells
// it before it answers the producer, so it comes before the producer's
// produces and before the transaction's marker.
func (r *Replica) TxnPartitionAdded(producerID int64, producerEpoch int16) {
	if r.leader == nil {
		return
	}
	if r.txnAdded == nil {
		r.txnAdded = map[int64]int16{}
	}
	r.txnAdded[producerID] = producerEpoch
}

// txnMarkerStarted forgets that the producer's transaction was added and
// makes stale the answers its waiting produces may get about the
// transaction the marker ends. A verification (transaction.version 1) is
// about the transaction of the batch's epoch, which a marker of that
// epoch or later ends. An add (transaction.version 2, where EndTxn bumps
// the epoch and the markers carry the bumped one) is about the transaction
// the batch's epoch opens: a marker of the batch's own epoch ends the one
// before, which the coordinator completes before it adds the partition, so
// only a later epoch's marker makes its answer stale.
func (r *Replica) txnMarkerStarted(m TxnMarker) {
	delete(r.txnAdded, m.ProducerID)
	for i := range r.verifying {
		v := &r.verifying[i]
		if v.producer == m.ProducerID && (m.ProducerEpoch > v.epoch || m.ProducerEpoch == v.epoch && !v.add) {
			v.stale = true
		}
	}
}

// dropVerifying answers NOT_LEADER_OR_FOLLOWER to the produces waiting for
// verification, for a replica that stopped leading.
func (r *Replica) dropVerifying() {
	for _, v := range r.verifying {
		r.reply(pendingProduce{id: v.id, acks: v.req.Acks}, kerr.NotLeaderForPartition.Code, "the replica stopped leading the partition while the produce was verified")
	}
	r.verifying = nil
	r.txnAdded = nil
	r.verificationSeqs = nil
}

// verificationSeq is the lowest sequence, and its epoch, among a
// producer's batches that waited for verification since the producer's
// last transactional batch was handed out for appending (Kafka's
// VerificationStateEntry).
type verificationSeq struct {
	epoch  int16
	lowest int32
	// sinceMs is the wall time the producer's first such batch came, for
	// expiry (expireProducers).
	sinceMs int64
}

// noteVerificationSeq notes the sequence of a batch about to wait for its
// verification, as Kafka's maybeUpdateLowestSequenceAndEpoch does: a lower
// sequence of the same epoch, or any of a later epoch, becomes the lowest.
// Should the verification fail (the coordinator timed out, moved, was
// busy), the producer retries the batch, and one of its later batches
// appended meanwhile (a pipelined produce whose verification succeeded)
// would leave the retry out of order (OUT_OF_ORDER_SEQUENCE_NUMBER, which
// fails a transactional producer): checkProducer refuses the later ones
// until the batch at the lowest sequence is appended. The retry of a batch
// the partition holds (a duplicate) notes nothing: the producer has no
// reason to send it again once answered, so it must not hold back what
// follows.
func (r *Replica) noteVerificationSeq(info logstore.ProducerBatchInfo, wallMs int64) {
	if info.BaseSequence < 0 {
		return
	}
	if e, ok := r.producers.Get(info.ProducerID); ok && e.ProducerEpoch == info.ProducerEpoch {
		if _, dup := e.FindBatch(info.BaseSequence, info.LastSequence); dup {
			return
		}
	}
	v, ok := r.verificationSeqs[info.ProducerID]
	switch {
	case !ok:
		v = verificationSeq{epoch: info.ProducerEpoch, lowest: info.BaseSequence, sinceMs: wallMs}
	case info.ProducerEpoch > v.epoch:
		v.epoch, v.lowest = info.ProducerEpoch, info.BaseSequence
	case info.ProducerEpoch == v.epoch && info.BaseSequence < v.lowest:
		v.lowest = info.BaseSequence
	default:
		return
	}
	if r.verificationSeqs == nil {
		r.verificationSeqs = map[int64]verificationSeq{}
	}
	r.verificationSeqs[info.ProducerID] = v
}

// verificationSeqBlocks says a batch comes after the lowest sequence of its
// producer's batches waiting for (or refused) verification, and returns
// that sequence: Kafka's check of a client's batch against the producer's
// VerificationStateEntry.
func (r *Replica) verificationSeqBlocks(info logstore.ProducerBatchInfo) (int32, bool) {
	v, ok := r.verificationSeqs[info.ProducerID]
	return v.lowest, ok && info.BaseSequence > v.lowest
}

// forgetVerificationSeq forgets a producer's lowest verified sequence once
// a transactional batch of it (data, or a marker) is handed out for
// appending, or was appended as a follower: either its transaction is
// ongoing on the partition and sequences are checked against its batches,
// or it ended.
func (r *Replica) forgetVerificationSeq(info logstore.ProducerBatchInfo) {
	if info.Transactional && len(r.verificationSeqs) > 0 {
		delete(r.verificationSeqs, info.ProducerID)
	}
}

// expireVerificationSeqs forgets the lowest sequences noted longer than
// producer.id.expiration.ms ago, as Kafka's removeExpiredProducers does:
// a producer that never retried its batch must not be held back for ever.
func (r *Replica) expireVerificationSeqs(wallMs int64) {
	for id, v := range r.verificationSeqs {
		if wallMs-v.sinceMs >= r.opts.ProducerIDExpirationMs {
			delete(r.verificationSeqs, id)
		}
	}
}
