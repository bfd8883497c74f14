package actors

import (
	"sync"
	"testing"

	"gregor/txn"
)

// TestMarkerSendersBatchPerLeader: while a request to a leader is in
// flight, the markers other coordinators hand over for that leader wait
// and go in one request once it is answered, each coordinator told its
// own markers' outcomes; another leader is not held up, and a leader with
// nothing in flight gets its markers at once.
func TestMarkerSendersBatchPerLeader(t *testing.T) {
	type call struct {
		leader int32
		ms     []txn.Marker
		report func([]markerResult)
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	s := &markerSenders{send: func(leader int32, ms []txn.Marker, report func([]markerResult)) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, call{leader, ms, report})
	}}
	marker := func(pid int64, partition int32) txn.Marker {
		return txn.Marker{ProducerID: pid, Topic: "t", Partition: partition}
	}
	got := map[int64][]markerResult{}
	reportTo := func(pid int64) func([]markerResult) {
		return func(rs []markerResult) { got[pid] = append(got[pid], rs...) }
	}
	answer := func(c call, code func(txn.Marker) int16) {
		rs := make([]markerResult, len(c.ms))
		for i, m := range c.ms {
			rs[i] = markerResult{marker: m, code: code(m)}
		}
		c.report(rs)
	}

	s.queue(2, []txn.Marker{marker(1, 0), marker(1, 1)}, reportTo(1))
	s.queue(2, []txn.Marker{marker(2, 0)}, reportTo(2))
	s.queue(3, []txn.Marker{marker(3, 0)}, reportTo(3))
	s.queue(2, []txn.Marker{marker(4, 1)}, reportTo(4))
	if len(calls) != 2 || calls[0].leader != 2 || len(calls[0].ms) != 2 || calls[1].leader != 3 {
		t.Fatalf("before any answer: %d requests %+v, want one to leader 2 (2 markers) and one to leader 3", len(calls), calls)
	}
	answer(calls[0], func(txn.Marker) int16 { return 0 })
	if len(calls) != 3 || calls[2].leader != 2 || len(calls[2].ms) != 2 {
		t.Fatalf("after leader 2's answer: %d requests, want a third to leader 2 with the 2 markers that waited", len(calls))
	}
	// The joined request's outcomes go back to each coordinator: 2's
	// marker fails, 4's is written.
	answer(calls[2], func(m txn.Marker) int16 {
		if m.ProducerID == 2 {
			return 15
		}
		return 0
	})
	answer(calls[1], func(txn.Marker) int16 { return 0 })
	if len(got[1]) != 2 || len(got[2]) != 1 || got[2][0].code != 15 || len(got[3]) != 1 || len(got[4]) != 1 || got[4][0].code != 0 ||
		got[4][0].marker.ProducerID != 4 {
		t.Fatalf("outcomes %+v", got)
	}
	// Nothing in flight: the next markers go at once, and a second
	// report of one request changes nothing.
	answer(calls[2], func(txn.Marker) int16 { return 0 })
	s.queue(2, []txn.Marker{marker(5, 0)}, reportTo(5))
	if len(calls) != 4 || len(got[4]) != 1 {
		t.Fatalf("idle leader: %d requests, outcomes %+v", len(calls), got)
	}
	// Two handovers with a marker of one producer id and partition (a
	// deposed coordinator's and its successor's) never share a request:
	// the answer could not tell them apart.
	s.queue(2, []txn.Marker{marker(6, 0)}, reportTo(6))
	s.queue(2, []txn.Marker{marker(6, 0)}, reportTo(60))
	answer(calls[3], func(txn.Marker) int16 { return 0 })
	if len(calls) != 5 || len(calls[4].ms) != 1 {
		t.Fatalf("clashing markers: %d requests, the last with %d markers", len(calls), len(calls[len(calls)-1].ms))
	}
	answer(calls[4], func(txn.Marker) int16 { return 0 })
	if len(calls) != 6 || len(got[6]) != 1 {
		t.Fatalf("clashing markers: %d requests, outcomes %+v", len(calls), got)
	}
}
