package sim

import (
	"fmt"

	"gregor/groups"
)

// The group checkers (CORRECTNESS.md S11), from what the group members
// were told:
//   - a member's epoch never goes back, except when it rejoins (epoch 0);
//   - in one epoch of a group, each partition has at most one owner;
//   - while a member owns a partition without a break (and its position
//     was not reset), the offsets it commits never go back.
type groupChecks struct {
	w *World
	// owner is who owns a partition of a group at an epoch.
	owner map[ownerKey]int32
	// lastCommit is a member's last acknowledged commit of a partition in
	// one span of ownership.
	lastCommit map[commitKey]int64
}

type ownerKey struct {
	group string
	// era is the loss era of the group's __consumer_offsets partition:
	// a loss the guarantees allow (a power loss beyond D2, an unclean
	// election) may take the group's records, and the group starts over.
	era   int
	epoch int32
	tp    tpKey
}

type commitKey struct {
	member  int32
	tp      tpKey
	session int
}

// offsetsKey is the __consumer_offsets partition of a group.
func offsetsKey(group string) tpKey {
	return tpKey{groups.OffsetsTopic, groups.PartitionFor(group, offsetsPartitions)}
}

func newGroupChecks(w *World) *groupChecks {
	return &groupChecks{w: w, owner: map[ownerKey]int32{}, lastCommit: map[commitKey]int64{}}
}

// epoch checks the epoch a heartbeat sent at epoch sent was answered with
// (in the loss era the member last heard from its coordinator in).
func (g *groupChecks) epoch(c *client, sent, got int32) {
	w := g.w
	defer func() { c.member.era = w.lossEra[offsetsKey(c.member.group)] }()
	w.stats.InvariantsChecked++
	if sent > 0 && got < sent && w.lossEra[offsetsKey(c.member.group)] == c.member.era {
		w.violation("S11", fmt.Sprintf("group %s: %s heartbeated at member epoch %d and was told epoch %d", c.member.group, c.name(), sent, got))
	}
}

// owns records that a member owns partitions at an epoch, and checks no
// other member owns one of them at that epoch.
func (g *groupChecks) owns(c *client, epoch int32, tps []tpKey) {
	w := g.w
	for _, tp := range tps {
		w.stats.InvariantsChecked++
		k := ownerKey{c.member.group, w.lossEra[offsetsKey(c.member.group)], epoch, tp}
		if other, ok := g.owner[k]; ok && other != c.id {
			w.violation("S11", fmt.Sprintf("group %s: %s is owned by %s and %s at epoch %d", k.group, tp, endpointName(other), c.name(), epoch))
			return
		}
		g.owner[k] = c.id
	}
}

// committed checks an acknowledged offset commit.
func (g *groupChecks) committed(c *client, tp tpKey, session int, offset int64) {
	w := g.w
	w.stats.InvariantsChecked++
	k := commitKey{c.id, tp, session}
	if last, ok := g.lastCommit[k]; ok && offset < last {
		w.violation("S11", fmt.Sprintf("group %s: %s committed %s at %d after %d while owning it throughout", c.member.group, c.name(), tp, offset, last))
		return
	}
	g.lastCommit[k] = offset
}
