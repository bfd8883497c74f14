package sim

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A producer pipeline sends one producer id and epoch's batches as
// franz-go does (max.in.flight 5): each partition's batches carry
// consecutive sequences; the first batch of the producer id and epoch to a
// partition goes alone, and once the partition answered one, up to the
// producer's pipeline batches are in flight to it, to every partition at
// once; counted from its first batch without an outcome, whatever became
// of those after it (window), as a leader remembers 5 batches of a
// producer to recognise a retry. An OUT_OF_ORDER_SEQUENCE_NUMBER answer to
// a batch sent while an earlier batch of its partition was unresolved (in
// flight, or waiting to be retried: its leader moved, its verification
// failed) parks it: it goes again, in order, once every batch before it is
// appended (at once if they are by the time the answer comes); every
// retriable answer is retried with the same sequence. Any other refusal,
// or a batch's deadline, fails the pipeline: no more batches are sent,
// those parked are abandoned, and those in flight get no retry. The
// transactional producers (client_txn_pipeline.go: one pipeline a
// transaction) and the idempotent producers
// (client_idempotent_pipeline.go: one pipeline a producer id) share it.

// producerPipe is one partition's batches of a pipeline, in sequence
// order.
type producerPipe struct {
	tp      tpKey
	batches []*pipeBatch
	// sent counts the batches sent (the first sent batches); next is the
	// sequence of the next batch added.
	sent int
	next int32
	// stateLossEra is the partition's World.stateLossEra when the pipe
	// began (out_of_order.go).
	stateLossEra int
	// out are the pipe's requests outstanding and the nodes they went to;
	// waiting are the attempts the gate holds (pipeGate).
	out     []outstanding
	waiting []*gateWaiter
}

// partitionSink is where a producer's last request to a partition went
// (whatever its producer id or transaction), and whether the last answer
// there was ok (franz-go's recBuf.sink and okOnSink).
type partitionSink struct {
	sink     int32
	okOnSink bool
}

// outstanding is a request of a pipe's batch, and its node.
type outstanding struct {
	b  *pipeBatch
	to int32
}

// pipeBatch is one batch of a pipeline.
type pipeBatch struct {
	writes []*sendOp
	// first is the index of its first write in the transaction's.
	first int
	seq   int32
	// inFlight says a request for it is out (or a retry is due);
	// parked that it was refused as out of order behind an unresolved
	// batch and waits for it; resolved that it has its outcome; refused
	// that an attempt was refused as out of order; behind that the last
	// attempt went while an earlier batch of its partition had no outcome;
	// carried that the pipeline resets (batchPipeline.reset) and the batch
	// goes again, unresolved, under the producer's next epoch or id.
	inFlight, parked, resolved, refused, behind, carried bool
	// raw is the encoded batch, sent again as it is.
	raw []byte
}

// pipelineCounts are the Stats counters a pipeline adds to.
type pipelineCounts struct {
	// pipelined: batches sent while another of their partition was in
	// flight; refusedRetried: out-of-order refusals behind an unresolved
	// batch, retried; retriedOK: batches appended after such a refusal;
	// outOfOrder: pipelines failed by an out-of-order refusal no earlier
	// batch explained (a reset is not a failure: Stats.IdempotentResets).
	pipelined, refusedRetried, retriedOK, outOfOrder *int64
}

// batchPipeline is one producer id and epoch's batches in flight.
type batchPipeline struct {
	c     *client
	pid   int64
	epoch int16
	// tid is the transactional id ("" for an idempotent producer).
	tid    string
	pipes  []*producerPipe
	byTp   map[tpKey]*producerPipe
	counts pipelineCounts
	// failed is the code that failed the pipeline (0: none yet);
	// resetting says the failure resets the producer (reset): its batches
	// without an outcome go again under a new epoch or id.
	failed    int16
	resetting bool
	// handedOver says carry took the batches of a reset pipeline (once).
	handedOver bool
	// resets says a batch's refusal resets the producer instead of
	// failing its batches (nil: never; client_idempotent_pipeline.go).
	resets func(code int16) bool
	// encode builds a batch's records when it is first sent, inFlight
	// batches of its partition being in flight.
	encode func(pipe *producerPipe, b *pipeBatch, inFlight int) []byte
	// failedBy runs once, when a batch fails the pipeline.
	failedBy func(code int16, b *pipeBatch)
	// resolved runs when a batch gets its outcome; settled after every
	// outcome of a batch, once the pipeline acted on it.
	resolved func(b *pipeBatch)
	settled  func()
}

