package actors

import (
	"sync"

	"gregor/txn"
)

// markerSenders carry the markers that this node's coordinators send to
// other brokers: one WriteTxnMarkers request in flight per leader, and the
// markers that any coordinator hands over meanwhile wait and go together
// in the next one, as Kafka's marker channel drains its queue per broker.
// Under load (many transactions ending at once on coordinators spread over
// the node) a leader gets one request for many transactions' markers
// rather than one per coordinator and transaction; when nothing is in
// flight a marker goes at once.
type markerSenders struct {
	mu       sync.Mutex
	byLeader map[int32]*markerSender
	// send carries one request's markers to a leader and reports their
	// outcomes, in the order of the markers, once (txnNode.sendMarkers;
	// tests put their own).
	send func(leader int32, ms []txn.Marker, report func([]markerResult))
}

// markerSender is one leader's request in flight and the markers waiting
// for it to be answered.
type markerSender struct {
	inflight bool
	waiting  []markerHandover
}

// markerHandover is one coordinator's markers for a leader and where their
// outcomes go.
type markerHandover struct {
	ms     []txn.Marker
	report func([]markerResult)
}

// queue sends ms to leader now, or after the request in flight to it,
// with whatever else waits; report gets their outcomes.
func (s *markerSenders) queue(leader int32, ms []txn.Marker, report func([]markerResult)) {
	s.mu.Lock()
	if s.byLeader == nil {
		s.byLeader = map[int32]*markerSender{}
	}
	q := s.byLeader[leader]
	if q == nil {
		q = &markerSender{}
		s.byLeader[leader] = q
	}
	q.waiting = append(q.waiting, markerHandover{ms: ms, report: report})
	if q.inflight {
		s.mu.Unlock()
		return
	}
	q.inflight = true
	batch := q.take()
	s.mu.Unlock()
	s.sendBatch(leader, batch)
}

// take takes the waiting handovers for one request: all of them, but for
// those with a marker of a producer id and partition already taken (an
// answer tells markers apart by those alone: a deposed coordinator's and
// its successor's, say), which wait for the next.
func (q *markerSender) take() []markerHandover {
	type key struct {
		pid       int64
		topic     string
		partition int32
	}
	taken := map[key]bool{}
	var batch, kept []markerHandover
	for _, h := range q.waiting {
		clash := false
		for _, m := range h.ms {
			clash = clash || taken[key{m.ProducerID, m.Topic, m.Partition}]
		}
		if clash {
			kept = append(kept, h)
			continue
		}
		for _, m := range h.ms {
			taken[key{m.ProducerID, m.Topic, m.Partition}] = true
		}
		batch = append(batch, h)
	}
	q.waiting = kept
	return batch
}

// sendBatch sends the markers of batch in one request and hands each
// handover its outcomes, then sends what waited meanwhile.
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
			s.answered(leader)
		})
	})
}

// answered sends the markers that waited for leader's request, or marks
// the leader idle.
func (s *markerSenders) answered(leader int32) {
	s.mu.Lock()
	q := s.byLeader[leader]
	if len(q.waiting) == 0 {
		q.inflight = false
		delete(s.byLeader, leader)
		s.mu.Unlock()
		return
	}
	batch := q.take()
	s.mu.Unlock()
	s.sendBatch(leader, batch)
}
