package sim

import (
	"fmt"
	"maps"
	"slices"

	"gregor/cluster/quorum"
)

// S9's leadership-hold part: a quorum leader says until when no other node
// can lead (quorum.Quorum.LeadershipHoldsUntilMs), and its controller
// grants broker leases only until then; so no node may lead a later term
// before that time. A leader that hands its leadership on holds no more
// from then: its transferee campaigns past the voters' check-quorum, and
// the controller is told at once. Checked when a term's first leader
// appears, against what every earlier term's leader said after each of
// its Readys.

// raftHold is what a term's leader said of its hold, by its own monotonic
// clock: no other node can lead before untilMono. Kept in the leader's
// clock, not virtual time, as its rate may change later (clock.go).
type raftHold struct {
	n         *node
	untilMono int64
}

// noteHold records what node n, if it leads, says of its hold now.
func (c *serverChecks) noteHold(n *node) {
	if n.q == nil || n.leadership.LeaderID != n.id {
		return
	}
	if c.raftHolds == nil {
		c.raftHolds = map[uint64]raftHold{}
	}
	term := n.leadership.LeaderEpoch
	hold := n.q.LeadershipHoldsUntilMs()
	prev, noted := c.raftHolds[term]
	switch {
	case hold == never:
		// The only voter.
	case hold <= 0:
		if noted {
			// Handing the leadership on (or not holding yet).
			c.raftHolds[term] = raftHold{n: n, untilMono: min(prev.untilMono, n.instant().MonoMs)}
		}
	default:
		c.raftHolds[term] = raftHold{n: n, untilMono: max(prev.untilMono, hold)}
	}
}

// checkHolds fails S9 when a node starts to lead term l.LeaderEpoch while
// the leader of an earlier term still said no other node could.
func (c *serverChecks) checkHolds(l quorum.Leadership) {
	for _, term := range slices.Sorted(maps.Keys(c.raftHolds)) {
		if h := c.raftHolds[term]; term < l.LeaderEpoch && h.n.instant().MonoMs < h.untilMono {
			c.w.violation("S9", fmt.Sprintf("n%d leads quorum epoch %d, but the leader of epoch %d said no other node could lead before %.3fs",
				l.LeaderID, l.LeaderEpoch, term, float64(h.n.monoToVirtual(h.untilMono))/1000))
			return
		}
	}
}
