package txn

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

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
func (c *Coordinator) markersDone(t *txnMeta, now internaltopic.Time) {
	if c.cfg.CompleteDelayMs <= 0 || len(t.parked) > 0 {
		c.complete(t, now)
		return
	}
	t.markers = nil
	t.completeDueMs = now.MonoMs + c.cfg.CompleteDelayMs
}

// completeNow appends t's waiting completion, if it waits.
func (c *Coordinator) completeNow(t *txnMeta, now internaltopic.Time) {
	if t.completeDueMs > 0 && t.pending == nil {
		c.complete(t, now)
	}
}

// deferred says whether t's completion waits (its markers all written).
func (t *txnMeta) deferred() bool { return t.completeDueMs > 0 }

// completeFirst holds req, a request for a transaction whose completion
// waits, until that completion is appended: it appends it now and reports
// true, and req is handled again once the append is done. It reports
// false for any other request (handled at once). DescribeTransactions and
// ListTransactions hold for every waiting completion they would show, so
// that they show a transaction complete only once its completion is
// durable, as a coordinator loading the partition would.
func (c *Coordinator) completeFirst(id internaltopic.RequestID, req kmsg.Request, now internaltopic.Time) bool {
	var txnID string
	switch r := req.(type) {
	case *kmsg.DescribeTransactionsRequest:
		var waiting []*txnMeta
		for _, txnID := range r.TransactionalIDs {
			if t := c.txns[txnID]; t != nil && t.deferred() && !slices.Contains(waiting, t) {
				waiting = append(waiting, t)
			}
		}
		return c.completeAllFirst(id, req, waiting, now)
	case *kmsg.ListTransactionsRequest:
		var waiting []*txnMeta
		for _, t := range c.sorted() {
			if t.deferred() {
				waiting = append(waiting, t)
			}
		}
		return c.completeAllFirst(id, req, waiting, now)
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
	t.afterComplete = append(t.afterComplete, func(now internaltopic.Time) { c.Handle(id, req, now) })
	c.completeNow(t, now)
	return true
}

// completeAllFirst appends the waiting completions of waiting now and
// holds req until the last is appended (the coordinator's appends are
// answered in order, so the others are by then), then handles it again.
// It reports false when none waits.
func (c *Coordinator) completeAllFirst(id internaltopic.RequestID, req kmsg.Request, waiting []*txnMeta, now internaltopic.Time) bool {
	if len(waiting) == 0 {
		return false
	}
	last := waiting[len(waiting)-1]
	last.afterComplete = append(last.afterComplete, func(now internaltopic.Time) { c.Handle(id, req, now) })
	for _, t := range waiting {
		c.completeNow(t, now)
	}
	return true
}

// runAfter runs the requests held for a completion.
func runAfter(after []func(internaltopic.Time), now internaltopic.Time) {
	for _, f := range after {
		f(now)
	}
}
