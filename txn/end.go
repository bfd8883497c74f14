package txn

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// endTxn serves EndTxn: an ongoing transaction moves to PrepareCommit or
// PrepareAbort, the producer is answered once that is appended, and the
// markers are written; a retry of an end already done is answered again.
// With v5 (KIP-890 part 2) every end bumps the epoch, and the answer
// carries the producer id and epoch to use next.
func (c *Coordinator) endTxn(id internaltopic.RequestID, r *kmsg.EndTxnRequest, now internaltopic.Time) {
	c.endTxnWith(id, r, now, -1)
}

func (c *Coordinator) endTxnWith(id internaltopic.RequestID, r *kmsg.EndTxnRequest, now internaltopic.Time, newPID int64) {
	resp := kmsg.NewPtrEndTxnResponse()
	resp.Version, resp.ProducerID, resp.ProducerEpoch = r.Version, -1, -1
	fail := func(code int16) {
		resp.ErrorCode = fencedCode(code, r.Version, 2)
		c.reply(id, resp)
	}
	succeed := func(t *txnMeta) {
		resp.ProducerID, resp.ProducerEpoch = t.producerID, t.epoch
		if t.nextProducerID >= 0 {
			resp.ProducerID, resp.ProducerEpoch = t.nextProducerID, 0
		}
		c.reply(id, resp)
	}
	tv2 := r.Version >= 5
	t := c.txns[r.TransactionalID]
	if t == nil {
		fail(kerr.InvalidProducerIDMapping.Code)
		return
	}
	ended := (r.Commit && (t.state == PrepareCommit || t.state == CompleteCommit)) ||
		(!r.Commit && (t.state == PrepareAbort || t.state == CompleteAbort))
	if tv2 && ended && t.pending == nil && (r.ProducerID == t.producerID && t.lastEpoch >= 0 && r.ProducerEpoch == t.lastEpoch ||
		r.ProducerID == t.prevProducerID && t.epoch == 0) {
		// A retry of the end that bumped the epoch.
		if t.state == PrepareCommit || t.state == PrepareAbort {
			fail(kerr.ConcurrentTransactions.Code)
			return
		}
		succeed(t)
		return
	}
	switch {
	case r.ProducerID != t.producerID:
		fail(kerr.InvalidProducerIDMapping.Code)
		return
	case t.fenced(r.ProducerEpoch):
		fail(kerr.ProducerFenced.Code)
		return
	case t.pending != nil:
		fail(kerr.ConcurrentTransactions.Code)
		return
	}
	switch t.state {
	case Ongoing:
	case Empty, CompleteCommit, CompleteAbort:
		if tv2 && !r.Commit {
			break // KIP-890: aborting with nothing open bumps the epoch
		}
		if !tv2 && ended {
			succeed(t) // a retry: the epoch did not move
			return
		}
		fail(kerr.InvalidTxnState.Code)
		return
	case PrepareCommit, PrepareAbort:
		// The markers of the transaction that ended are being written:
		// any end waits for them (Kafka holds the completion as a
		// pending transition, KAFKA-18464). A producer of KIP-890 part 2
		// whose produces never went out aborts its empty transaction,
		// at the epoch the last end gave it, right after that end's
		// answer; once the markers are written the abort goes through.
		fail(kerr.ConcurrentTransactions.Code)
		return
	default:
		fail(kerr.InvalidTxnState.Code)
		return
	}
	next := t.clone()
	next.state, next.lastUpdateWallMs = PrepareAbort, now.WallMs
	if r.Commit {
		next.state = PrepareCommit
	}
	if t.state != Ongoing {
		next.partitions, next.startWallMs = nil, now.WallMs
	}
	if tv2 {
		next.tv2, next.epoch, next.lastEpoch, next.markersTV2 = true, t.epoch+1, t.epoch, true
		if epochExhausted(next.epoch) {
			if newPID < 0 {
				c.withProducerID(fail, func(pid int64, now internaltopic.Time) { c.endTxnWith(id, r, now, pid) })
				return
			}
			next.nextProducerID = newPID
		}
	}
	c.transit(t, next, func(code int16, now internaltopic.Time) {
		if code != 0 {
			fail(code)
			return
		}
		succeed(t)
		c.sendMarkers(t, now)
	})
}

