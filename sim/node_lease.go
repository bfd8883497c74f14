package sim

import (
	"fmt"

	"gregor/cluster"
)

// The broker lease in the simulator, as production's coordinators use it
// (cluster.BrokerLease): a node's group and transaction coordinators answer
// only while the lease its lifecycle core holds is valid by the node's
// monotonic clock, and otherwise hold a request up to 2 s
// (node_group_hold.go, node_txn_hold.go) and then answer NOT_COORDINATOR, so that a node cut off
// from the controller stops coordinating before the controller may have
// fenced it and moved its __consumer_offsets and __transaction_state
// leadership. Each node reads its own clock, which may run up to 5% fast
// or slow (clock.go): the drift profile spends the lease's margin, and the
// clock-drift plant goes beyond it; a paused node reads its clock when it
// resumes.

// leaseHolds says the node's coordinators may answer now. The first
// refusal after the lease lapsed goes to the timeline.
func (n *node) leaseHolds() bool {
	if n.lifecycle == nil {
		return false
	}
	lease := n.lifecycle.Lease()
	if lease.Valid(n.instant().MonoMs, n.localHoldUntilMs()) {
		return true
	}
	if until, held := lease.UntilMs(n.localHoldUntilMs()); lease != n.leaseRefused {
		n.leaseRefused = lease
		if held {
			n.w.timelinef("%s: broker lease lapsed at %.3fs: its coordinators hold requests (2 s at most), then answer NOT_COORDINATOR", n.name(), float64(n.monoToVirtual(until))/1000)
		} else {
			n.w.timelinef("%s: no broker lease (%s): its coordinators hold requests (2 s at most), then answer NOT_COORDINATOR", n.name(), n.lifecycle.State())
		}
	}
	return false
}

// checkFencedAfterLease is S10's lease part, checked at each fence the
// metadata log commits: the controller fences a broker that did not ask for
// it (it runs, not in a controlled shutdown) only once that broker's lease
// lapsed, so that its coordinators stopped answering before another node's
// may load. A controller failover must keep it too: a deposed controller
// that has not noticed may not grant a lease its successor's fence
// outruns.
func (w *World) checkFencedAfterLease(r cluster.BrokerRegistrationChangeRecord) {
	if r.BrokerID < 1 || int(r.BrokerID) > len(w.nodes) {
		return
	}
	n := w.node(r.BrokerID)
	lc := n.lifecycle
	if !n.up || lc == nil || lc.State() != cluster.BrokerRunning || lc.BrokerEpoch() != r.BrokerEpoch {
		return
	}
	if lease := lc.Lease(); lease.Valid(n.instant().MonoMs, n.localHoldUntilMs()) {
		until, _ := lease.UntilMs(n.localHoldUntilMs())
		w.violation("S10", fmt.Sprintf("broker %d (epoch %d) was fenced while its lease held, until %.3fs: its coordinators may answer beside the next ones",
			r.BrokerID, r.BrokerEpoch, float64(n.monoToVirtual(until))/1000))
	}
}

// localHoldUntilMs is until when the node's own quorum leadership holds
// (0 when it does not lead): the part of its lease its own controller
// granted holds only until then (cluster.BrokerLease.Valid).
func (n *node) localHoldUntilMs() int64 {
	if n.q == nil {
		return 0
	}
	return n.q.LeadershipHoldsUntilMs()
}
