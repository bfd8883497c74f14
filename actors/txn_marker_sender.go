package actors

import (
	"sync"

	"gregor/txn"
)

// markerRequestsPerLeader is how many WriteTxnMarkers requests a node has
// in flight to one leader. With one, at four transactional producers
// (BenchmarkTransactionsReplicated), on a node running two of their
// coordinators 15-21% of the markers handed over for a leader waited for
// the other coordinator's request to be answered (a replication round of
// the leader's partitions: 4-9 ms each on a loaded machine); with two they
// go at once, and the leader still joins the markers of both requests in
// its partitions' appends (txn_marker_queue.go).
const markerRequestsPerLeader = 2

// markerSenders carry the markers that this node's coordinators send to
// other brokers: up to markerRequestsPerLeader WriteTxnMarkers requests
// in flight per leader, and the markers that any coordinator hands over
// while they are all in flight wait and go together in the next one, as
// Kafka's marker channel drains its queue per broker. Under load (many
// transactions ending at once on coordinators spread over the node) a
// leader gets one request for many transactions' markers rather than one
// per coordinator and transaction; when a request slot is free a marker
// goes at once.
type markerSenders struct {
	mu       sync.Mutex
	byLeader map[int32]*markerSender
	// send carries one request's markers to a leader and reports their
	// outcomes, in the order of the markers, once (txnNode.sendMarkers;
	// tests put their own).
	send func(leader int32, ms []txn.Marker, report func([]markerResult))
}

// markerKey is what an answer tells a marker by: its producer id and
// partition.
type markerKey struct {
	pid       int64
	topic     string
	partition int32
}

// markerSender is one leader's requests in flight and the markers waiting
// for a slot.
type markerSender struct {
	inflight int
	// sent counts the markers in flight by key: a marker of a key in
	// flight waits for its answer (markerSender.take).
	sent    map[markerKey]int
	waiting []markerHandover
}

// markerHandover is one coordinator's markers for a leader and where their
// outcomes go.
type markerHandover struct {
	ms     []txn.Marker
	report func([]markerResult)
}

// queue sends ms to leader now, or once a request in flight to it is
// answered, with whatever else waits; report gets their outcomes.
func (s *markerSenders) queue(leader int32, ms []txn.Marker, report func([]markerResult)) {
	s.mu.Lock()
	if s.byLeader == nil {
		s.byLeader = map[int32]*markerSender{}
	}
	q := s.byLeader[leader]
	if q == nil {
		q = &markerSender{sent: map[markerKey]int{}}
		s.byLeader[leader] = q
	}
	q.waiting = append(q.waiting, markerHandover{ms: ms, report: report})
	batch := q.next()
	s.mu.Unlock()
	if batch != nil {
		s.sendBatch(leader, batch)
	}
}

// next takes the handovers for a request when a slot is free and some
// can go (take), counting them in flight; nil when none goes now.
func (q *markerSender) next() []markerHandover {
	if q.inflight >= markerRequestsPerLeader || len(q.waiting) == 0 {
		return nil
	}
	batch := q.take()
	if len(batch) == 0 {
		return nil
	}
	q.inflight++
	for _, h := range batch {
		for _, m := range h.ms {
			q.sent[keyOf(m)]++
		}
	}
	return batch
}

// keyOf is m's markerKey.
func keyOf(m txn.Marker) markerKey { return markerKey{m.ProducerID, m.Topic, m.Partition} }

// take takes the waiting handovers for one request: all of them, but for
// those with a marker of a producer id and partition already taken or in
// a request in flight (an answer tells markers apart by those alone: a
// deposed coordinator's and its successor's, say), which wait for the
// next.
func (q *markerSender) take() []markerHandover {
	taken := map[markerKey]bool{}
	var batch, kept []markerHandover
	for _, h := range q.waiting {
		clash := false
		for _, m := range h.ms {
			clash = clash || taken[keyOf(m)] || q.sent[keyOf(m)] > 0
		}
		if clash {
			kept = append(kept, h)
			continue
		}
		for _, m := range h.ms {
			taken[keyOf(m)] = true
		}
		batch = append(batch, h)
	}
	q.waiting = kept
	return batch
}

// sendBatch sends the markers of batch in one request and hands each
// handover its outcomes, then sends what can go in its slot.
func (s *markerSenders) sendBatch(leader int32, batch []markerHandover) {
	var all []txn.Marker
	for _, h := range batch {
		all = append(all, h.ms...)
	}
	var once sync.Once
	s.send(leader, all, func(results []markerResult) {
		once.Do(func() {
			at := 0
			for _, h := range batch {
				h.report(results[at : at+len(h.ms)])
				at += len(h.ms)
			}
			s.answered(leader, all)
		})
	})
}

// answered frees the slot of the request that carried ms, and sends the
// markers that can go now, or forgets the leader when nothing is in
// flight or waits.
func (s *markerSenders) answered(leader int32, ms []txn.Marker) {
	s.mu.Lock()
	q := s.byLeader[leader]
	q.inflight--
	for _, m := range ms {
		if q.sent[keyOf(m)]--; q.sent[keyOf(m)] == 0 {
			delete(q.sent, keyOf(m))
		}
	}
	var batches [][]markerHandover
	for batch := q.next(); batch != nil; batch = q.next() {
		batches = append(batches, batch)
	}
	if q.inflight == 0 && len(q.waiting) == 0 {
		delete(s.byLeader, leader)
	}
	s.mu.Unlock()
	for _, batch := range batches {
		s.sendBatch(leader, batch)
	}
}
