package txn

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// initProducerID serves InitProducerId for a transactional id: a new id
// gets a producer id at epoch 0; a known one gets its epoch bumped (a new
// producer id once the epoch is exhausted), which fences the producer that
// held it. An open transaction is aborted first, the caller told
// CONCURRENT_TRANSACTIONS to retry. newPID is a producer id allocated for
// this request (-1: none yet); the request runs again once one arrives.
func (c *Coordinator) initProducerID(id internaltopic.RequestID, r *kmsg.InitProducerIDRequest, now internaltopic.Time, newPID int64) {
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.Version, resp.ProducerID, resp.ProducerEpoch = r.Version, -1, -1
	fail := func(code int16) {
		resp.ErrorCode = code
		c.reply(id, resp)
	}
	if r.TransactionalID == nil {
		panic("txn: InitProducerId without a transactional id reached the coordinator")
	}
	if r.TransactionTimeoutMillis <= 0 || r.TransactionTimeoutMillis > c.cfg.MaxTimeoutMs {
		fail(kerr.InvalidTransactionTimeout.Code)
		return
	}
	txnID := *r.TransactionalID
	t := c.txns[txnID]
	if t == nil {
		if newPID < 0 {
			c.withProducerID(fail, func(pid int64, now internaltopic.Time) { c.initProducerID(id, r, now, pid) })
			return
		}
		t = &txnMeta{id: txnID, producerID: newPID, prevProducerID: -1, nextProducerID: -1, epoch: noProducerEpoch,
			lastEpoch: noProducerEpoch, timeoutMs: r.TransactionTimeoutMillis, state: Empty,
			lastUpdateWallMs: now.WallMs, startWallMs: -1}
		c.txns[txnID] = t
		newPID = -1
	}
	if t.pending != nil {
		fail(kerr.ConcurrentTransactions.Code)
		return
	}
	// KIP-360: a producer that names its producer id and epoch must hold
	// them (or have held them just before the last bump, retrying); a
	// transactional id new here (expired, say) takes it.
	retry := false
	if r.ProducerID >= 0 && t.epoch != noProducerEpoch {
		switch {
		case r.ProducerID == t.producerID && r.ProducerEpoch == t.epoch:
		case r.ProducerID == t.producerID && t.lastEpoch >= 0 && r.ProducerEpoch == t.lastEpoch:
			retry = true
		case r.ProducerID == t.prevProducerID && t.epoch == 0:
			retry = true
		default:
			fail(kerr.ProducerFenced.Code)
			return
		}
	}
	switch t.state {
	case Ongoing:
		c.fenceAndAbort(t, now)
		fail(kerr.ConcurrentTransactions.Code)
		return
	case Empty, CompleteCommit, CompleteAbort:
	default:
		fail(kerr.ConcurrentTransactions.Code)
		return
	}
	if retry && t.state == Empty {
		resp.ProducerID, resp.ProducerEpoch = t.producerID, t.epoch
		c.reply(id, resp)
		return
	}
	next := t.clone()
	if epochExhausted(t.epoch) {
		if newPID < 0 {
			c.withProducerID(fail, func(pid int64, now internaltopic.Time) { c.initProducerID(id, r, now, pid) })
			return
		}
		next.prevProducerID, next.producerID, next.epoch, next.lastEpoch = t.producerID, newPID, 0, noProducerEpoch
	} else {
		next.epoch, next.lastEpoch = t.epoch+1, t.epoch
	}
	next.state, next.partitions, next.nextProducerID = Empty, nil, -1
	next.timeoutMs, next.lastUpdateWallMs, next.startWallMs = r.TransactionTimeoutMillis, now.WallMs, -1
	c.transit(t, next, func(code int16, _ internaltopic.Time) {
		if code != 0 {
			fail(code)
			return
		}
		resp.ProducerID, resp.ProducerEpoch = t.producerID, t.epoch
		c.reply(id, resp)
	})
}

// withProducerID asks the shell for a new producer id and runs then with
// it, or fail with the error that kept it from one.
func (c *Coordinator) withProducerID(fail func(code int16), then func(pid int64, now internaltopic.Time)) {
	c.allocate(func(pid int64, code int16, now internaltopic.Time) {
		if code != 0 || pid < 0 {
			if code == 0 {
				code = kerr.UnknownServerError.Code
			}
			fail(code)
			return
		}
		then(pid, now)
	})
}

// fenceAndAbort bumps the epoch of t's open transaction, so its producer is
// fenced, and aborts the transaction under the new epoch (a timeout, or
// InitProducerId from a new producer). While the abort is appended the
// transaction shows PrepareEpochFence.
func (c *Coordinator) fenceAndAbort(t *txnMeta, now internaltopic.Time) {
	next := t.clone()
	if t.epoch < math.MaxInt16 {
		next.epoch, next.markersTV2 = t.epoch+1, t.tv2
	}
	next.lastEpoch = noProducerEpoch // no retry credit for the fenced producer
	next.state, next.lastUpdateWallMs = PrepareAbort, now.WallMs
	t.fencing = true
	c.transit(t, next, func(code int16, now internaltopic.Time) {
		t.fencing = false
		if code != 0 {
			// Try again after a backoff: the timeout deadline moves.
			t.startMonoMs = now.MonoMs + c.cfg.MarkerRetryBackoffMs - int64(t.timeoutMs)
			return
		}
		c.sendMarkers(t, now)
	})
}
