package sim

import (
	"fmt"
	"slices"

	"gregor/groups"
	"gregor/txn"
)

// The liveness mode (CORRECTNESS.md L1, TigerBeetle's liveness mode): once
// faults stop and the network heals,
//
//   - the cluster converges within convergeBoundMs: every node runs,
//     registered and unfenced, every partition has a leader and every
//     replica is in sync (run.go, converged);
//   - every consumer group is stable within groupsStableBoundMs (below);
//   - every acknowledged write is read back within finalReadBoundMs
//     (run.go, finalRead).
//
// A run that misses a bound fails with L1 and what was still missing.

// groupsStableBoundMs bounds how long after convergence the groups may
// take to become stable: a member that was fenced or lost rejoins, one
// whose process is gone leaves when its session (10 s) lapses, and a
// rebalance completes within its timeout (10 s).
const groupsStableBoundMs = 60_000

// awaitGroupsStable runs until every group is stable, at most boundMs; the
// group members then stop (the workload ended).
func (w *World) awaitGroupsStable(boundMs int64) bool {
	members := w.groupMembers()
	if len(members) == 0 {
		return true
	}
	stop := func() {
		for _, c := range members {
			c.stopped = true
		}
	}
	if ctrl := w.activeController(); ctrl != nil {
		if _, ok := ctrl.image.Topic(groups.OffsetsTopic); !ok {
			// The faults kept the admin from creating it: no group ever
			// had a coordinator.
			w.timelinef("groups: %s was never created", groups.OffsetsTopic)
			stop()
			return true
		}
	}
	deadline := w.now + boundMs
	for !w.stopped {
		why := w.groupsStable(members)
		if why == "" {
			w.timelinef("groups stable: every group has its members, one generation, every partition owned once")
			stop()
			return true
		}
		if w.now >= deadline {
			w.violation("L1", fmt.Sprintf("groups not stable %s after converging: %s", fmtMs(boundMs), why))
			return false
		}
		w.runUntil(w.now + 250)
	}
	return false
}

// groupMembers are the workload's group members that did not crash.
func (w *World) groupMembers() []*client {
	var out []*client
	for _, c := range w.clients {
		if c.member != nil && !c.crashed {
			out = append(out, c)
		}
	}
	return out
}

// groupsStable says why some group is not stable yet, or "": its
// coordinator (on the leader of its __consumer_offsets partition) has
// loaded it and calls it Stable with exactly the members that run; every
// member is in the group at the same generation (classic) or member epoch
// (KIP-848), knows where to start each partition it owns, and each
// partition of the workload's topics is owned by exactly one member.
func (w *World) groupsStable(members []*client) string {
	ctrl := w.activeController()
	if ctrl == nil {
		return "no active controller"
	}
	byGroup := map[string][]*client{}
	var names []string
	for _, c := range members {
		g := c.member.group
		if _, ok := byGroup[g]; !ok {
			names = append(names, g)
		}
		byGroup[g] = append(byGroup[g], c)
	}
	slices.Sort(names)
	var partitions []tpKey
	for t := range ctrl.image.Topics() {
		if t.Name == groups.OffsetsTopic || t.Name == txn.StateTopic {
			continue
		}
		for _, p := range t.Partitions {
			partitions = append(partitions, tpKey{t.Name, p.Partition})
		}
	}
	for _, g := range names {
		if why := w.groupStable(ctrl, g, byGroup[g], partitions); why != "" {
			return "group " + g + ": " + why
		}
	}
	return ""
}

func (w *World) groupStable(ctrl *node, group string, members []*client, partitions []tpKey) string {
	tp := offsetsKey(group)
	t, ok := ctrl.image.Topic(tp.topic)
	if !ok || int(tp.partition) >= len(t.Partitions) || t.Partitions[tp.partition].Leader < 0 {
		return fmt.Sprintf("%s has no leader", tp)
	}
	leader := w.node(t.Partitions[tp.partition].Leader)
	if int(tp.partition) >= len(leader.coords) || leader.coords[tp.partition] == nil || !leader.coords[tp.partition].loaded {
		return fmt.Sprintf("no coordinator loaded on %s", leader.name())
	}
	state, count := "unknown", 0
	for _, s := range leader.coords[tp.partition].core.Groups() {
		if s.Group == group {
			state, count = s.State, s.Members
		}
	}
	if state != "Stable" {
		return fmt.Sprintf("%s on its coordinator %s", state, leader.name())
	}
	if count != len(members) {
		return fmt.Sprintf("its coordinator has %d members, %d clients are in it", count, len(members))
	}
	owner := map[tpKey]*client{}
	for i, c := range members {
		m := c.member
		switch {
		case m.classic && m.generation < 0:
			return c.name() + " is in no generation"
		case !m.classic && m.epoch <= 0:
			return c.name() + " has no member epoch"
		case i > 0 && m.epoch != members[0].member.epoch:
			return fmt.Sprintf("%s is at epoch %d, %s at %d", c.name(), m.epoch, members[0].name(), members[0].member.epoch)
		case len(m.ready) < len(m.assigned):
			return c.name() + " does not know where to start some of its partitions"
		}
		for _, p := range m.assigned {
			if other := owner[p]; other != nil {
				return fmt.Sprintf("%s is owned by %s and %s", p, other.name(), c.name())
			}
			owner[p] = c
		}
	}
	subscribed := func(topic string) bool { return !privateTopic(topic) }
	if len(members) > 0 && members[0].member.classic {
		subscribed = classicSubscribed(partitions)
	}
	for _, p := range partitions {
		if owner[p] == nil && subscribed(p.topic) {
			return fmt.Sprintf("%s is owned by no member", p)
		}
	}
	return ""
}

// activeController is the node whose controller is active, nil when none
// is.
func (w *World) activeController() *node {
	var ctrl *node
	for _, n := range w.nodes {
		if n.up && n.ctrl != nil && n.ctrl.Active() {
			ctrl = n
		}
	}
	return ctrl
}

// classicSubscribed says whether a classic member subscribes to a topic
// of partitions: the first classicMaxTopics topics by name
// (client_classic.go).
func classicSubscribed(partitions []tpKey) func(string) bool {
	var names []string
	for _, p := range partitions {
		if !slices.Contains(names, p.topic) && !privateTopic(p.topic) {
			names = append(names, p.topic)
		}
	}
	slices.Sort(names)
	names = names[:min(len(names), classicMaxTopics)]
	return func(topic string) bool { return slices.Contains(names, topic) }
}
