package sim

import (
	"fmt"
	"math/rand/v2"

	"gregor/cluster"
)

// The slow disk: a node's disk takes its time to write. In production a
// follower's partition actor appends what its fetcher handed it on its
// own goroutine, then publishes its next fetch state; the fetcher builds
// its next Fetch once every partition it answered published, or once
// cluster.FetcherConfig.OutcomeWaitMs ran out, without the partitions
// still writing (the fetcher's late path). Without this fault the
// simulator's appends complete in the event that hands the outcome over,
// so that path never runs.
//
// While a node's disk is slow, each follower append there (a fetch outcome
// carrying records) completes a drawn time later (exponential, of mean
// Profile.SlowDiskMs), one after the other as a single disk writes them:
// the replica takes the outcome, appends and publishes its next fetch state
// only then. Everything else of the replica goes on meanwhile, as a
// partition actor takes an outcome its fetcher posted late. The delays come
// from a stream of their own (streamSlowDisk), so the same seed delays the
// same appends.

// slowDisk makes a node's disk slow for a while.
func (f *faultInjector) slowDisk(r *rand.Rand) {
	w := f.w
	n := w.nodes[r.IntN(len(w.nodes))]
	until := w.now + 1 + expMs(r, w.profile.SlowDiskForMs)
	w.diskSlow(n, until, w.profile.SlowDiskMs)
}

// diskSlow makes n's follower appends take meanMs on average, until the
// time until.
func (w *World) diskSlow(n *node, until int64, meanMs float64) {
	w.stats.SlowDisks++
	n.slowDiskUntilMs, n.slowDiskMeanMs = max(n.slowDiskUntilMs, until), meanMs
	w.timelinef("fault: %s disk slow (appends take %.0fms on average) until %s", n.name(), meanMs, fmtMs(until))
	w.rec.span(w.now, until, "disk", n.name(), fmt.Sprintf("disk slow (%.0fms per append)", meanMs))
}

// slowAppend says whether the node's disk delays the append of a fetch
// outcome, and until when: while it is slow, each append with records
// waits for those queued before it, then takes its drawn time; once it is
// fast again, those still queued complete in order.
func (n *node) slowAppend(o cluster.FetcherOutcome) (atMs int64, slow bool) {
	w := n.w
	if o.Fetch == nil || len(o.Fetch.Records) == 0 {
		return 0, false
	}
	if w.now >= n.slowDiskUntilMs && w.now >= n.diskBusyUntilMs {
		return 0, false
	}
	at := max(w.now, n.diskBusyUntilMs)
	if w.now < n.slowDiskUntilMs {
		at += 1 + expMs(w.rngSlowDisk, n.slowDiskMeanMs)
	}
	n.diskBusyUntilMs = at
	took := at - w.now
	w.stats.SlowAppends++
	w.stats.SlowAppendMaxMs = max(w.stats.SlowAppendMaxMs, took)
	if took > cluster.DefaultReplicaFetchOutcomeWaitMs {
		w.stats.SlowAppendsPastWait++
	}
	w.tracef("%s %s/%d: slow disk: append of seq %d completes in %dms", n.name(), o.Partition.Topic, o.Partition.Partition, o.Fetch.Seq, took)
	return at, true
}

// takeOutcome hands a fetcher's outcome to the replica, unless the replica
// was closed meanwhile (a delayed one: the outcome was for it, not for a
// replica opened since).
func (h *replicaHost) takeOutcome(o cluster.FetcherOutcome) {
	if h.n.replicas[h.key] != h || h.core == nil {
		return
	}
	h.deliver(func() {
		now := h.n.instant()
		if o.Fetch != nil {
			h.core.FetchedFromLeader(*o.Fetch, now)
		} else {
			h.core.EpochEndOffsetFetched(*o.EpochEnd, now)
		}
		h.carryOut()
	})
}
