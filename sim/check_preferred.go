package sim

import (
	"fmt"
	"slices"
)

// preferredSlackMs is how long, past one leader.imbalance.check.interval,
// the check L4 waits for a preferred-leader election to be committed,
// applied by the nodes and the cluster to converge again.
const preferredSlackMs = 20_000

// awaitPreferredLeaders runs, once the cluster converged after the heal,
// until every partition whose preferred replica (the first of its
// replicas) is an active broker in its ISR is led by it, and the cluster
// converged again: the active controller's periodic preferred-leader
// election (auto.leader.rebalance.enable, cluster.Controller.Tick)
// promises it within one leader.imbalance.check.interval. A partition
// still led by another replica preferredSlackMs past that interval is a
// liveness violation (L4). Nothing to wait for when the run's controllers
// do not balance leaders.
func (w *World) awaitPreferredLeaders() bool {
	if w.timing.leaderBalanceMs <= 0 {
		return true
	}
	boundMs := w.timing.leaderBalanceMs + preferredSlackMs
	deadline := w.now + boundMs
	for !w.stopped {
		why := w.notPreferred()
		if why == "" {
			if why = w.converged(); why == "" {
				return true
			}
		}
		if w.now >= deadline {
			w.violation("L4", fmt.Sprintf("preferred leaders not back %s after converging (leader imbalance checks every %s): %s",
				fmtMs(boundMs), fmtMs(w.timing.leaderBalanceMs), why))
			return false
		}
		w.runUntil(w.now + 250)
	}
	return false
}

// notPreferred names a partition of the active controller's image that
// its preferred replica, an active broker in the ISR, does not lead, or
// says "".
func (w *World) notPreferred() string {
	ctrl := w.activeController()
	if ctrl == nil {
		return "no active controller"
	}
	img := ctrl.image
	for t := range img.Topics() {
		for _, p := range t.Partitions {
			if len(p.Replicas) == 0 || p.Leader == p.Replicas[0] {
				continue
			}
			pref := p.Replicas[0]
			if b, ok := img.Broker(pref); !ok || !b.Active() || !slices.Contains(p.ISR, pref) {
				continue
			}
			return fmt.Sprintf("%s led by n%d, not by its preferred replica n%d (replicas %v, ISR %v)",
				tpKey{t.Name, p.Partition}, p.Leader, pref, p.Replicas, p.ISR)
		}
	}
	return ""
}
