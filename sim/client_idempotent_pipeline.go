package sim

import (
	"fmt"
	"math"
	"strings"
)

// An idempotent producer with a pipeline (the profile's IdempotentPipeline
// above 1) sends as franz-go does with max.in.flight 5: its batches (of 1
// or 2 values) to a partition carry consecutive sequences, and up to
// pipeline of them are in flight per partition, one batchPipeline a
// producer id (client_pipeline.go). A tick draws a partition and adds a
// batch to it if its pipe has room (else it sends nothing this tick). A
// batch that fails the pipeline (refused for its sequence or epoch,
// refused for good, or past its delivery timeout) costs the producer its
// producer id once none of its batches is in flight: the next send gets a
// new one, so that a batch of the old id still in flight cannot be
// appended behind one of the new (Q8); with the profile's
// IdempotentEpochBump the producer bumps its epoch itself instead, with
// sequences from 0 again (KIP-360, as the Java client does): a partition
// that saw the new epoch refuses a late batch of the old one
// (INVALID_PRODUCER_EPOCH), and one that knew the old epoch takes the new
// one's first batch only at sequence 0.

// idempotentPipelined is an idempotent producer's tick with a pipeline.
func (c *client) idempotentPipelined() {
	w, p := c.w, c.prod
	if p.initing || p.idem != nil && p.idem.failed != 0 {
		return
	}
	if !c.idempotentReady() {
		return
	}
	pl := p.idem
	if pl == nil || pl.pid != p.pid || pl.epoch != p.epoch {
		pl = c.newIdempotentPipeline()
		p.idem = pl
	}
	tp, ok := c.idempotentTarget()
	if !ok {
		return
	}
	if pipe := pl.byTp[*tp]; pipe != nil && pipe.window()+len(pipe.batches)-pipe.sent >= pl.limit(pipe) {
		return
	}
	var writes []*sendOp
	for i, n := 0, 1+w.rngWorkload.IntN(2); i < n; i++ {
		c.seq++
		op := w.hist.invokeSend(c.id, *tp, fmt.Sprintf("%s-%d", c.name(), c.seq), -1, w.now, w.now+w.timing.deliveryTimeoutMs)
		op.idempotent = true
		w.stats.Sends++
		writes = append(writes, op)
	}
	pipe, _ := pl.add(*tp, writes, 0)
	c.busy = true
	pl.fill(pipe)
}

// newIdempotentPipeline is the pipeline of the producer's current id.
func (c *client) newIdempotentPipeline() *batchPipeline {
	w, p := c.w, c.prod
	pl := c.newBatchPipeline(p.pid, p.epoch, "", pipelineCounts{pipelined: &w.stats.IdempotentBatchesPipelined,
		refusedRetried: &w.stats.IdempotentBatchesRefusedRetried, retriedOK: &w.stats.IdempotentBatchesRetriedOK,
		outOfOrder: &w.stats.IdempotentOutOfOrderFailures})
	pl.encode = func(pipe *producerPipe, b *pipeBatch, inFlight int) []byte {
		values, keys := make([]string, len(b.writes)), make([][]byte, len(b.writes))
		for k, wr := range b.writes {
			values[k], keys[k] = wr.value, c.recordKey(wr)
		}
		w.tracef("%s: send %s to %s (producer %d epoch %d sequence %d, %d in flight)", c.name(), strings.Join(values, " "), pipe.tp, pl.pid, pl.epoch, b.seq, inFlight)
		return buildProducerBatch(keys, values, wallStartMs+w.now, pl.pid, pl.epoch, b.seq, false)
	}
	pl.resolved = func(b *pipeBatch) {
		for _, wr := range b.writes {
			c.countSend(wr)
		}
	}
	pl.settled = func() {
		if pl.failed != 0 && !pl.inFlight() {
			// Batches never sent have failed: nothing was appended.
			for _, pipe := range pl.pipes {
				for _, b := range pipe.batches[pipe.sent:] {
					if !b.resolved {
						pl.resolve(b, txnAbandonedCode)
					}
				}
			}
			if p.idem == pl {
				p.idem = nil
				switch {
				case p.pid != pl.pid || p.epoch != pl.epoch:
				case w.profile.IdempotentEpochBump && p.epoch < math.MaxInt16:
					p.epoch, p.seqs = p.epoch+1, map[tpKey]int32{}
					w.stats.IdempotentEpochBumps++
					w.tracef("%s: producer id %d epoch %d (bumped by the client)", c.name(), p.pid, p.epoch)
				default:
					p.pid = -1
				}
			}
		}
		c.busy = !pl.allResolved()
	}
	return pl
}
