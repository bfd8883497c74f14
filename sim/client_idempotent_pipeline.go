package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// An idempotent producer with a pipeline (the profile's IdempotentPipeline
// above 1) sends as franz-go does with max.in.flight 5: its batches (of 1
// or 2 values) to a partition carry consecutive sequences, and up to
// pipeline of them are in flight per partition, one batchPipeline a
// producer id and epoch (client_pipeline.go). A tick draws a partition and
// adds a batch to it if its pipe has room (else it sends nothing this
// tick).
//
// A batch refused for its producer (OUT_OF_ORDER_SEQUENCE_NUMBER that no
// earlier unresolved batch explains, UNKNOWN_PRODUCER_ID,
// INVALID_PRODUCER_EPOCH: the leader's producer state went back, after an
// unclean or last-known-ELR election, or a deposed leader answered) fails
// none of its records, as in franz-go (sink.go: an idempotent producer
// without StopOnDataLoss "fails the producer ID" and retries): the
// pipeline resets (batchPipeline.reset), and once none of its batches is
// in flight the producer takes a new epoch (or id) and sends every batch
// without an outcome again, first of all, in order, with sequences from 0.
//
// Any other failure of the pipeline (a batch refused for good, or past its
// delivery timeout) fails its batches without an outcome and costs the
// producer its producer id once none is in flight: the next send gets a
// new one, so that a batch of the old id still in flight cannot be
// appended behind one of the new (Q8).
//
// Either way, with the profile's IdempotentEpochBump the producer bumps its
// epoch itself instead of asking for a new id, with sequences from 0 again
// (KIP-360, as franz-go and the Java client do): a partition that saw the
// new epoch refuses a late batch of the old one (INVALID_PRODUCER_EPOCH),
// and one that knew the old epoch takes the new one's first batch only at
// sequence 0.

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
	if len(p.carried) > 0 {
		c.sendCarried(pl)
		return
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
		// An out-of-order refusal resets the producer instead of failing
		// the pipeline (Stats.IdempotentResets): nothing to count here.
		outOfOrder: new(int64)})
	pl.encode = func(pipe *producerPipe, b *pipeBatch, inFlight int) []byte {
		values, keys := make([]string, len(b.writes)), make([][]byte, len(b.writes))
		for k, wr := range b.writes {
			values[k], keys[k] = wr.value, c.recordKey(wr)
		}
		w.tracef("%s: send %s to %s (producer %d epoch %d sequence %d, %d in flight)", c.name(), strings.Join(values, " "), pipe.tp, pl.pid, pl.epoch, b.seq, inFlight)
		return buildProducerBatch(keys, values, wallStartMs+w.now, pl.pid, pl.epoch, b.seq, false)
	}
	pl.resets = idempotentResetCode
	pl.resolved = func(b *pipeBatch) {
		for _, wr := range b.writes {
			c.countSend(wr)
		}
	}
	pl.settled = func() {
		if pl.failed != 0 && !pl.inFlight() {
			if pl.resetting && !pl.handedOver {
				// Every batch without an outcome goes again under the
				// next epoch or id.
				carried := pl.carry()
				p.carried = append(p.carried, carried...)
				w.stats.IdempotentResets++
				w.stats.IdempotentValuesResent += int64(carriedValues(carried))
				c.after(0, c.resendAfterReset)
			}
			// Batches never sent have failed: nothing was appended.
			for _, pipe := range pl.pipes {
				for _, b := range pipe.batches[pipe.sent:] {
					if !b.resolved && !pl.resetting {
						pl.resolve(b, txnAbandonedCode)
					}
				}
			}
			if p.idem == pl {
				p.idem = nil
				if p.pid == pl.pid && p.epoch == pl.epoch {
					c.renewProducer()
				}
			}
		}
		c.busy = !pl.allResolved()
	}
	return pl
}

// idempotentResetCode says a produce answer resets an idempotent producer
// as franz-go's sink.go does (without StopOnDataLoss): fail the producer
// id, retry the batch. Any other refusal fails the batch.
func idempotentResetCode(code int16) bool {
	switch code {
	case kerr.OutOfOrderSequenceNumber.Code, kerr.UnknownProducerID.Code, kerr.InvalidProducerIDMapping.Code, kerr.InvalidProducerEpoch.Code:
		return true
	}
	return false
}

// resendAfterReset sends what a reset carried once the producer has its
// new epoch or id, as franz-go's next request after it fails a producer
// id: at once (after what runs now), or, while the producer asks for a
// new id, after a retry backoff; the workload's end (stopWorkload) does
// not stop it, as it stops no send in flight. A tick that comes first
// sends it too (idempotentNext), before any new value.
func (c *client) resendAfterReset() {
	p := c.prod
	switch {
	case len(p.carried) == 0 && p.resend == nil:
		return
	case p.initing || p.idem != nil && p.idem.failed != 0:
	case p.pid < 0:
		c.initProducer()
	case p.resend != nil:
		c.sendResend()
		return
	default:
		pl := p.idem
		if pl == nil || pl.pid != p.pid || pl.epoch != p.epoch {
			pl = c.newIdempotentPipeline()
			p.idem = pl
		}
		c.sendCarried(pl)
		return
	}
	c.after(c.w.timing.retryBackoffMs, c.resendAfterReset)
}

// sendCarried adds the batches a reset carried to the producer's new
// pipeline, in their order, and sends them (each partition's first alone
// until it answers the new epoch, client_pipeline.go).
func (c *client) sendCarried(pl *batchPipeline) {
	carried := c.prod.carried
	c.prod.carried = nil
	c.w.tracef("%s: producer %d epoch %d sends %d values again after a reset", c.name(), pl.pid, pl.epoch, carriedValues(carried))
	var pipes []*producerPipe
	for _, writes := range carried {
		pipe, _ := pl.add(writes[0].tp, writes, 0)
		if !slices.Contains(pipes, pipe) {
			pipes = append(pipes, pipe)
		}
	}
	c.busy = true
	for _, pipe := range pipes {
		pl.fill(pipe)
	}
}

// carriedValues counts the values of carried batches.
func carriedValues(carried [][]*sendOp) int {
	n := 0
	for _, writes := range carried {
		n += len(writes)
	}
	return n
}

// renewProducer ends an idempotent producer's id and epoch: with the
// profile's IdempotentEpochBump it bumps its epoch itself (KIP-360, as
// franz-go), its sequences from 0 again; without, its next send asks for
// a new producer id.
func (c *client) renewProducer() {
	w, p := c.w, c.prod
	if w.profile.IdempotentEpochBump && p.epoch < math.MaxInt16 {
		p.epoch, p.seqs = p.epoch+1, map[tpKey]int32{}
		w.stats.IdempotentEpochBumps++
		w.tracef("%s: producer id %d epoch %d (bumped by the client)", c.name(), p.pid, p.epoch)
		return
	}
	p.pid = -1
}
