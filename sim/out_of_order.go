package sim

import "fmt"

// Why a producer's pipeline failed out of order. A pipeline fails on an
// OUT_OF_ORDER_SEQUENCE_NUMBER answer that no earlier unresolved batch of
// its partition explains (client_pipeline.go). With no log losing a
// producer's batches and every client following the newest leader it has
// heard of, the leader of a partition holds every batch the producer had
// appended there (a follower rebuilds producer state as it appends, a new
// leader comes from the ISR), so such an answer is a broker bug. The
// simulator sorts each failure into the first kind that explains it:
//
//   - rewound: the client sent the batch to a leader epoch older than one
//     it had already seen for the partition (its metadata went back to a
//     deposed leader: franz-go and librdkafka ignore such metadata, the
//     simulated client does after five answers in a row, as franz-go).
//   - deposed: the replica that answered led an epoch the controller had
//     already replaced (a paused or cut-off leader that does not know yet),
//     and its producer state is older than the new leader's.
//   - lost: the partition lost records since the producer's first batch to
//     it (an unclean election, an election from the last known ELR after
//     power losses, a leader lacking committed records, a log end that
//     fell at a restart): the leader's producer state went back. Or, for a
//     transactional producer, its coordinator's partition of
//     __transaction_state lost committed records at some time (any
//     records, when that partition promises nothing past a power loss;
//     World.lostCommitted): a coordinator that
//     rebuilt its state from what was left can hand out an epoch again
//     that partitions have seen with sequences (seed 5200282: epoch 3
//     issued again after __transaction_state/1 lost its records, and the
//     new session's sequence 0 met the old one's 3).
//   - unexplained: none of these; a swarm reports the seed (check_client's
//     S7 violation).

// outOfOrderKind is why a pipeline failed out of order.
type outOfOrderKind int8

const (
	outOfOrderRewound outOfOrderKind = iota
	outOfOrderDeposed
	outOfOrderLost
	outOfOrderUnexplained
)

func (k outOfOrderKind) String() string {
	switch k {
	case outOfOrderRewound:
		return "the client's metadata went back to an older leader"
	case outOfOrderDeposed:
		return "a deposed leader answered"
	case outOfOrderLost:
		return "the partition (or the transaction coordinator's state) lost records"
	default:
		return "unexplained"
	}
}

// produceAttempt is what a producer's send knew of its last attempt: the
// node and leader epoch its metadata named, whether the client had seen a
// newer epoch of the partition (rewound), and the leader epoch of the
// replica that answered (-1: no answer).
type produceAttempt struct {
	to, epoch, answerEpoch int32
	rewound                bool
}

// outOfOrderRefusal is an out-of-order refusal to sort: the producer (its
// client, transactional id, producer id and epoch), the partition and its
// World.stateLossEra when the producer id and epoch began there, and the
// refused batch's first write and sequence.
type outOfOrderRefusal struct {
	c     *client
	tid   string
	pid   int64
	epoch int16
	tp    tpKey
	era   int
	first *sendOp
	seq   int32
}

// outOfOrder is the refusal of b, sent through pipe of pl.
func (pl *batchPipeline) outOfOrder(pipe *producerPipe, b *pipeBatch) outOfOrderRefusal {
	return outOfOrderRefusal{c: pl.c, tid: pl.tid, pid: pl.pid, epoch: pl.epoch, tp: pipe.tp, era: pipe.stateLossEra, first: b.writes[0], seq: b.seq}
}

// outOfOrderKind sorts an out-of-order refusal.
func (w *World) outOfOrderKind(r outOfOrderRefusal) outOfOrderKind {
	a := r.first.attempt
	switch {
	case a.rewound:
		return outOfOrderRewound
	case a.answerEpoch >= 0 && a.answerEpoch < w.checks.imageEpoch[r.tp]:
		return outOfOrderDeposed
	case w.stateLossEra[r.tp] != r.era, r.tid != "" && w.lostCommitted(txnStateKey(r.tid)):
		return outOfOrderLost
	default:
		return outOfOrderUnexplained
	}
}

// countOutOfOrder counts an out-of-order refusal that failed a pipeline
// or reset an idempotent producer by its kind, and reports an unexplained
// one as a violation of S7 (a partition's leader refused a producer's next
// sequence).
func (w *World) countOutOfOrder(r outOfOrderRefusal) {
	k := w.outOfOrderKind(r)
	w.tracef("%s: producer %d's out-of-order failure at %s: %s", r.c.name(), r.pid, r.tp, k)
	switch k {
	case outOfOrderRewound:
		w.stats.OutOfOrderRewound++
	case outOfOrderDeposed:
		w.stats.OutOfOrderDeposed++
	case outOfOrderLost:
		w.stats.OutOfOrderLost++
	default:
		w.stats.OutOfOrderUnexplained++
		a := r.first.attempt
		w.violation("S7", fmt.Sprintf("%s: the leader (n%d at epoch %d) refused %s's batch %q at sequence %d (producer %d epoch %d) as out of order, with no earlier batch unresolved, no loss of the partition's records and no newer leader",
			r.tp, a.to, a.answerEpoch, r.c.name(), r.first.value, r.seq, r.pid, r.epoch))
	}
}

// outOfOrderSummary is the summary's clause on the kinds.
func outOfOrderSummary(s Stats) string {
	return fmt.Sprintf("out-of-order refusals that failed a transaction or reset a producer: %d the partition (or the transaction coordinator's state) lost records, %d a deposed leader answered, %d the client's metadata went back to an older leader, %d unexplained",
		s.OutOfOrderLost, s.OutOfOrderDeposed, s.OutOfOrderRewound, s.OutOfOrderUnexplained)
}