// newBatchPipeline is a pipeline for the client's producer id and epoch.
func (c *client) newBatchPipeline(pid int64, epoch int16, tid string, counts pipelineCounts) *batchPipeline {
	return &batchPipeline{c: c, pid: pid, epoch: epoch, tid: tid, byTp: map[tpKey]*producerPipe{}, counts: counts,
		encode: func(*producerPipe, *pipeBatch, int) []byte { return nil }, failedBy: func(int16, *pipeBatch) {},
		resolved: func(*pipeBatch) {}, settled: func() {}}
}

// pipe is tp's pipe, new (its sequences from the producer's next for tp)
// if tp has none.
func (pl *batchPipeline) pipe(tp tpKey) *producerPipe {
	pipe := pl.byTp[tp]
	if pipe == nil {
		pipe = &producerPipe{tp: tp, next: pl.c.prod.seqs[tp], stateLossEra: pl.c.prod.stateLossEra(tp, pl.c.w)}
		pl.byTp[tp] = pipe
		pl.pipes = append(pl.pipes, pipe)
	}
	return pipe
}

// add appends a batch of writes to tp's pipe, with the next sequences;
// fill sends it.
func (pl *batchPipeline) add(tp tpKey, writes []*sendOp, first int) (*producerPipe, *pipeBatch) {
	pipe := pl.pipe(tp)
	b := &pipeBatch{writes: writes, first: first, seq: pipe.next}
	pipe.next += int32(len(writes))
	pipe.batches = append(pipe.batches, b)
	return pipe, b
}

// unresolved counts the pipe's sent batches without an outcome.
func (pipe *producerPipe) unresolved() int {
	n := 0
	for _, b := range pipe.batches[:pipe.sent] {
		if !b.resolved {
			n++
		}
	}
	return n
}

// window counts the pipe's sent batches from its first without an
// outcome on: a partition leader remembers a producer's last 5 batches,
// so a retry of that first one is recognised (appended already, or not)
// only while no more than 5 were sent from it on, whatever became of
// those after it.
func (pipe *producerPipe) window() int {
	for i, b := range pipe.batches[:pipe.sent] {
		if !b.resolved {
			return pipe.sent - i
		}
	}
	return 0
}

// limit is how many batches may be in flight to the pipe's partition:
// one until the partition answered the producer id and epoch.
func (pl *batchPipeline) limit(pipe *producerPipe) int {
	p := pl.c.prod
	if _, answered := p.seqs[pipe.tp]; !answered || p.pid != pl.pid || p.epoch != pl.epoch {
		return 1
	}
	return p.pipeline
}

// inFlight says a batch of the pipeline has a request out (or a retry
// due).
func (pl *batchPipeline) inFlight() bool {
	for _, pipe := range pl.pipes {
		for _, b := range pipe.batches {
			if b.inFlight {
				return true
			}
		}
	}
	return false
}

// allResolved says every batch of the pipeline has its outcome.
func (pl *batchPipeline) allResolved() bool {
	for _, pipe := range pl.pipes {
		for _, b := range pipe.batches {
			if !b.resolved {
				return false
			}
		}
	}
	return true
}

// fill sends the pipe's next batches while the limit allows.
func (pl *batchPipeline) fill(pipe *producerPipe) {
	for pl.failed == 0 && pipe.sent < len(pipe.batches) {
		if pipe.window() >= pl.limit(pipe) {
			return
		}
		inFlight := pipe.unresolved()
		b := pipe.batches[pipe.sent]
		pipe.sent++
		if inFlight > 0 {
			*pl.counts.pipelined++
		}
		pl.send(pipe, b, pl.encode(pipe, b, inFlight))
	}
}

// resolve gives a batch's writes their outcome: ok at their offsets, or
// (refused, abandoned, given up) failed unless an attempt may have been
// appended.
func (pl *batchPipeline) resolve(b *pipeBatch, code int16) {
	b.inFlight, b.parked, b.resolved = false, false, true
	settleTxnWrites(b.writes, code, pl.c.w.now)
	pl.resolved(b)
}

// fail fails the pipeline (once): every batch is abandoned, those parked
// resolved at once.
func (pl *batchPipeline) fail(code int16, b *pipeBatch) {
	if pl.failed != 0 {
		return
	}
	pl.failed = code
	pl.c.w.tracef("%s: producer %d epoch %d fails at %s's batch (sequence %d): %s", pl.c.name(), pl.pid, pl.epoch, b.writes[0].value, b.seq, codeName(code))
	if code == kerr.OutOfOrderSequenceNumber.Code {
		*pl.counts.outOfOrder++
		pl.c.w.countOutOfOrder(pl.outOfOrder(pl.byTp[b.writes[0].tp], b))
	}
	pl.failedBy(code, b)
	for _, pipe := range pl.pipes {
		for _, o := range pipe.batches {
			o.writes[0].abandoned = true
			if o.parked {
				pl.resolve(o, txnAbandonedCode)
			}
		}
	}
}

