package cluster

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// txnMarkerTimeoutMs bounds how long a transaction marker waits for the high
// watermark (WriteTxnMarkers carries no timeout of its own).
const txnMarkerTimeoutMs = 30_000

// TxnMarker asks the partition leader to end a producer's transaction
// (WriteTxnMarkers from the transaction coordinator): a control batch,
// answered once the high watermark passed it.
type TxnMarker struct {
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	Commit           bool
	// TransactionVersion is WriteTxnMarkers v2's (KIP-1228): 2 says the
	// coordinator bumped the epoch when the transaction ended, so the
	// marker's epoch is above every epoch of the transaction's batches.
	TransactionVersion int8
}

// writeTxnMarker checks a marker against the producer's state and asks for
// the append of its control batch. An epoch older than the producer's is
// INVALID_PRODUCER_EPOCH, and so is a transaction version 2 marker whose
// epoch is that of the producer's open transaction (lateTV2Marker); a
// coordinator epoch older than the last marker's is
// TRANSACTION_COORDINATOR_FENCED; a marker for a producer with no open
// transaction is written anyway (the coordinator retries markers).
func (r *Replica) writeTxnMarker(id RequestID, m TxnMarker, now Instant, reply func(code int16, format string, args ...any)) {
	if r.lateTV2Marker(m) {
		reply(kerr.InvalidProducerEpoch.Code, "transaction version 2 marker for producer %d at epoch %d, the epoch of its open transaction: a late marker of an earlier one",
			m.ProducerID, m.ProducerEpoch)
		return
	}
	if e, ok := r.producers.Get(m.ProducerID); ok {
		switch {
		case m.ProducerEpoch < e.ProducerEpoch:
			reply(kerr.InvalidProducerEpoch.Code, "marker for producer %d epoch %d, the partition knows epoch %d", m.ProducerID, m.ProducerEpoch, e.ProducerEpoch)
			return
		case m.CoordinatorEpoch < e.CoordinatorEpoch:
			reply(kerr.TransactionCoordinatorFenced.Code, "marker from coordinator epoch %d, the last was from %d", m.CoordinatorEpoch, e.CoordinatorEpoch)
			return
		}
	}
	batch := logstore.TxnMarkerBatch(m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Commit, now.WallMs)
	info := logstore.ReadProducerBatchInfo(batch)
	p := pendingProduce{id: id, acks: -1, deadlineMs: now.MonoMs + txnMarkerTimeoutMs, appendTimeMs: -1, producer: info, hasProducer: true}
	r.producerAppendStarted(info)
	r.appending[id] = p
	r.ready.Appends = append(r.ready.Appends, AppendBatches{ID: id, Batches: r.oneBatch(batch), LeaderEpoch: r.partition.LeaderEpoch, NowMs: now.WallMs})
}

// lateTV2Marker says a transaction version 2 marker cannot be for the
// producer's transaction open on the partition: that transaction's batches
// carry the marker's own epoch (or a later one), while the marker of a
// transaction version 2 end carries an epoch above its batches'. It is the
// marker of an earlier transaction, arriving late (a retry, a delayed
// request), and writing it would end the wrong transaction (KIP-1228).
//
// Kafka refuses every such marker whose epoch is not above the producer's
// (KIP-1228). gregor refuses only those that would end an open
// transaction: a marker of the producer's current epoch with no
// transaction open is the retry of one already written whose answer was
// lost (a timeout waiting for the high watermark), and refusing it would
// leave its coordinator unable to complete the transaction, so it is
// written again, which ends nothing.
func (r *Replica) lateTV2Marker(m TxnMarker) bool {
	if m.TransactionVersion < 2 {
		return false
	}
	if pending := r.producerAppending[m.ProducerID]; len(pending) > 0 {
		last := pending[len(pending)-1]
		return last.ProducerEpoch > m.ProducerEpoch || last.ProducerEpoch == m.ProducerEpoch && last.Transactional && !last.Control
	}
	e, ok := r.producers.Get(m.ProducerID)
	return ok && e.ProducerEpoch == m.ProducerEpoch && e.TxnFirstOffset >= 0
}

// completedTxn is a transaction whose marker the replica appended (as
// leader or follower) and the high watermark has not passed yet: its records
// stay unstable (Kafka's unreplicated transactions), for a replica that
// leads later might not have the marker and find the transaction open.
type completedTxn struct {
	firstOffset, markerOffset int64
}

// txnCompleted notes a transaction a marker ended in the log, in either
// role: a follower that becomes leader keeps the transactions whose marker
// its high watermark has not passed unstable, as its leader did.
func (r *Replica) txnCompleted(done logstore.CompletedTxn, ended bool) {
	if ended && done.LastOffset >= r.highWatermark {
		r.unreplicatedTxns = append(r.unreplicatedTxns, completedTxn{firstOffset: done.FirstOffset, markerOffset: done.LastOffset})
	}
}

// noteEndedTxns takes the transactions of the producer state whose marker
// the high watermark has not passed (each producer's latest) among the
// unreplicated ones: a replica that starts over a log, or takes its state
// after a truncation, did not see them end.
func (r *Replica) noteEndedTxns() {
	for _, done := range r.producers.EndedSince(r.highWatermark) {
		if !slices.ContainsFunc(r.unreplicatedTxns, func(t completedTxn) bool { return t.markerOffset == done.LastOffset }) {
			r.txnCompleted(done, true)
		}
	}
	r.pruneUnreplicatedTxns()
}

// pruneUnreplicatedTxns forgets the completed transactions whose marker the
// high watermark passed, and those whose marker is no longer in the log (a
// truncation cut it: the log's producer state has the transaction open
// again).
func (r *Replica) pruneUnreplicatedTxns() {
	kept := r.unreplicatedTxns[:0]
	for _, t := range r.unreplicatedTxns {
		if t.markerOffset >= r.highWatermark && t.markerOffset < r.state.LogEndOffset {
			kept = append(kept, t)
		}
	}
	r.unreplicatedTxns = kept
}

// LastStableOffset is the offset below which every transaction is decided
// and known to be: the high watermark, or the first offset of the oldest
// transaction still open or whose marker is not yet replicated. A follower
// keeps it as a leader does (its producer state opens and ends transactions
// as it appends the leader's batches), so a new leader's starts right.
func (r *Replica) LastStableOffset() int64 {
	lso := r.highWatermark
	if first, ok := r.producers.FirstUnstableOffset(); ok {
		lso = min(lso, first)
	}
	for _, t := range r.unreplicatedTxns {
		lso = min(lso, t.firstOffset)
	}
	return max(lso, min(r.state.LogStartOffset, r.highWatermark))
}

// String describes the marker for logs.
func (m TxnMarker) String() string {
	kind := "abort"
	if m.Commit {
		kind = "commit"
	}
	return fmt.Sprintf("%s producer=%d epoch=%d coordinator-epoch=%d", kind, m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch)
}
