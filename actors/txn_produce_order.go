package actors

import (
	"slices"
	"sync"

	"gregor/logstore"
)

// producedAdds keeps, per transactional id, the order in which its
// transactional produces reach their partitions, and the partitions its
// produces' adds added (api_txn_produce.go).
//
// A Produce v12 whose coordinator is on this node waits for its add (one
// ask of the coordinator) before it goes to its partitions; the next
// produce of the same transactional id, pipelined behind it, must not go
// first, whatever path it takes: its batches carry later sequences, and a
// partition that got them first would refuse them as out of order
// (OUT_OF_ORDER_SEQUENCE_NUMBER). So every produce of an id with an add in
// flight joins the id's queue, and the queue hands produces to their
// partitions in the order they came, each once it and all before it are
// ready (an add is ready when answered; a produce that asks nothing at
// once).
//
// The partitions remembered are a hint: a produce to partitions an earlier
// add of its producer id and epoch added, with nothing queued, goes
// straight to them (which know they are in the transaction) instead of
// asking again; a partition whose transaction a marker ended since
// verifies the produce itself. It is bounded: when full it forgets the ids
// with nothing queued.
type producedAdds struct {
	mu sync.Mutex
	m  map[string]*producedAdd
}

type producedAdd struct {
	producerID int64
	epoch      int16
	tps        []logstore.TopicPartition
	// queue holds the produces not yet handed to their partitions, in the
	// order they came.
	queue []*queuedProduce
	// draining says a goroutine is handing the queue's ready head on; the
	// others leave it to that one, so the handing keeps the queue's order.
	draining bool
}

// queuedProduce is one produce in its transactional id's queue.
type queuedProduce struct {
	ready bool
	// code is the outcome of the add it went with (its own, or its
	// lead's): 0 when it succeeded.
	code int16
	// run hands the produce to its partitions, told they were added when
	// code is 0. With held set (drain hands on several produces at once)
	// the partitions' new batches wait in it to be sent together
	// (heldBatches); nil sends them as runProduces does.
	run func(code int16, held *heldBatches)
	// ask is the add this produce asked for, nil when it asked nothing.
	ask *txnAsk
	// lead is the add queued before it that asked for all its partitions,
	// whose outcome it takes; nil when it asked itself, or asked nothing.
	lead *queuedProduce
}

// producedAddsMax bounds the transactional ids remembered.
const producedAddsMax = 4096

// How a produce goes to its partitions (producedAdds.begin).
const (
	// produceStraight: nothing queued and its partitions added; the
	// caller hands it on (follow) and begin keeps nothing.
	produceStraight = iota
	// produceAsk: queued; the caller asks for the add and reports the
	// outcome with ready.
	produceAsk
	// produceAfterAdd: queued behind an add in flight that asked for all
	// its partitions (same producer id and epoch), whose outcome it takes:
	// the caller asks nothing.
	produceAfterAdd
)

// begin says how a's produce goes on, and queues it (to go by run) unless
// it goes straight.
func (p *producedAdds) begin(a txnAsk, run func(code int16, held *heldBatches)) (*queuedProduce, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.m[a.txnID]
	if e != nil && len(e.queue) == 0 && e.producerID == a.producerID && e.epoch == a.epoch && e.has(a) {
		return nil, produceStraight
	}
	if e == nil {
		e = p.entry(a.txnID)
		e.producerID, e.epoch = a.producerID, a.epoch
	}
	q := &queuedProduce{run: run}
	how := produceAsk
	// A lead already answered with a failure is not followed: its
	// outcome (a timed-out ask's refusal above all) belongs to the produces
	// that came while it was in flight, and this one, come after, asks
	// anew (a producer's retry, sent as soon as the refusal reached it,
	// can find the failed add still at the head of the queue while drain
	// hands it on).
	if lead := e.lastAsk(); lead != nil && !(lead.ready && lead.code != 0) && lead.ask.producerID == a.producerID && lead.ask.epoch == a.epoch && a.within(lead.ask.asks) {
		q.lead, how = lead, produceAfterAdd
		if lead.ready {
			q.ready, q.code = true, lead.code
		}
	} else {
		q.ask = &a
	}
	e.queue = append(e.queue, q)
	return q, how
}

