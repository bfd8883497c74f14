package sim

import (
	"fmt"

	"gregor/logstore"
)

// Coordinator loads as events. In production a group or transaction
// coordinator that gains its partition's leadership loads it through the
// partition actor (actors/coordinator_load.go): the partition plans each
// read (logstore.Log.Read hands back Records, references to sections of
// segment files) and replies; the coordinator reads the bytes and replays
// them in its own mailbox, later, then asks for the next read, until a read
// up to the log end finds nothing. Between a plan and its read the
// partition goes on: its leadership moves (the coordinator stops), the
// process crashes, compaction replaces the planned segments (they stay
// readable while Records hold them), markers are appended.
//
// The simulator does the same: each read is planned on the leader's log
// at once and read, and replayed into the core, in an event of the node's
// own at a seeded delay. Then:
//   - a coordinator that stopped meanwhile (leadership moved, the core
//     reverted) drops the read; a crash drops it with its process;
//   - a read that comes up short (its file truncated under it) makes the
//     coordinator start over, as production's supervision restarts a
//     coordinator whose load failed;
//   - a read that finds nothing ends the load, unless the log grew since
//     its plan: production's coordinator hears of a marker appended after
//     its last read's plan only after that read's answer (both come from
//     the partition, in order), and the core ignores what it hears while
//     loading (the log holds it), so the simulator reads on instead.

// streamCoordinatorLoad is the randomness of the load reads' delays, a
// stream of its own (rand.go).
const streamCoordinatorLoad stream = 65

// Sizes and delays of the simulated loads: one read asks for this much
// (production: loadReadBytes), and a read that failed is asked again after
// loadRetryMs (production: loadRetryDelay).
const (
	loadReadBytes = 8 << 20
	loadRetryMs   = 100
)

// coordinatorLoads are the run's coordinator load reads: how long a
// planned read waits, and the reads a scenario holds.
type coordinatorLoads struct {
	// The delays: of mean fastMeanMs for a read, of mean slowMeanMs for
	// the share slowP of reads that wait for a slow disk or a busy
	// partition (the profile's SlowLoadP and SlowLoadMs), while faults run.
	seededDelays
	// stalled are the reads of the nodes whose load reads a scenario
	// stalled (hold-loads), in plan order.
	stalled heldReads[*loadRead]
}

// coordinatorLoads is the run's load reads, set up on first use.
func (w *World) coordinatorLoads() *coordinatorLoads {
	if w.loads == nil {
		w.loads = &coordinatorLoads{seededDelays: seededDelays{rng: newRand(w.opts.Seed, streamCoordinatorLoad), fastMeanMs: 1,
			slowP: w.profile.SlowLoadP, slowMeanMs: w.profile.SlowLoadMs}}
	}
	return w.loads
}

// partitionLoad is one coordinator's load of its partition.
type partitionLoad struct {
	n    *node
	key  tpKey
	what string
	// next is where the next read starts.
	next int64
	// current says whether the coordinator that started the load still
	// runs and loads.
	current func() bool
	// feed replays the batches of one read, from offset from on, into the
	// core and returns the offset after them.
	feed func(p []byte, from int64) (int64, error)
	// loaded ends the load: the core serves.
	loaded func()
	// restart stops the coordinator, so that a new one loads afresh.
	restart func()
	// fail reports a log the core cannot replay.
	fail func(err error)
}

// loadRead is a planned read of a load.
type loadRead struct {
	l            *partitionLoad
	recs         *logstore.Records
	from, logEnd int64
	at           replicaStamp
	inc          uint64
}

// start begins the load at the log start offset.
func (l *partitionLoad) start(logStart int64) {
	l.next = logStart
	l.plan()
}

// plan plans the next read, from l.next to the log end, on the node's
// replica, and schedules it.
func (l *partitionLoad) plan() {
	n, w := l.n, l.n.w
	h := n.replicas[l.key]
	if h == nil || h.core == nil || h.log == nil || !h.core.IsLeader() {
		return // the node's next sync stops the coordinator
	}
	from, logEnd := max(l.next, h.log.LogStartOffset()), h.log.LogEndOffset()
	if from > logEnd {
		w.timelinef("%s: %s of %s: its log ends at %d, below its load's %d: it starts over", n.name(), l.what, l.key, logEnd, from)
		l.restart()
		return
	}
	recs, err := h.log.Read(from, loadReadBytes, logEnd)
	if err != nil {
		w.tracef("%s: %s of %s cannot read the partition at %d: %v", n.name(), l.what, l.key, from, err)
		n.after(loadRetryMs, func() {
			if l.current() {
				l.plan()
			}
		})
		return
	}
	lr := &loadRead{l: l, recs: recs, from: from, logEnd: logEnd, at: stamp(w, h), inc: n.inc}
	cl := w.coordinatorLoads()
	if cl.stalled.keep(n.id, lr) {
		return
	}
	n.at(w.now+cl.delayMs(w), func() { lr.read() })
}

// read reads the planned records and replays them, then plans the next
// read or ends the load; it returns what happened, for a scenario.
func (lr *loadRead) read() string {
	l := lr.l
	n, w := l.n, l.n.w
	w.stats.LoadReads++
	span := fmt.Sprintf("%s [%d, %d)", l.key, lr.from, lr.recs.NextOffset)
	if !l.current() {
		lr.recs.Release()
		w.stats.LoadReadsDropped++
		w.tracef("%s: %s load read %s dropped: its coordinator stopped", n.name(), l.what, span)
		return span + ": dropped, its coordinator stopped"
	}
	race := lr.raced()
	if race != "" {
		w.stats.LoadReadsRaced++
		w.tracef("%s: %s load read %s after %s", n.name(), l.what, span, race)
	}
	size := lr.recs.Len()
	got, err := lr.recs.Bytes()
	lr.recs.Release()
	if err == nil && int64(len(got)) != size {
		err = fmt.Errorf("read %d bytes of %d", len(got), size)
	}
	if err != nil {
		w.stats.LoadReadsBroken++
		w.timelinef("%s: %s load read %s short (%v): the coordinator starts over", n.name(), l.what, span, err)
		l.restart()
		return span + ": short, the coordinator starts over"
	}
	if len(got) == 0 {
		if h := n.replicas[l.key]; h != nil && h.log != nil && h.log.LogEndOffset() > lr.logEnd {
			l.next = lr.from
			l.plan()
			return span + ": empty, the log grew since: reads on"
		}
		l.loaded()
		return span + ": empty, loaded"
	}
	next, err := l.feed(got, lr.from)
	if next <= lr.from && err == nil {
		err = fmt.Errorf("no batch at %d", lr.from)
	}
	if err != nil {
		l.fail(err)
		return span + ": " + err.Error()
	}
	l.next = next
	l.plan()
	out := fmt.Sprintf("%s: replayed to %d", span, next)
	if race != "" {
		out += " (after " + race + ")"
	}
	return out
}

// raced says what changed in the replica between the plan and the read,
// "" for nothing.
func (lr *loadRead) raced() string {
	p := writePart{tp: lr.l.key, recs: lr.recs, at: lr.at}
	return p.raced(lr.l.n)
}