// reset ends the pipeline as franz-go's idempotent producer does on a
// refusal for its producer (kgo's sink.go: OUT_OF_ORDER_SEQUENCE_NUMBER,
// UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH): it fails the producer id
// and retries the batch, which the next request sends under a new epoch
// with every partition's sequences from 0. b, refused, is carried: no
// batch is sent any more, those in flight get no retry (a refused or
// abandoned one is carried too, an acknowledged one keeps its offset), and
// once none is in flight the pipeline's settled hands every batch without
// an outcome to the producer's next epoch or id, in sequence order
// (client_idempotent_pipeline.go). An out-of-order refusal is sorted by
// why (out_of_order.go) as a failure is: an unexplained one is still S7.
func (pl *batchPipeline) reset(code int16, b *pipeBatch) {
	b.inFlight, b.parked, b.carried = false, false, true
	if pl.resetting {
		return
	}
	pl.failed, pl.resetting = code, true
	pl.c.w.tracef("%s: producer %d epoch %d resets at %s's batch (sequence %d): %s", pl.c.name(), pl.pid, pl.epoch, b.writes[0].value, b.seq, codeName(code))
	if code == kerr.OutOfOrderSequenceNumber.Code {
		pl.c.w.countOutOfOrder(pl.outOfOrder(pl.byTp[b.writes[0].tp], b))
	}
	for _, pipe := range pl.pipes {
		for _, o := range pipe.batches {
			o.writes[0].abandoned = true
		}
	}
}

// carries says an answer to a batch of a resetting pipeline carries it to
// the producer's next epoch: one that resets it, or the abandonment that
// stopped its retries. Any other (an acknowledgement, a refusal for good,
// its delivery deadline) is its outcome.
func (pl *batchPipeline) carries(code int16) bool {
	return code == txnAbandonedCode || pl.resets(code)
}

// carry takes the batches of a reset pipeline without an outcome, each
// partition's in sequence order, to be sent again under the producer's
// next epoch or id: their attempts end here (a gate of their own again,
// sent anew), and a write an attempt may have appended (an unknown
// outcome) is marked: sent again under new sequences, it may be in the log
// twice, as franz-go's would (Q2 excuses it).
func (pl *batchPipeline) carry() [][]*sendOp {
	if pl.handedOver {
		return nil
	}
	pl.handedOver = true
	var carried [][]*sendOp
	for _, pipe := range pl.pipes {
		for _, b := range pipe.batches {
			if b.resolved {
				continue
			}
			lost := pipe.stateLossEra != pl.c.w.stateLossEra[pipe.tp]
			for _, wr := range b.writes {
				wr.abandoned, wr.gate = false, nil
				wr.resentAfterUnknown = wr.resentAfterUnknown || b.writes[0].ambiguous
				wr.resentAfterStateLoss = wr.resentAfterStateLoss || lost
			}
			carried = append(carried, b.writes)
		}
	}
	return carried
}

// send sends a batch (again: raw as before) and takes its answer.
func (pl *batchPipeline) send(pipe *producerPipe, b *pipeBatch, raw []byte) {
	c, w := pl.c, pl.c.w
	s := b.writes[0]
	if s.gate == nil {
		s.gate = &pipeGate{c: c, pipe: pipe, b: b}
	}
	b.inFlight, b.parked, b.raw, b.behind = true, false, raw, earlierUnresolved(pipe, b)
	c.producerSend(s, raw, pl.tid, func(code int16) {
		if code == kerr.OutOfOrderSequenceNumber.Code && pl.failed == 0 && (b.behind || earlierUnresolved(pipe, b)) {
			// An earlier batch was in flight or to be retried when this
			// one went: this one waits for it, and goes again behind it
			// (at once if it was appended meanwhile: the answer waited
			// behind others on its connection).
			*pl.counts.refusedRetried++
			b.inFlight, b.parked, b.refused = false, true, true
			w.tracef("%s: send %s to %s (producer %d sequence %d) waits for an earlier batch", c.name(), s.value, s.tp, pl.pid, b.seq)
			pl.resendParked(pipe)
			return
		}
		if code != 0 && pl.resets != nil && (pl.failed == 0 && pl.resets(code) || pl.resetting && pl.carries(code)) {
			pl.reset(code, b)
			pl.settled()
			return
		}
		pl.resolve(b, code)
		if code != 0 {
			pl.fail(code, b)
			pl.settled()
			return
		}
		if b.refused {
			*pl.counts.retriedOK++
		}
		if p := c.prod; p.pid == pl.pid && p.epoch == pl.epoch {
			p.seqs[s.tp] = max(p.seqs[s.tp], b.seq+int32(len(b.writes)))
		}
		pl.resendParked(pipe)
		pl.fill(pipe)
		pl.settled()
	})
}

