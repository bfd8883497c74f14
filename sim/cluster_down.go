package sim

import (
	"math/rand/v2"
)

// The cluster-down fault: the operator stops every node at once, as
// `gregor cluster down` does (SIGTERM to every process together), and
// starts them all again later, as `gregor cluster up` does. Each node
// makes a controlled shutdown while the others make theirs: the last
// brokers find no other active broker to take their leadership (the
// controller tells them to stop at once, or, the metadata quorum gone
// with the other nodes, they stop one heartbeat after they began:
// cluster.BrokerLifecycle's last broker), the quorum's leader hands its
// leadership to a voter that is stopping too, and every node leaves its
// clean shutdown markers. A paused node makes its controlled shutdown
// once it continues (the signal waits for it). The other faults go on
// meanwhile: a node may crash in the middle of its stop.
//
// Once every node it stopped has stopped (or after clusterDownWaitMs, if
// one never does: it crashed mid-stop, and its own restart comes later),
// the operator starts every node that is down again about DownForMs later
// (at least a second), each within a few hundred ms of the others. Only
// the clusterdown profile sets ClusterDownEveryMs, so that the drawn
// regression seeds keep their runs.

// clusterDownWaitMs bounds the operator's wait for the stops before it
// starts the nodes again (cluster down kills what did not stop in 30 s).
const clusterDownWaitMs = 30_000

// clusterDown is one cluster-down fault.
func (f *faultInjector) clusterDown(r *rand.Rand) {
	w := f.w
	if f.clusterDownAt > 0 {
		return // the one before has not started the nodes again yet
	}
	var stopping []*node
	for _, n := range w.nodes {
		if n.up && n.shutdownDone == nil && !w.stretchHolds(n) {
			stopping = append(stopping, n)
		}
	}
	if len(stopping) < 2 {
		return
	}
	w.stats.ClusterDowns++
	w.timelinef("fault: the operator stops every node (cluster down): %d of them", len(stopping))
	downMs := 1000 + expMs(r, max(w.profile.DownForMs, 1000))
	jitter := make([]int64, len(w.nodes))
	for i := range jitter {
		jitter[i] = r.Int64N(300)
	}
	f.clusterDownAt = w.now
	at := w.now
	restarted := false
	startAll := func() {
		if restarted || f.clusterDownAt != at {
			return
		}
		restarted = true
		f.clusterDownAt = 0
		w.timelinef("fault: the operator starts every node again (cluster up)")
		for i, n := range w.nodes {
			w.schedule(w.now+jitter[i], func() {
				if w.phase == phaseFaulty {
					w.restart(n)
				}
			})
		}
	}
	left := len(stopping)
	for _, n := range stopping {
		w.controlledShutdown(n, func() {
			left--
			if w.phase != phaseFaulty {
				// Healing began while it shut down: heal found it
				// up, so it starts here.
				w.schedule(w.now, func() { w.restart(n) })
				return
			}
			if left == 0 {
				w.schedule(w.now+downMs, startAll)
			}
		})
	}
	w.schedule(w.now+clusterDownWaitMs, func() {
		if w.phase == phaseFaulty {
			startAll()
		}
	})
}