// lastAsk is the last queued produce that asked for an add.
func (e *producedAdd) lastAsk() *queuedProduce {
	for i := len(e.queue) - 1; i >= 0; i-- {
		if e.queue[i].ask != nil {
			return e.queue[i]
		}
	}
	return nil
}

// entry is txnID's entry, made (and the map bounded) when there is none.
// The caller holds mu.
func (p *producedAdds) entry(txnID string) *producedAdd {
	if e := p.m[txnID]; e != nil {
		return e
	}
	if len(p.m) >= producedAddsMax {
		for id, e := range p.m {
			if len(e.queue) == 0 && !e.draining {
				delete(p.m, id)
			}
		}
	}
	if p.m == nil {
		p.m = map[string]*producedAdd{}
	}
	e := &producedAdd{}
	p.m[txnID] = e
	return e
}

// ready reports the outcome of a's add, asked for its queued produce q:
// code 0 says it succeeded, and its partitions are remembered. q and the
// produces that took its outcome go once the produces queued before them
// went.
func (p *producedAdds) ready(a txnAsk, q *queuedProduce, code int16) {
	p.mu.Lock()
	e := p.m[a.txnID]
	if code == 0 {
		if e.producerID != a.producerID || e.epoch != a.epoch {
			e.producerID, e.epoch, e.tps = a.producerID, a.epoch, nil
		}
		for _, tp := range append([]logstore.TopicPartition{a.tp}, a.more...) {
			if !slices.Contains(e.tps, tp) {
				e.tps = append(e.tps, tp)
			}
		}
	}
	q.ready, q.code = true, code
	for _, f := range e.queue {
		if f.lead == q {
			f.ready, f.code = true, code
		}
	}
	p.mu.Unlock()
	p.drain(e)
}

// follow runs run, which hands a produce of txnID that asks nothing to its
// partitions, at once when nothing of txnID is queued, else after the
// produces queued; held as queuedProduce.run's.
func (p *producedAdds) follow(txnID string, run func(held *heldBatches)) {
	p.mu.Lock()
	e := p.m[txnID]
	if e == nil || len(e.queue) == 0 {
		p.mu.Unlock()
		run(nil)
		return
	}
	e.queue = append(e.queue, &queuedProduce{ready: true, run: func(_ int16, held *heldBatches) { run(held) }})
	p.mu.Unlock()
	p.drain(e)
}

// drain hands on e's ready produces from the head of its queue, in order,
// unless another goroutine is at it (that one then takes them too). The
// runs happen outside the lock (they only send messages), each produce
// staying at the head until its run is over: a produce that comes
// meanwhile queues behind it instead of going straight to the partitions
// ahead of the run's messages.
//
// Several ready at once (franz-go pipelines a transaction's first records
// in one request and the rest in the next, and the first one's add holds
// both) go to their partitions' produce queues first and the batches are
// sent after the last one's run (heldBatches): each partition then writes
// the produces in one append. Sent as each was run, the first one's
// partition appended it inline before the next was sent, and the next
// one's records, in an append of their own, waited for another fetch of
// every follower (a replication round, ~1 ms of a transaction's 4 on
// three nodes).
func (p *producedAdds) drain(e *producedAdd) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.draining {
		return
	}
	e.draining = true
	var held *heldBatches
	for len(e.queue) > 0 && e.queue[0].ready {
		q := e.queue[0]
		if held == nil && len(e.queue) > 1 && e.queue[1].ready {
			held = &heldBatches{}
		}
		p.mu.Unlock()
		q.run(q.code, held)
		p.mu.Lock()
		if held != nil && (len(e.queue) < 2 || !e.queue[1].ready) {
			// The last of them: the batches go while it is still at the
			// head, so a produce that comes meanwhile queues behind.
			p.mu.Unlock()
			held.send()
			held = nil
			p.mu.Lock()
		}
		e.queue[0] = nil
		e.queue = e.queue[1:]
	}
	e.draining = false
}

// has says whether every partition of a is among e's.
func (e *producedAdd) has(a txnAsk) bool {
	return a.within(func(tp logstore.TopicPartition) bool { return slices.Contains(e.tps, tp) })
}
