package txn

import "github.com/twmb/franz-go/pkg/kmsg"

// A transaction whose markers are all written is complete, but its
// completion record (CompleteCommit or CompleteAbort) need not be appended
// at once: nothing reads it but a coordinator loading the partition, which
// finding the transaction still preparing writes its markers again, as it
// would had the coordinator failed while they were written. The
// completion waits up to Config.CompleteDelayMs for the producer's next
// add, whose Ongoing record then follows it in one append (complete): a
// transaction costs one append of __transaction_state fewer when its
// producer starts the next one soon. Any other request for the
// transactional id appends the completion at once and runs once it is
// appended, so none is told CONCURRENT_TRANSACTIONS for the wait.

// markersDone follows the last marker of t written: the completion is
// appended now, or waits for an add (CompleteDelayMs).
func (c *Coordinator) markersDone(t *txnMeta, now Time) {
	if c.cfg.CompleteDelayMs <= 0 || len(t.parked) > 0 {
		c.complete(t, now)
		return
	}
	t.markers = nil
	t.completeDueMs = now.MonoMs + c.cfg.CompleteDelayMs
}

// completeNow appends t's waiting completion, if it waits.
func (c *Coordinator) completeNow(t *txnMeta, now Time) {
	if t.completeDueMs > 0 && t.pending == nil {
		c.complete(t, now)
	}
}

// deferred says whether t's completion waits (its markers all written).
func (t *txnMeta) deferred() bool { return t.completeDueMs > 0 }

// completeFirst holds req, a request for a transaction whose completion
// waits, until that completion is appended: it appends it now and reports
// true, and req is handled again once the append is done. It reports
// false for any other request (handled at once).
func (c *Coordinator) completeFirst(id RequestID, req kmsg.Request, now Time) bool {
	var txnID string
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		if r.TransactionalID == nil {
			return false
		}
		txnID = *r.TransactionalID
	case *kmsg.EndTxnRequest:
		txnID = r.TransactionalID
	case *kmsg.AddPartitionsToTxnRequest:
		if r.Version >= 4 {
			// A broker's: adds park (addParked), verifications look at
			// each transaction; one waiting completion holds them all.
			for _, tx := range r.Transactions {
				if t := c.txns[tx.TransactionalID]; t != nil && t.deferred() && tx.VerifyOnly {
					txnID = tx.TransactionalID
					break
				}
			}
		}
	default:
		return false
	}
	t := c.txns[txnID]
	if t == nil || !t.deferred() {
		return false
	}
	t.afterComplete = append(t.afterComplete, func(now Time) { c.Handle(id, req, now) })
	c.completeNow(t, now)
	return true
}

// runAfter runs the requests held for a completion.
func runAfter(after []func(Time), now Time) {
	for _, f := range after {
		f(now)
	}
}
