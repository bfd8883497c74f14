package sim

import (
	"fmt"
	"math/rand/v2"
)

// The metadata lag: the metadata log reaches one node late while its RPCs
// still flow, as a KRaft broker whose metadata fetches fall behind (a slow
// learner, a busy publisher) still serves produce and fetch, heartbeats
// the controller and asks it for ISR changes. In the simulator every raft
// message to that node (appends, heartbeats, snapshots) arrives a delay
// later than the network's own, in the order it was sent, for a
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
		return n.up && n.leadership.LeaderID != n.id && w.net.metaLag[n.id].untilMs <= w.now &&
			(!p.MetadataLagStarves || len(starvable(n)) > 0)
	})
	if n == nil {
		return
	}
	// Uniform around the mean: an exponential's tail (a minute late)
	// would leave a voter out of the quorum's majority for the run.
	delayMs := 1 + int64(r.Float64()*2*p.MetadataLagMs)
	w.lagMetadata(n, delayMs, 1+expMs(r, p.MetadataLagForMs))
	if p.MetadataLagStarves {
		f.starveFollowerOf(r, n)
	}
}

// starveFollowerOf cuts the replication link from one follower in the ISR
// of a partition n leads (by n's image) to n, for longer than
// replica.lag.time.max.ms: n asks the controller to drop it.
func (f *faultInjector) starveFollowerOf(r *rand.Rand, n *node) {
	w := f.w
	cands := starvable(n)
	if len(cands) == 0 {
		return
	}
	c := cands[r.IntN(len(cands))]
	l, tp := c.link, c.tp
	w.net.dataCut[l] = true
	w.stats.Partitions++
	w.timelinef("fault: n%d cannot fetch from %s, which leads %s (replication link %s cut)", l.from, n.name(), tp, l)
	w.rec.begin(w.now, "starve", l.String(), fmt.Sprintf("n%d cannot fetch from %s", l.from, n.name()))
	w.schedule(w.now+w.timing.replicaLagMaxMs+1000+expMs(r, 3000), func() {
		if w.net.dataCut[l] {
			delete(w.net.dataCut, l)
			w.rec.end(w.now, "starve", l.String())
		}
	})
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

// starvableLink is a follower's replication link to n for a partition n
// leads.
type starvableLink struct {
	link linkKey
	tp   tpKey
}

// starvable lists the links from the followers in the ISR of each
// partition n leads (by its image) to n, not cut yet, in n's key order;
// the emptied-stretch fault's partition is left to that fault.
func starvable(n *node) []starvableLink {
	var out []starvableLink
	for _, k := range n.keys {
		h := n.replicas[k]
		if h == nil || h.core == nil || !h.core.IsLeader() || k.topic == stretchTopic {
			continue
		}
		t, ok := n.image.Topic(k.topic)
		if !ok || int(k.partition) >= len(t.Partitions) {
			continue
		}
		for _, id := range t.Partitions[k.partition].ISR {
			if l := (linkKey{id, n.id}); id != n.id && !n.w.net.dataCut[l] {
				out = append(out, starvableLink{l, k})
			}
		}
	}
	return out
}
