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

// noteHold records what node n, if it leads, says of its hold now.
func (c *serverChecks) noteHold(n *node) {
	if n.q == nil || n.leadership.LeaderID != n.id {
		return
	}
	if c.raftHolds == nil {
		c.raftHolds = map[uint64]int64{}
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
			c.raftHolds[term] = min(prev, c.w.now)
		}
	default:
		c.raftHolds[term] = max(prev, n.monoToVirtual(hold))
	}
}

// checkHolds fails S9 when a node starts to lead term l.LeaderEpoch while
// the leader of an earlier term still said no other node could.
func (c *serverChecks) checkHolds(l quorum.Leadership) {
	for _, term := range slices.Sorted(maps.Keys(c.raftHolds)) {
		if until := c.raftHolds[term]; term < l.LeaderEpoch && until > c.w.now {
			c.w.violation("S9", fmt.Sprintf("n%d leads quorum epoch %d, but the leader of epoch %d said no other node could lead before %.3fs",
				l.LeaderID, l.LeaderEpoch, term, float64(until)/1000))
			return
		}
	}
}
