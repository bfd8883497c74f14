package actors

import (
	"sync"
	"testing"

	"gregor/txn"
)

// markerSendersRig is a markerSenders whose requests are recorded and
// answered by the test.
type markerSendersRig struct {
	s     *markerSenders
	mu    sync.Mutex
	calls []markerCall
	got   map[int64][]markerResult
}

type markerCall struct {
	leader int32
	ms     []txn.Marker
	report func([]markerResult)
}

func newMarkerSendersRig() *markerSendersRig {
	r := &markerSendersRig{got: map[int64][]markerResult{}}
	r.s = &markerSenders{send: func(leader int32, ms []txn.Marker, report func([]markerResult)) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, markerCall{leader, ms, report})
	}}
	return r
}

func testMarker(pid int64, partition int32) txn.Marker {
	return txn.Marker{ProducerID: pid, Topic: "t", Partition: partition}
}

// queue hands leader the markers of producer id pid on partitions, their
// outcomes reported under report.
func (r *markerSendersRig) queue(leader int32, report int64, pid int64, partitions ...int32) {
	var ms []txn.Marker
	for _, p := range partitions {
		ms = append(ms, testMarker(pid, p))
	}
	r.s.queue(leader, ms, func(rs []markerResult) { r.got[report] = append(r.got[report], rs...) })
}

// answer answers request i, each marker with code(marker).
func (r *markerSendersRig) answer(i int, code func(txn.Marker) int16) {
	r.mu.Lock()
	c := r.calls[i]
	r.mu.Unlock()
	rs := make([]markerResult, len(c.ms))
	for i, m := range c.ms {
		rs[i] = markerResult{marker: m, code: code(m)}
	}
	c.report(rs)
}

func written(txn.Marker) int16 { return 0 }

// TestMarkerSendersPipelinePerLeader: a coordinator's markers for a
// leader go at once while fewer than markerRequestsPerLeader requests are
// in flight to it (with one, a second coordinator's markers waited for the
// first's answer); once every slot is taken, the markers other
// coordinators hand over wait and go in one request when a slot frees,
// each coordinator told its own markers' outcomes; another leader is not
// held up.
func TestMarkerSendersPipelinePerLeader(t *testing.T) {
	if markerRequestsPerLeader != 2 {
		t.Fatalf("the test is written for 2 requests per leader, not %d", markerRequestsPerLeader)
	}
	r := newMarkerSendersRig()
	r.queue(2, 1, 1, 0, 1)
	r.queue(2, 2, 2, 0)
	if len(r.calls) != 2 || r.calls[1].leader != 2 || len(r.calls[1].ms) != 1 {
		t.Fatalf("a second coordinator's markers while one request is in flight: %d requests %+v, want 2 to leader 2", len(r.calls), r.calls)
	}
	r.queue(3, 3, 3, 0)
	r.queue(2, 4, 4, 1)
	r.queue(2, 5, 5, 2)
	if len(r.calls) != 3 || r.calls[2].leader != 3 {
		t.Fatalf("with leader 2's slots taken: %d requests, want a third to leader 3 only", len(r.calls))
	}
	r.answer(0, written)
	if len(r.calls) != 4 || r.calls[3].leader != 2 || len(r.calls[3].ms) != 2 {
		t.Fatalf("after leader 2's first answer: %d requests, want a fourth to leader 2 with the 2 markers that waited", len(r.calls))
	}
	// The joined request's outcomes go back to each coordinator: 4's
	// marker fails, 5's is written.
	r.answer(3, func(m txn.Marker) int16 {
		if m.ProducerID == 4 {
			return 15
		}
		return 0
	})
	r.answer(1, written)
	r.answer(2, written)
	if len(r.got[1]) != 2 || len(r.got[2]) != 1 || len(r.got[3]) != 1 || len(r.got[4]) != 1 || r.got[4][0].code != 15 ||
		len(r.got[5]) != 1 || r.got[5][0].code != 0 || r.got[5][0].marker.ProducerID != 5 {
		t.Fatalf("outcomes %+v", r.got)
	}
	// A second report of one request changes nothing; nothing is in
	// flight and the leader is forgotten.
	r.answer(3, written)
	if len(r.got[4]) != 1 || len(r.s.byLeader) != 0 {
		t.Fatalf("after a repeated report: outcomes %+v, leaders still tracked %d", r.got, len(r.s.byLeader))
	}
}

// TestMarkerSendersKeepClashingMarkersApart: two handovers with a marker
// of one producer id and partition (a deposed coordinator's and its
// successor's) are never in flight together, in one request or two: an
// answer could not tell them apart. The second waits for the first's
// answer though a slot is free, and does not hold up other markers.
func TestMarkerSendersKeepClashingMarkersApart(t *testing.T) {
	r := newMarkerSendersRig()
	r.queue(2, 6, 6, 0)
	r.queue(2, 60, 6, 0, 1)
	if len(r.calls) != 1 {
		t.Fatalf("clashing markers: %d requests, want the first alone in flight", len(r.calls))
	}
	r.queue(2, 7, 7, 0)
	if len(r.calls) != 2 || len(r.calls[1].ms) != 1 || r.calls[1].ms[0].ProducerID != 7 {
		t.Fatalf("a marker behind a clashing one: %d requests, want producer 7's in the free slot", len(r.calls))
	}
	r.answer(1, written)
	if len(r.calls) != 2 {
		t.Fatalf("the clashing marker went before the one it clashes with was answered")
	}
	r.answer(0, written)
	if len(r.calls) != 3 || len(r.calls[2].ms) != 2 || r.calls[2].ms[0].ProducerID != 6 {
		t.Fatalf("after the first's answer: %d requests, want the successor's 2 markers", len(r.calls))
	}
	r.answer(2, written)
	if len(r.got[6]) != 1 || len(r.got[60]) != 2 || len(r.got[7]) != 1 || len(r.s.byLeader) != 0 {
		t.Fatalf("outcomes %+v, leaders still tracked %d", r.got, len(r.s.byLeader))
	}
}
