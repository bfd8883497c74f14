package sim

import (
	"fmt"
	"slices"
)

// Group members subscribe to recreateTopic too (sharedTopicNames), and
// commit their positions in it. When it is deleted, Kafka removes the
// groups' offsets of it, and a topic created again under its name starts
// with none: the offsets of a deleted id are not the new id's (the group
// coordinator core keeps each offset's topic id and drops those of an id
// its topic table does not hold: groups.Coordinator.SetTopics, Loaded).
// Once the simulator forgot the deleted id (topic_recreate.go), every
// member owning a partition of the topic starts it over: it asks the
// group's committed offset again (as a client that saw the topic's id
// change starts the new topic afresh), and its span of ownership and the
// group's at-least-once accounting of the partition start anew.
//
//   - S16: an offset a group's coordinator answers for a partition of
//     recreateTopic (OffsetFetch sent after the simulator forgot the last
//     deleted id) is one the group's members committed since, or one
//     whose commit was in flight then (a commit by name may reach the
//     coordinator once the topic was created again, as in Kafka: such an
//     offset excuses the partition from the group's at-least-once check,
//     since it may lie past records of the new topic nobody processed).

// recreatedOffsets is what S16 knows of the groups' commits to
// recreateTopic.
type recreatedOffsets struct {
	// forgotMs is when the simulator last forgot a deleted id (-1: never).
	forgotMs int64
	// committable are, by group and partition, the offsets the topic's
	// current id may hold: committed since forgotMs (true) or in flight
	// then (false).
	committable map[groupPartition]map[int64]bool
	// inFlight are the commits sent and not answered (a request that
	// timed out may still arrive), by token.
	inFlight  map[int]groupPartitionOffset
	nextToken int
}

type groupPartitionOffset struct {
	gp     groupPartition
	offset int64
}

func newRecreatedOffsets() recreatedOffsets {
	return recreatedOffsets{forgotMs: -1, committable: map[groupPartition]map[int64]bool{}, inFlight: map[int]groupPartitionOffset{}}
}

// recreatedCommitSent notes a group's commit of an offset of tp sent now,
// and returns the token to report its answer with (-1 when tp is not
// recreateTopic's).
func (w *World) recreatedCommitSent(group string, tp tpKey, offset int64) int {
	if w.recreated == nil || tp.topic != recreateTopic {
		return -1
	}
	o := &w.recreated.offsets
	gp := groupPartition{group, tp}
	if o.committable[gp] == nil {
		o.committable[gp] = map[int64]bool{}
	}
	o.committable[gp][offset] = true
	o.nextToken++
	o.inFlight[o.nextToken] = groupPartitionOffset{gp, offset}
	return o.nextToken
}

// recreatedCommitAnswered notes the answer to a commit: one answered was
// decided before the answer (a request that timed out may still arrive).
func (w *World) recreatedCommitAnswered(token int, err error) {
	if token >= 0 && err == nil {
		delete(w.recreated.offsets.inFlight, token)
	}
}

// recreatedCommitStale says an acknowledged commit of tp sent at sentMs
// was sent before the simulator forgot a deleted id of tp's topic: it
// was for that id, whose accounting the checkers dropped.
func (w *World) recreatedCommitStale(tp tpKey, sentMs int64) bool {
	return w.recreated != nil && tp.topic == recreateTopic && sentMs < w.recreated.offsets.forgotMs
}

// recreatedForgotten starts the groups over on recreateTopic once the
// simulator forgot a deleted id of it: S16's committable offsets are
// those in flight; members start the topic's partitions over; the group
// checkers' accounting of them is dropped.
func (w *World) recreatedForgotten() {
	o := &w.recreated.offsets
	o.forgotMs = w.now
	o.committable = map[groupPartition]map[int64]bool{}
	for _, f := range o.inFlight {
		if o.committable[f.gp] == nil {
			o.committable[f.gp] = map[int64]bool{}
		}
		o.committable[f.gp][f.offset] = false
	}
	for _, c := range w.clients {
		m := c.member
		if m == nil {
			continue
		}
		for _, tp := range m.assigned {
			if tp.topic == recreateTopic {
				delete(m.ready, tp)
				m.session[tp]++
				m.dropped(tp)
			}
		}
	}
	g := w.groupChecks
	of := func(gp groupPartition) bool { return gp.tp.topic == recreateTopic }
	for gp := range g.processedBy {
		if of(gp) {
			delete(g.processedBy, gp)
		}
	}
	for gp := range g.maxCommitted {
		if of(gp) {
			delete(g.maxCommitted, gp)
		}
	}
	for gp := range g.excused {
		if of(gp) {
			delete(g.excused, gp)
		}
	}
}

// checkRecreatedOffset is S16 for an offset of tp a group's coordinator
// answered to an OffsetFetch sent at sentMs.
func (w *World) checkRecreatedOffset(group string, tp tpKey, sentMs, offset int64) {
	if w.recreated == nil || tp.topic != recreateTopic || offset < 0 {
		return
	}
	o := &w.recreated.offsets
	if o.forgotMs < 0 || sentMs < o.forgotMs {
		return
	}
	w.stats.InvariantsChecked++
	gp := groupPartition{group, tp}
	since, ok := o.committable[gp][offset]
	if !ok {
		committed := make([]int64, 0, len(o.committable[gp]))
		for off := range o.committable[gp] {
			committed = append(committed, off)
		}
		slices.Sort(committed)
		w.violation("S16", fmt.Sprintf("group %s was told offset %d of %s, which its members did not commit since the topic was deleted and created again (at %s; committed since: %v)",
			group, offset, tp, fmtMs(o.forgotMs), committed))
		return
	}
	if !since {
		w.groupChecks.excused[gp] = true
	}
}
