package sim

import (
	"slices"

	"gregor/cluster"
)

// A fetch server parks on the replicas of its partitions as the broker's
// fetch shell parks on their fetch boards (actors/fetch_board.go): no watch
// in the replica core; the replica's host wakes the servers its fetch view
// wakes (cluster.FetchView.Wakes) after each step, and all of them when the
// replica stops.

// parkedFetch is one partition of a parked fetch server.
type parkedFetch struct {
	srv        *fetchServer
	index      int
	part       cluster.FetchPartition
	wakesAbove int64
}

// park parks target index of srv here, or wakes it at once when the view
// already wakes it. A server parked here again replaces its older entry.
func (h *replicaHost) park(srv *fetchServer, index int, part cluster.FetchPartition, wakesAbove int64) {
	h.core.FetchView(&h.n.view)
	if h.n.view.Wakes(part, srv.isolation, wakesAbove) {
		h.n.post(srv.woken)
		return
	}
	p := parkedFetch{srv: srv, index: index, part: part, wakesAbove: wakesAbove}
	if i := slices.IndexFunc(h.parked, func(q parkedFetch) bool { return q.srv == srv && q.index == index }); i >= 0 {
		h.parked[i] = p
		return
	}
	h.parked = append(h.parked, p)
}

// wakeParked wakes the parked servers the replica's current view wakes
// (every one when the replica stopped).
func (h *replicaHost) wakeParked() {
	if len(h.parked) == 0 {
		return
	}
	var view *cluster.FetchView
	if h.core != nil {
		h.core.FetchView(&h.n.view)
		view = &h.n.view
	}
	kept := h.parked[:0]
	for _, p := range h.parked {
		if view.Wakes(p.part, p.srv.isolation, p.wakesAbove) {
			h.n.post(p.srv.woken)
		} else {
			kept = append(kept, p)
		}
	}
	clear(h.parked[len(kept):])
	h.parked = kept
}

// unpark takes an answered server off the replicas it parked on.
func (s *fetchServer) unpark() {
	for _, t := range s.targets {
		if t.h != nil && len(t.h.parked) > 0 {
			t.h.parked = slices.DeleteFunc(t.h.parked, func(p parkedFetch) bool { return p.srv == s })
		}
	}
}