// sendMarkers asks for the marker of t's outcome on every partition of its
// transaction; with none, the transaction completes at once.
func (c *Coordinator) sendMarkers(t *txnMeta, now internaltopic.Time) {
	t.markers = make([]markerState, len(t.partitions))
	c.ready.Markers = slices.Grow(c.ready.Markers, len(t.partitions))
	for i, tp := range t.partitions {
		t.markers[i] = markerState{tp: tp, inflight: true}
		c.ready.Markers = append(c.ready.Markers, c.marker(t, tp))
	}
	if len(t.partitions) == 0 {
		c.complete(t, now)
	}
}

func (c *Coordinator) marker(t *txnMeta, tp TopicPartition) Marker {
	m := Marker{TransactionalID: t.id, ProducerID: t.producerID, ProducerEpoch: t.epoch,
		Commit: t.state == PrepareCommit, CoordinatorEpoch: c.cfg.CoordinatorEpoch, Topic: tp.Topic, Partition: tp.Partition}
	if t.markersTV2 {
		m.TransactionVersion = 2
	}
	return m
}

// MarkerWritten reports the outcome of writing marker m: code is 0, or the
// partition leader's error. The shell reports 0 for a partition whose topic
// was deleted, as nothing is left to mark. A deposed coordinator
// (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED) stops writing
// the transaction's markers: its new coordinator finishes it. Other errors
// are retried after a backoff.
func (c *Coordinator) MarkerWritten(m Marker, code int16, now internaltopic.Time) {
	t := c.txns[m.TransactionalID]
	if t == nil || t.markers == nil || t.producerID != m.ProducerID || t.epoch != m.ProducerEpoch {
		return
	}
	tp := TopicPartition{m.Topic, m.Partition}
	ms := t.marker(tp)
	if ms == nil || !ms.inflight {
		return
	}
	switch code {
	case 0:
		t.markers = slices.DeleteFunc(t.markers, func(m markerState) bool { return m.tp == tp })
		if len(t.markers) == 0 {
			c.markersDone(t, now)
		}
	case kerr.InvalidProducerEpoch.Code, kerr.TransactionCoordinatorFenced.Code:
		t.markers = nil
		c.refuseParked(t)
	default:
		ms.inflight, ms.retryAtMs = false, now.MonoMs+c.cfg.MarkerRetryBackoffMs
		c.refuseParked(t)
	}
}

// park holds an add of t's producer for its next transaction while the
// markers of the one ending are being written, all of them on their first
// try, and runs it once the transaction completes (the producer would be
// told CONCURRENT_TRANSACTIONS and retry after a backoff, which is most of
// a short transaction's time); it holds an add too while another add of
// the same epoch is being appended. Parked adds run merged (runParked,
// complete). It reports false when the request cannot wait (the caller
// answers it).
func (c *Coordinator) park(t *txnMeta, add parkedAdd) bool {
	completing := t.pending != nil && (t.pending.state == CompleteCommit || t.pending.state == CompleteAbort) ||
		t.completeDueMs > 0 && t.pending == nil
	adding := t.pending != nil && t.pending.state == Ongoing && t.markers == nil && t.pending.producerID == add.producerID &&
		t.pending.epoch == add.epoch
	switch {
	case adding:
	case !completing && (t.pending != nil || t.markers == nil || t.completeRetryAtMs > 0):
		return false
	}
	for _, ms := range t.markers {
		if !ms.inflight {
			return false
		}
	}
	t.parked = append(t.parked, add)
	return true
}

// runParked runs the adds parked on t once it is complete or its pending
// add appended: every add of the producer id and epoch of the first goes
// as one (one append for the partitions of them all), and the others
// after it is appended.
func (c *Coordinator) runParked(t *txnMeta, now internaltopic.Time) {
	for len(t.parked) > 0 && t.pending == nil && t.state != PrepareCommit && t.state != PrepareAbort {
		adds := takeParkedAdds(t, t.parked[0].producerID, t.parked[0].epoch)
		merged := mergeAdds(adds)
		c.addParked(t.id, merged, now)
	}
}

// takeParkedAdds takes off t the parked adds of a producer id and epoch.
func takeParkedAdds(t *txnMeta, producerID int64, epoch int16) []parkedAdd {
	var taken, kept []parkedAdd
	for _, p := range t.parked {
		if p.producerID == producerID && p.epoch == epoch {
			taken = append(taken, p)
		} else {
			kept = append(kept, p)
		}
	}
	t.parked = kept
	return taken
}

