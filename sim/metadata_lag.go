package sim

import (
	"fmt"
	"math/rand/v2"
)

// The metadata lag: the metadata log reaches one node late while its RPCs
// still flow, as a KRaft broker whose metadata fetches fall behind (a slow
// learner, a busy publisher) still serves produce and fetch, heartbeats
// the controller and asks it for ISR changes. In the simulator every raft
// message to that node (appends, heartbeats, snapshots) arrives lagMs
// later than the network's own delay, in the order it was sent, for a
// while; the node applies committed metadata that much later, so its
// replicas act on an older image: a partition leader keeps an older
// min.insync.replicas and partition epoch while the controller has moved
// on (CORRECTNESS.md B4's missed metadata, and the window of
// cluster/testdata/controller/elr_min_isr_raised.txt). The node still
// answers what it hears, so the quorum is not cut off from it.
//
// The fault picks a node that does not lead the quorum (a lagging
// follower or learner), one lag at a time per node. Its draws come from
// the fault's own randomness (faults.go), so profiles without it replay as
// before.

// metadataLag is one node's lag: raft messages to it arrive delayMs late
// until untilMs.
type metadataLag struct {
	delayMs, untilMs int64
}

// metadataLagFault makes the metadata log reach one node late for a while.
func (f *faultInjector) metadataLagFault(r *rand.Rand) {
	w := f.w
	p := w.profile
	n := f.pick(r, func(n *node) bool {
		return n.up && n.leadership.LeaderID != n.id && w.net.metaLag[n.id].untilMs <= w.now
	})
	if n == nil {
		return
	}
	delayMs := 1 + expMs(r, p.MetadataLagMs)
	w.lagMetadata(n, delayMs, 1+expMs(r, p.MetadataLagForMs))
}

// lagMetadata delays every raft message to n by delayMs for forMs.
func (w *World) lagMetadata(n *node, delayMs, forMs int64) {
	until := w.now + forMs
	w.net.metaLag[n.id] = metadataLag{delayMs: delayMs, untilMs: until}
	w.stats.MetadataLags++
	w.timelinef("fault: the metadata log reaches %s %s late until %s", n.name(), fmtMs(delayMs), fmtMs(until))
	w.rec.span(w.now, until, "metadata-lag", n.name(), fmt.Sprintf("metadata %s late", fmtMs(delayMs)))
}

// metadataLagArrival is when a raft message to node to, due at atMs,
// arrives: delayed while the node lags, and never before one sent to it
// earlier while it lagged (the lag delivers in order, and its end does
// not let newer messages overtake those still held).
func (n *network) metadataLagArrival(to int32, atMs int64) int64 {
	if len(n.metaLag) == 0 {
		return atMs
	}
	lag, ok := n.metaLag[to]
	if !ok {
		return atMs
	}
	lagging := n.w.now < lag.untilMs
	if lagging {
		atMs += lag.delayMs
		n.w.stats.MetadataMessagesLagged++
	}
	if floor := n.metaLagFifo[to]; lagging || floor > n.w.now {
		atMs = max(atMs, floor)
		n.metaLagFifo[to] = atMs
	}
	return atMs
}

// endMetadataLags ends every lag at the heal (messages already held still
// arrive in order).
func (w *World) endMetadataLags() {
	for id, lag := range w.net.metaLag {
		lag.untilMs = min(lag.untilMs, w.now)
		w.net.metaLag[id] = lag
	}
}

// metadataLagging says whether n's metadata lags now.
func (w *World) metadataLagging(n *node) bool {
	return len(w.net.metaLag) > 0 && w.now < w.net.metaLag[n.id].untilMs
}
