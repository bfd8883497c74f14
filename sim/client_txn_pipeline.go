package sim

import (
	"fmt"
	"strings"
)

// A transactional producer with a pipeline (the profile's TxnPipeline
// above 1) sends as franz-go does: a transaction's values to a partition
// go in several batches with consecutive sequences, one batchPipeline a
// transaction (client_pipeline.go). A batch that fails the pipeline fails
// the transaction: once none is in flight the client aborts it
// (txnFailed). This reaches the partition leader's verification sequences
// (cluster's replica_txn_verify.go): a batch refused while its
// verification failed must not let those behind it be appended first.

// addPipelinedWrites adds a transaction's values: to each partition, 1 to
// pipeline+1 batches of 1 or 2 values.
func (c *client) addPipelinedWrites(op *txnOp, tps []tpKey) {
	w := c.w
	op.batches = [][]int{}
	for _, tp := range tps {
		for b, nb := 0, 1+w.rngWorkload.IntN(c.prod.pipeline+1); b < nb; b++ {
			var batch []int
			for i, n := 0, 1+w.rngWorkload.IntN(2); i < n; i++ {
				batch = append(batch, len(op.writes))
				c.addWrite(op, tp, fmt.Sprintf("%s-%d.%d", c.name(), op.seq, len(op.writes)))
			}
			op.batches = append(op.batches, batch)
		}
	}
}

// txnSendPipelined sends the transaction's batches, pipelined per
// partition (batchPipeline); then runs once all are appended. A failure
// ends the transaction (txnFailed) once no batch is in flight.
func (c *client) txnSendPipelined(op *txnOp, then func()) {
	w := c.w
	pl := c.newBatchPipeline(op.pid, op.epoch, op.tid, pipelineCounts{pipelined: &w.stats.TxnBatchesPipelined,
		refusedRetried: &w.stats.TxnBatchesRefusedRetried, retriedOK: &w.stats.TxnBatchesRetriedOK, outOfOrder: &w.stats.TxnOutOfOrderFailures})
	for _, idx := range op.batches {
		writes := make([]*sendOp, len(idx))
		for k, i := range idx {
			writes[k] = op.writes[i]
		}
		pl.add(writes[0].tp, writes, idx[0])
	}
	// The transaction goes on when all are appended, fails when one
	// failed and none is in flight: once. (A batch sent by fill from an
	// earlier batch's answer may resolve at once, its deadline passed, and
	// settle the transaction before that answer's own settled runs.)
	settled := false
	pl.settled = func() {
		if settled || pl.failed == 0 && !pl.allResolved() || pl.failed != 0 && pl.inFlight() {
			return
		}
		settled = true
		if pl.failed != 0 {
			c.txnFailed(op, pl.failed)
			return
		}
		w.stats.SendsOK += int64(len(op.writes))
		then()
	}
	pl.failedBy = func(code int16, b *pipeBatch) {
		s := b.writes[0]
		op.lastError = fmt.Sprintf("send %s: %s", s.value, codeName(code))
		if code == txnDeadlineCode && s.lastError != "" {
			op.lastError += " (last: " + s.lastError + ")"
		}
	}
	pl.encode = func(pipe *producerPipe, b *pipeBatch, inFlight int) []byte {
		values, keys := make([]string, len(b.writes)), make([][]byte, len(b.writes))
		t, known := c.meta.topics[pipe.tp.topic]
		for k, wr := range b.writes {
			values[k] = wr.value
			if known && t.compacted {
				// A compacted topic takes keyed records only.
				keys[k] = []byte(fmt.Sprintf("k%d", (op.seq+b.first+k)%compactedKeys))
			}
		}
		w.tracef("%s: send %s to %s in transaction %d (producer %d epoch %d sequence %d, %d in flight)", c.name(), strings.Join(values, " "), pipe.tp, op.seq, op.pid, op.epoch, b.seq, inFlight)
		return buildProducerBatch(keys, values, wallStartMs+w.now, op.pid, op.epoch, b.seq, true)
	}
	for _, pipe := range pl.pipes {
		pl.fill(pipe)
	}
}

// inOrderAnswer is an ordered request's answer, held until the answers to
// the requests sent before it on its connection are handed out.
type inOrderAnswer struct {
	done     func(any, error)
	body     any
	err      error
	answered bool
}

// callInOrder sends an ordered request (producerProduce.ordered) and hands
// its answer to done only after the answers of the ordered requests sent
// to the same node before it: a broker answers the requests of a
// connection in the order they came (netio's writer, Kafka's), so a
// pipelining producer hears of a batch refused behind an earlier one only
// after it heard of the earlier one.
func (c *client) callInOrder(to int32, body any, timeoutMs int64, done func(any, error)) {
	if c.inOrder == nil {
		c.inOrder = map[int32][]*inOrderAnswer{}
	}
	a := &inOrderAnswer{done: done}
	c.inOrder[to] = append(c.inOrder[to], a)
	c.call(to, body, timeoutMs, func(body any, err error) {
		a.body, a.err, a.answered = body, err, true
		for {
			q := c.inOrder[to]
			if len(q) == 0 || !q[0].answered {
				return
			}
			c.inOrder[to] = q[1:]
			q[0].done(q[0].body, q[0].err)
		}
	})
}