// mergeAdds is one add for the partitions of adds (of one producer id and
// epoch) whose outcome is each one's.
func mergeAdds(adds []parkedAdd) parkedAdd {
	m := parkedAdd{producerID: adds[0].producerID, epoch: adds[0].epoch}
	for _, a := range adds {
		for _, tp := range a.tps {
			if !slices.Contains(m.tps, tp) {
				m.tps = append(m.tps, tp)
			}
		}
		m.byBroker = m.byBroker || a.byBroker
		m.announce = append(m.announce, a.announce...)
	}
	m.done = func(code int16) {
		for _, a := range adds {
			a.done(code)
		}
	}
	return m
}

// refuseParked tells the adds parked on t to retry
// (CONCURRENT_TRANSACTIONS).
func (c *Coordinator) refuseParked(t *txnMeta) {
	parked := t.parked
	t.parked = nil
	for _, p := range parked {
		p.done(kerr.ConcurrentTransactions.Code)
	}
}

// retryMarkers sends again the markers whose backoff is over, and the
// completion if its append failed.
func (c *Coordinator) retryMarkers(t *txnMeta, now internaltopic.Time) {
	for i := range t.markers {
		if ms := &t.markers[i]; !ms.inflight && now.MonoMs >= ms.retryAtMs {
			ms.inflight = true
			c.ready.Markers = append(c.ready.Markers, c.marker(t, ms.tp))
		}
	}
	if t.completeRetryAtMs > 0 && now.MonoMs >= t.completeRetryAtMs && t.pending == nil {
		t.completeRetryAtMs = 0
		c.complete(t, now)
	}
	if t.completeDueMs > 0 && now.MonoMs >= t.completeDueMs {
		c.completeNow(t, now)
	}
}

// complete appends the end of t's transaction once every marker is
// written: CompleteCommit or CompleteAbort, with no partitions (and, after
// a KIP-890 epoch exhaustion, the next producer id at epoch 0). The adds
// parked for the producer's next transaction open it in the same append:
// its Ongoing record follows the completion's, so one append (and one
// outcome) serves both.
func (c *Coordinator) complete(t *txnMeta, now internaltopic.Time) {
	t.markers, t.completeDueMs = nil, 0
	after := t.afterComplete
	t.afterComplete = nil
	next := t.clone()
	next.state, next.partitions, next.lastUpdateWallMs = CompleteAbort, nil, now.WallMs
	if t.state == PrepareCommit {
		next.state = CompleteCommit
	}
	if t.nextProducerID >= 0 {
		next.prevProducerID, next.producerID, next.nextProducerID = t.producerID, t.nextProducerID, -1
		next.epoch, next.lastEpoch = 0, noProducerEpoch
	}
	chain := []*txnMeta{next}
	var opened parkedAdd
	if adds := takeParkedAdds(t, next.producerID, next.epoch); len(adds) > 0 {
		opened = mergeAdds(adds)
		open := next.clone()
		open.state, open.startWallMs, open.startMonoMs = Ongoing, now.WallMs, now.MonoMs
		open.tv2 = open.tv2 || opened.byBroker
		open.addPartitions(opened.tps)
		chain = append(chain, open)
	}
	c.transitChain(t, chain, func(code int16, now internaltopic.Time) {
		defer runAfter(after, now)
		if code != 0 {
			if code != kerr.NotCoordinator.Code {
				t.completeRetryAtMs = now.MonoMs + c.cfg.MarkerRetryBackoffMs
			}
			if opened.done != nil {
				opened.done(kerr.ConcurrentTransactions.Code)
			}
			c.refuseParked(t)
			return
		}
		if opened.done != nil {
			if len(opened.announce) > 0 {
				c.ready.Added = append(c.ready.Added, PartitionsAdded{ProducerID: t.producerID, ProducerEpoch: t.epoch, Partitions: opened.announce})
			}
			opened.done(0)
		}
	})
}

// abortTimedOut aborts a transaction open longer than its timeout, fencing
// its producer.
func (c *Coordinator) abortTimedOut(t *txnMeta, now internaltopic.Time) { c.fenceAndAbort(t, now) }

// expireIDs removes transactional ids idle (no transaction open) for
// longer than transactional.id.expiration.ms.
func (c *Coordinator) expireIDs(now internaltopic.Time) {
	for _, t := range c.sorted() {
		switch t.state {
		case Empty, CompleteCommit, CompleteAbort:
		default:
			continue
		}
		if t.pending != nil || now.WallMs-t.lastUpdateWallMs < c.cfg.IDExpirationMs {
			continue
		}
		next := t.clone()
		next.state = Dead
		c.transit(t, next, func(int16, internaltopic.Time) {})
	}
}
