package sim

import (
	"fmt"
	"slices"
	"strings"

	"gregor/groups"
)

// The group checkers (CORRECTNESS.md S11), from what the group members
// were told:
//   - a member's epoch never goes back, except when it rejoins (epoch 0);
//   - in one epoch of a group, each partition has at most one owner;
//   - while a member owns a partition without a break (and its position
//     was not reset), the offsets it commits never go back;
//   - at least once (Q3 for a group, B21): an offset a group committed
//     covers only records its members processed: every acknowledged
//     acks=all write below the highest offset the group committed for its
//     partition was processed by a member (checked with the history,
//     checkProcessed). An auto-committing member that committed the
//     records its application still held, and crashed, breaks it.
type groupChecks struct {
	w *World
	// owner is who owns a partition of a group at an epoch.
	owner map[ownerKey]int32
	// lastCommit is a member's last acknowledged commit of a partition in
	// one span of ownership.
	lastCommit map[commitKey]int64
	// processedBy counts, per group and partition, how often its members
	// processed each offset; maxCommitted is the highest offset the group
	// committed for a partition (acknowledged).
	processedBy  map[groupPartition]map[int64]int
	maxCommitted map[groupPartition]int64
	// excused are the partitions a group may have been told an offset of
	// a deleted topic id for (topic_recreate_groups.go): at least once
	// is not checked for them.
	excused map[groupPartition]bool
}

// groupPartition is a partition a group consumes.
type groupPartition struct {
	group string
	tp    tpKey
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
	return &groupChecks{w: w, owner: map[ownerKey]int32{}, lastCommit: map[commitKey]int64{},
		processedBy: map[groupPartition]map[int64]int{}, maxCommitted: map[groupPartition]int64{}, excused: map[groupPartition]bool{}}
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
	if gp := (groupPartition{c.member.group, tp}); offset > g.maxCommitted[gp] {
		g.maxCommitted[gp] = offset
	}
	k := commitKey{c.id, tp, session}
	if last, ok := g.lastCommit[k]; ok && offset < last {
		w.violation("S11", fmt.Sprintf("group %s: %s committed %s at %d after %d while owning it throughout", c.member.group, c.name(), tp, offset, last))
		return
	}
	g.lastCommit[k] = offset
}

// processed records that a member of group processed records of tp.
func (g *groupChecks) processed(group string, tp tpKey, records []readRecord) {
	gp := groupPartition{group, tp}
	m := g.processedBy[gp]
	if m == nil {
		m = map[int64]int{}
		g.processedBy[gp] = m
	}
	for _, r := range records {
		m[r.offset]++
	}
}

// checkProcessed is the at-least-once check of the groups (Q3 for a
// group): every acknowledged acks=all write the guarantees promise,
// below the highest offset a group committed for its partition, was
// processed by one of the group's members.
func (c *historyChecker) checkProcessed() bool {
	w, g := c.w, c.w.groupChecks
	gps := make([]groupPartition, 0, len(g.maxCommitted))
	for gp := range g.maxCommitted {
		gps = append(gps, gp)
	}
	slices.SortFunc(gps, func(a, b groupPartition) int {
		if a.group != b.group {
			return strings.Compare(a.group, b.group)
		}
		return compareKeys(a.tp, b.tp)
	})
	for _, gp := range gps {
		if g.excused[gp] {
			continue
		}
		committed := g.maxCommitted[gp]
		for _, s := range w.hist.sends {
			if s.outcome != outcomeOK || s.acks != -1 || s.tp != gp.tp || s.offset >= committed {
				continue
			}
			w.stats.InvariantsChecked++
			if g.processedBy[gp][s.offset] > 0 || w.compactedAway(s.tp, s.offset) || w.checks.unclean[s.tp] || c.lostCommittedAt(s.tp, s.offset) {
				continue
			}
			if ok, _ := c.promised(s.tp); !ok {
				continue
			}
			w.violation("Q3", fmt.Sprintf("group %s committed %s at %d, past offset %d (%q, acknowledged to %s), which none of its members processed: not at least once",
				gp.group, gp.tp, committed, s.offset, s.value, endpointName(s.process)))
			return false
		}
	}
	return true
}