// resendParked sends again, in order, the batches refused behind an
// unresolved one once every batch before them is appended.
func (pl *batchPipeline) resendParked(pipe *producerPipe) {
	if i := slices.IndexFunc(pipe.batches, func(o *pipeBatch) bool { return !o.resolved }); i >= 0 && pipe.batches[i].parked {
		for _, o := range pipe.batches[i:] {
			if o.parked {
				pl.send(pipe, o, o.raw)
			}
		}
	}
}

// earlierUnresolved says a batch before b in its pipe has no outcome yet.
func earlierUnresolved(pipe *producerPipe, b *pipeBatch) bool {
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

// A pipe's attempts, first sends and retries alike, follow franz-go's
// rules for one partition's batches (kgo's sink.go): no request goes to a
// node while one of the partition's is outstanding at another
// (inflightOnSink); after an answer that was not ok, or on a new node, one
// request at a time until an ok answer there (okOnSink); and they go in
// sequence order, a batch only once every earlier batch without an
// outcome is outstanding (the drain starts again from the first batch
// without an outcome). Without them a retry that waited longer went after
// a later batch: a leader that had lost the producer's state took the
// later batch as the producer's first, and refused the earlier one as out
// of order (seed 5200030: c6's sequence 95 came back to n2 before 90).

// pipeGate is one batch's gate.
type pipeGate struct {
	c    *client
	pipe *producerPipe
	b    *pipeBatch
}

// gateWaiter is an attempt the gate holds: run at the first wake-up, or
// after the retry backoff (a bound, should no wake-up come).
type gateWaiter struct {
	fired bool
	run   func()
}

// sink is the producer's sink of the batch's partition.
func (g *pipeGate) sink() *partitionSink {
	p := g.c.prod
	if p.sinks == nil {
		p.sinks = map[tpKey]*partitionSink{}
	}
	ps := p.sinks[g.pipe.tp]
	if ps == nil {
		ps = &partitionSink{sink: -1}
		p.sinks[g.pipe.tp] = ps
	}
	return ps
}

// mayGo says whether the batch's attempt may go to node to now.
func (g *pipeGate) mayGo(to int32) bool {
	pipe, ps := g.pipe, g.sink()
	for _, o := range pipe.out {
		if o.to != to || !ps.okOnSink || ps.sink != to {
			return false
		}
	}
	for _, o := range pipe.batches {
		if o == g.b {
			return true
		}
		if !o.resolved && !slices.ContainsFunc(pipe.out, func(x outstanding) bool { return x.b == o }) {
			return false
		}
	}
	return true
}

// went notes an attempt sent to node to.
func (g *pipeGate) went(to int32) {
	pipe, ps := g.pipe, g.sink()
	if to != ps.sink {
		ps.sink, ps.okOnSink = to, false
	}
	pipe.out = append(pipe.out, outstanding{g.b, to})
}

// answered notes the answer to the batch's outstanding request at to.
func (g *pipeGate) answered(to int32, ok bool) {
	pipe := g.pipe
	if i := slices.IndexFunc(pipe.out, func(x outstanding) bool { return x.b == g.b && x.to == to }); i >= 0 {
		pipe.out = slices.Delete(pipe.out, i, i+1)
	}
	switch ps := g.sink(); {
	case !ok:
		ps.okOnSink = false
	case to == ps.sink:
		ps.okOnSink = true
	}
}

// wait holds an attempt until a wake-up.
func (g *pipeGate) wait(run func()) {
	gw := &gateWaiter{run: run}
	g.pipe.waiting = append(g.pipe.waiting, gw)
	g.c.after(g.c.w.timing.retryBackoffMs, gw.fire)
}

// wake lets every attempt the gate holds try again (at once, in the order
// they waited, after what runs now).
func (g *pipeGate) wake() {
	waiting := g.pipe.waiting
	g.pipe.waiting = nil
	for _, gw := range waiting {
		g.c.after(0, gw.fire)
	}
}

func (gw *gateWaiter) fire() {
	if !gw.fired {
		gw.fired = true
		gw.run()
	}
}
