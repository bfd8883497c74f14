package sim

import (
	"math"
	"testing"

	"gregor/cluster"
)

// A follower learns its leader's raised log start offset from its next
// fetch answer, which a parked fetch may bring only after its wait: the
// cluster has not converged until every follower has, or S12 compares a
// follower still holding batches below it (seed 9100051, recovery, 4 nodes,
// before the fence merge: a leader's raise past an empty prefix).
func TestConvergenceWaitsForTheLeadersLogStart(t *testing.T) {
	p, _ := ProfileByName("quiet", 1)
	w := newWorld(Options{Seed: 1, DurationMs: 5_000, Profile: &p, ProfileName: "quiet"})
	w.guard(func() {
		w.startCluster()
		w.startWorkload()
		w.faults.start()
		w.runUntil(w.opts.DurationMs)
		w.stopWorkload()
		w.heal()
		if !w.awaitConvergence(convergeBoundMs) {
			return
		}
		h := w.replicatedLeaderWithRecords()
		if h == nil {
			t.Fatal("no replicated partition holds records")
		}
		hw := h.core.HighWatermark()
		// The answer is not routed (no client asked); the log start moves.
		h.core.DeleteRecords(cluster.RequestID(math.MaxUint64), hw, 30_000, h.n.instant())
		h.carryOut()
		if h.core.LogStartOffset() != hw {
			t.Fatalf("%s: the leader's log start is %d, want %d", h.key, h.core.LogStartOffset(), hw)
		}
		if why := w.converged(); why == "" {
			t.Fatalf("%s: converged while the followers start below the leader's log start %d", h.key, hw)
		}
		if !w.awaitConvergence(5_000) {
			return
		}
		w.checkReplicasIdentical()
	})
	if len(w.violations) > 0 {
		t.Fatal(w.violations[0])
	}
}

// replicatedLeaderWithRecords is the leader of a partition with followers
// and records below its high watermark, or nil.
func (w *World) replicatedLeaderWithRecords() *replicaHost {
	for _, n := range w.nodes {
		for _, k := range n.keys {
			h := n.replicas[k]
			if h == nil || h.core == nil || !h.core.IsLeader() || h.core.HighWatermark() <= h.core.LogStartOffset() {
				continue
			}
			for _, m := range w.nodes {
				if f := m.replicas[k]; m != n && f != nil && f.core != nil {
					return h
				}
			}
		}
	}
	return nil
}
