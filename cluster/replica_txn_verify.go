package cluster

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// VerifyTxn asks the shell to ask the transaction coordinator whether the
// partition is in the producer's ongoing transaction (KIP-890 part 1, the
// verify-only AddPartitionsToTxn) before a transactional batch is appended;
// TxnVerified with the answer.
type VerifyTxn struct {
	ID              RequestID
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
}

// verifyingProduce is a transactional produce waiting for its verification.
type verifyingProduce struct {
	id       RequestID
	req      ProduceRequest
	producer int64
	answered bool
	code     int16
	// stale is set when a marker for the producer was written while the
	// produce waited: the answer may predate the transaction's end, so a
	// yes no longer holds.
	stale bool
}

// needsTxnVerification says whether a transactional batch must be verified
// with the coordinator first, as Kafka's log decides: only when the
// partition does not know the producer's transaction as ongoing. It is
// ongoing when the producer's latest batch (one being appended, else the
// producer state's) is a transactional data batch of the same epoch:
// verified once, no marker since. A produce of a producer with produces
// still waiting for verification waits too, so batches keep their order.
func (r *Replica) needsTxnVerification(req ProduceRequest, info logstore.ProducerBatchInfo) bool {
	if req.TransactionalID == "" || !info.Transactional || info.Control || info.BaseSequence < 0 {
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

// awaitTxnVerification parks a produce until its verification is answered.
// The records are copied: the shell releases the request's buffer once
// Produce returns.
func (r *Replica) awaitTxnVerification(id RequestID, req ProduceRequest, info logstore.ProducerBatchInfo) {
	req.Records = slices.Clone(req.Records)
	r.verifying = append(r.verifying, verifyingProduce{id: id, req: req, producer: info.ProducerID})
	r.ready.VerifyTxns = append(r.ready.VerifyTxns, VerifyTxn{ID: id, TransactionalID: req.TransactionalID,
		ProducerID: info.ProducerID, ProducerEpoch: info.ProducerEpoch})
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
			r.reply(p, v.code, fmt.Sprintf("the transaction coordinator did not verify producer %d's transaction on the partition", v.producer))
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

// txnMarkerStarted makes the verifications of the producer's waiting
// produces stale and forgets that its transaction was added: a marker ends
// its transaction on the partition.
func (r *Replica) txnMarkerStarted(producerID int64) {
	delete(r.txnAdded, producerID)
	for i := range r.verifying {
		if r.verifying[i].producer == producerID {
			r.verifying[i].stale = true
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
}
