package sim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A transactional producer with a pipeline (the profile's TxnPipeline
// above 1) sends as franz-go does: a transaction's values to a partition
// go in several batches with consecutive sequences; the first batch of a
// producer id and epoch to a partition goes alone, and once the partition
// answered one, up to pipeline batches per partition are in flight, to
// every partition at once. An OUT_OF_ORDER_SEQUENCE_NUMBER answer to a
// batch while an earlier batch of its partition is unresolved (in flight,
// or waiting to be retried: its leader moved, its verification failed) is
// retried, as is every retriable answer: the retry of the earlier batch
// goes first, and those behind it follow in order. Any other refusal, or
// the transaction's deadline, fails the transaction: no more batches are
// sent, those waiting to be retried are abandoned, and once none is in
// flight the client aborts the transaction (txnFailed). This reaches the
// partition leader's verification sequences (cluster's
// replica_txn_verify.go): a batch refused while its verification failed
// must not let those behind it be appended first.

// txnPipe is one partition's batches of a pipelined transaction, in
// sequence order.
type txnPipe struct {
	batches []*txnBatch
	// sent counts the batches sent (the first sent batches).
	sent int
}

// txnBatch is one batch of a pipelined transaction.
type txnBatch struct {
	writes []*sendOp
	// first is the index of its first write in the transaction's.
	first int
	seq   int32
	// inFlight says a request for it is out (or a retry is due);
	// parked that it was refused as out of order behind an unresolved
	// batch and waits for it; resolved that it has its outcome; refused
	// that an attempt was refused as out of order.
	inFlight, parked, resolved, refused bool
	// raw is the encoded batch, sent again as it is.
	raw []byte
}

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
// partition; then runs once all are appended. A failure ends the
// transaction (txnFailed) once no batch is in flight.
func (c *client) txnSendPipelined(op *txnOp, then func()) {
	p := c.prod
	var pipes []*txnPipe
	byTp := map[tpKey]*txnPipe{}
	seqs := map[tpKey]int32{}
	for _, idx := range op.batches {
		tp := op.writes[idx[0]].tp
		pipe := byTp[tp]
		if pipe == nil {
			pipe = &txnPipe{}
			byTp[tp] = pipe
			pipes = append(pipes, pipe)
			seqs[tp] = p.seqs[tp]
		}
		b := &txnBatch{seq: seqs[tp], first: idx[0]}
		for _, i := range idx {
			b.writes = append(b.writes, op.writes[i])
		}
		seqs[tp] += int32(len(idx))
		pipe.batches = append(pipe.batches, b)
	}
	failed := int16(0)
	var fill func(pipe *txnPipe)
	// settle runs once a batch resolved: the transaction goes on when all
	// are appended, fails when one failed and none is in flight.
	settle := func() {
		for _, pipe := range pipes {
			for _, b := range pipe.batches {
				if b.inFlight || failed == 0 && !b.resolved {
					return
				}
			}
		}
		if failed != 0 {
			c.txnFailed(op, failed)
			return
		}
		c.w.stats.SendsOK += int64(len(op.writes))
		then()
	}
	// resolve gives a batch's writes their outcome: ok at their offsets,
	// or (refused, abandoned, given up) failed unless an attempt may have
	// been appended.
	resolve := func(b *txnBatch, code int16) {
		b.inFlight, b.parked, b.resolved = false, false, true
		settleTxnWrites(b.writes, code, c.w.now)
	}
	fail := func(code int16, b *txnBatch) {
		if failed != 0 {
			return
		}
		failed = code
		if code == kerr.OutOfOrderSequenceNumber.Code {
			c.w.stats.TxnOutOfOrderFailures++
		}
		s := b.writes[0]
		op.lastError = fmt.Sprintf("send %s: %s", s.value, codeName(code))
		if code == txnDeadlineCode && s.lastError != "" {
			op.lastError += " (last: " + s.lastError + ")"
		}
		for _, pipe := range pipes {
			for _, o := range pipe.batches {
				o.writes[0].abandoned = true
				if o.parked {
					resolve(o, txnAbandonedCode)
				}
			}
		}
	}
	var send func(pipe *txnPipe, b *txnBatch, raw []byte)
	send = func(pipe *txnPipe, b *txnBatch, raw []byte) {
		w := c.w
		s := b.writes[0]
		b.inFlight, b.parked, b.raw = true, false, raw
		c.producerSend(s, raw, op.tid, func(code int16) {
			if code == kerr.OutOfOrderSequenceNumber.Code && failed == 0 && earlierUnresolved(pipe, b) {
				// An earlier batch is in flight or to be retried: this
				// one waits for it, and goes again behind it.
				w.stats.TxnBatchesRefusedRetried++
				b.inFlight, b.parked, b.refused = false, true, true
				w.tracef("%s: send %s to %s in transaction %d (sequence %d) waits for an earlier batch", c.name(), s.value, s.tp, op.seq, b.seq)
				return
			}
			resolve(b, code)
			if code != 0 {
				fail(code, b)
				settle()
				return
			}
			if b.refused {
				w.stats.TxnBatchesRetriedOK++
			}
			if p.pid == op.pid && p.epoch == op.epoch {
				p.seqs[s.tp] = max(p.seqs[s.tp], b.seq+int32(len(b.writes)))
			}
			// Once every batch before them is appended, the batches
			// refused behind an unresolved one go again, in order.
			if i := slices.IndexFunc(pipe.batches, func(o *txnBatch) bool { return !o.resolved }); i >= 0 && pipe.batches[i].parked {
				for _, o := range pipe.batches[i:] {
					if o.parked {
						send(pipe, o, o.raw)
					}
				}
			}
			fill(pipe)
			settle()
		})
	}
	fill = func(pipe *txnPipe) {
		w := c.w
		for failed == 0 && pipe.sent < len(pipe.batches) {
			inFlight := 0
			for _, b := range pipe.batches[:pipe.sent] {
				if !b.resolved {
					inFlight++
				}
			}
			// The first batch of the producer id and epoch to the
			// partition goes alone.
			tp := pipe.batches[0].writes[0].tp
			_, answered := p.seqs[tp]
			limit := p.pipeline
			if !answered || p.pid != op.pid || p.epoch != op.epoch {
				limit = 1
			}
			if inFlight >= limit {
				return
			}
			b := pipe.batches[pipe.sent]
			pipe.sent++
			if inFlight > 0 {
				w.stats.TxnBatchesPipelined++
			}
			values, keys := make([]string, len(b.writes)), make([][]byte, len(b.writes))
			t, known := c.meta.topics[tp.topic]
			for k, wr := range b.writes {
				values[k] = wr.value
				if known && t.compacted {
					// A compacted topic takes keyed records only.
					keys[k] = []byte(fmt.Sprintf("k%d", (op.seq+b.first+k)%compactedKeys))
				}
			}
			w.tracef("%s: send %s to %s in transaction %d (producer %d epoch %d sequence %d, %d in flight)", c.name(), strings.Join(values, " "), tp, op.seq, op.pid, op.epoch, b.seq, inFlight)
			send(pipe, b, buildProducerBatch(keys, values, wallStartMs+w.now, op.pid, op.epoch, b.seq, true))
		}
	}
	for _, pipe := range pipes {
		fill(pipe)
	}
}

// earlierUnresolved says a batch before b in its pipe has no outcome yet.
func earlierUnresolved(pipe *txnPipe, b *txnBatch) bool {
	for _, o := range pipe.batches {
		if o == b {
			return false
		}
		if !o.resolved {
			return true
		}
	}
	return false
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
