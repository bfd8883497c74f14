package sim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// Fetch reads as events. In production a partition actor only plans a
// Fetch's read: logstore.Log.Read hands back Records, references to
// sections of segment files, and the connection's writer reads those bytes
// when it writes the response (sendfile, or a copy through a buffer), on
// another goroutine, after the responses queued before it on the
// connection, as fast as the client takes them. Between the plan and the
// read the log goes on: a follower truncates it, compaction and retention
// replace or delete its segments, the process crashes.
//
// The simulator does the same: the answer is decided at once (HW, LSO,
// aborted transactions), but its records are read, and the response sent,
// in an event of the node's own at a seeded delay (fetchWrite.start). Then:
//   - segments the records hold stay readable after compaction and
//     retention replaced or deleted them (the log closes a file only when
//     no Records hold it);
//   - a file truncated below the planned section reads short: the frame
//     announced more bytes than can be written, so the connection closes,
//     as netio closes it ("part wrote n bytes, announced m"), and the
//     caller hears errConnectionClosed;
//   - bytes overwritten since the plan (a follower's truncation, then its
//     appends from a new leader) are sent as read: the check (F1) is that
//     nothing below the high watermark the answer announces has changed,
//     unless a loss the guarantees allow struck the partition meanwhile;
//   - a crash before the read drops it (the event belongs to the old
//     process): no response.

// streamFetchRead is the randomness of the fetch writers' delays: a
// stream of its own (rand.go), so that its draws reshuffle no other
// subsystem. Its value is far from rand.go's list so that list can grow.
const streamFetchRead stream = 64

// errConnectionClosed is what a caller hears when the server closed the
// connection under its request.
var errConnectionClosed = errors.New("connection closed by the server")

// fetchReads are the run's fetch writers: how long a written answer waits
// for its read, and the writes a scenario holds.
type fetchReads struct {
	// The delays: of mean fastMeanMs for an idle writer, of mean
	// slowMeanMs for the share slowP of answers whose writer is slow (the
	// profile's SlowWriteP and SlowWriteMs), while faults run.
	seededDelays
	// stalled are the writes of the nodes whose writers a scenario
	// stalled (hold-reads), in answer order.
	stalled heldReads[*fetchWrite]
}

// fetchReads is the run's fetch writers, set up on first use.
func (w *World) fetchReads() *fetchReads {
	if w.reads == nil {
		w.reads = &fetchReads{seededDelays: seededDelays{rng: newRand(w.opts.Seed, streamFetchRead), fastMeanMs: 0.5,
			slowP: w.profile.SlowWriteP, slowMeanMs: w.profile.SlowWriteMs}}
	}
	return w.reads
}

// seededDelays draws how long a planned read waits for its read: of mean
// fastMeanMs, or, while faults run, of mean slowMeanMs for the share slowP
// of reads that are slow.
type seededDelays struct {
	rng                           *rand.Rand
	fastMeanMs, slowP, slowMeanMs float64
}

// heldReads are the planned reads a scenario stalled, per node, in plan
// order (hold-reads, hold-loads).
type heldReads[T any] struct {
	holding map[int32]bool
	held    map[int32][]T
}

// hold stalls node's reads from now on.
func (h *heldReads[T]) hold(node int32) {
	if h.holding == nil {
		h.holding, h.held = map[int32]bool{}, map[int32][]T{}
	}
	h.holding[node] = true
}

// keep holds r when node's reads are stalled, and says so.
func (h *heldReads[T]) keep(node int32, r T) bool {
	if !h.holding[node] {
		return false
	}
	h.held[node] = append(h.held[node], r)
	return true
}

// release ends node's stall and hands back what it held, in plan order.
func (h *heldReads[T]) release(node int32) []T {
	held := h.held[node]
	delete(h.held, node)
	delete(h.holding, node)
	return held
}

func (d *seededDelays) delayMs(w *World) int64 {
	if w.phase == phaseFaulty && chance(d.rng, d.slowP) {
		return expMs(d.rng, d.slowMeanMs)
	}
	return expMs(d.rng, d.fastMeanMs)
}

// fetchWrite is an answered Fetch whose records are still to be read: the
// response as decided, and each included partition's planned records.
type fetchWrite struct {
	n        *node
	req      *message
	resp     *kmsg.FetchResponse
	follower bool
	parts    []writePart
	// inc is the process of n that planned the answer.
	inc uint64
}

// writePart is one partition's records in a fetchWrite.
type writePart struct {
	ti, pi int
	tp     tpKey
	recs   *logstore.Records
	// highWatermark is what the answer announces: the records below it
	// are committed and must read as planned.
	highWatermark int64
	// planned is what the records held at the plan (the simulator's copy
	// for F1; production keeps none); lossEra the partition's era then.
	planned []byte
	lossEra int
	// at is the replica's state at the plan, to tell what changed before
	// the read.
	at replicaStamp
}

// replicaStamp is what a read can race with in a replica: its leadership,
// its log's start and end, compaction.
type replicaStamp struct {
	h                  *replicaHost
	leaderEpoch        int32
	leader             bool
	logStart, logEnd   int64
	clusterCompactions int64
}

// stamp is the replica's state now (h may be nil).
func stamp(w *World, h *replicaHost) replicaStamp {
	if h == nil || h.core == nil || h.log == nil {
		return replicaStamp{}
	}
	return replicaStamp{h: h, leaderEpoch: h.core.LeaderEpoch(), leader: h.core.IsLeader(), logStart: h.log.LogStartOffset(), logEnd: h.log.LogEndOffset(),
		clusterCompactions: w.stats.Compactions}
}

// raced says what changed in the replica between the plan and the read,
// "" for nothing.
func (p *writePart) raced(n *node) string {
	was := p.at
	if was.h == nil {
		return ""
	}
	now := stamp(n.w, n.replicas[p.tp])
	switch {
	case now.h != was.h:
		return "the replica stopped"
	case now.leaderEpoch != was.leaderEpoch || now.leader != was.leader:
		return fmt.Sprintf("leadership changed (leader epoch %d to %d)", was.leaderEpoch, now.leaderEpoch)
	case now.logEnd < p.recs.NextOffset:
		return fmt.Sprintf("the log was truncated to %d", now.logEnd)
	case now.logEnd < was.logEnd:
		return fmt.Sprintf("the log was truncated from %d to %d", was.logEnd, now.logEnd)
	case now.logStart > was.logStart:
		return fmt.Sprintf("the log start rose to %d", now.logStart)
	case now.clusterCompactions != was.clusterCompactions && n.w.compaction[p.tp] != nil:
		return "compaction may have committed"
	}
	return ""
}

// plan adds a partition's records to the write.
func (fw *fetchWrite) plan(ti, pi int, tp tpKey, h *replicaHost, recs *logstore.Records, highWatermark int64) {
	planned, err := recs.Bytes()
	if err != nil {
		planned = nil // the read will tell
	}
	fw.parts = append(fw.parts, writePart{ti: ti, pi: pi, tp: tp, recs: recs, highWatermark: highWatermark,
		planned: planned, lossEra: fw.n.w.lossEra[tp], at: stamp(fw.n.w, h)})
}

// start sends an answer without records at once, and schedules the read
// and the send of one with records.
func (fw *fetchWrite) start() {
	n := fw.n
	if len(fw.parts) == 0 {
		n.w.respond(fw.req, fw.resp)
		return
	}
	fw.inc = n.inc
	fr := n.w.fetchReads()
	if fr.stalled.keep(n.id, fw) {
		return
	}
	n.at(n.w.now+fr.delayMs(n.w), fw.write)
}

// write reads the planned records and sends the response, or closes the
// connection when a read comes up short.
func (fw *fetchWrite) write() { fw.writeOutcome(false) }

// writeOutcome is write; with describe, it says what the read found (for
// a scenario).
func (fw *fetchWrite) writeOutcome(describe bool) string {
	n := fw.n
	w := n.w
	w.stats.FetchReads++
	var found []string
	for k := range fw.parts {
		p := &fw.parts[k]
		if race := p.raced(n); race != "" {
			w.stats.FetchReadsRaced++
			w.tracef("%s: fetch answer to %s: %s [%d, %d) read after %s", n.name(), endpointName(fw.req.from), p.tp, p.recs.FirstOffset, p.recs.NextOffset, race)
		}
		size := p.recs.Len()
		got, err := p.recs.Bytes()
		p.recs.Release()
		if err == nil && int64(len(got)) != size {
			err = fmt.Errorf("read %d bytes of %d", len(got), size)
		}
		if err != nil {
			for _, rest := range fw.parts[k+1:] {
				rest.recs.Release()
			}
			w.stats.FetchReadsBroken++
			w.timelinef("%s: fetch answer to %s: %s [%d, %d) reads short (%v): connection closed",
				n.name(), endpointName(fw.req.from), p.tp, p.recs.FirstOffset, p.recs.NextOffset, err)
			w.answered(fw.req)
			w.net.send(&message{from: fw.req.to, to: fw.req.from, kind: msgResponse, corr: fw.req.corr, err: errConnectionClosed})
			if !describe {
				return ""
			}
			return fmt.Sprintf("%s [%d, %d) short: connection closed", p.tp, p.recs.FirstOffset, p.recs.NextOffset)
		}
		changedAt := fw.checkRead(p, got)
		if describe {
			span := fmt.Sprintf("%s [%d, %d) high watermark %d", p.tp, p.recs.FirstOffset, p.recs.NextOffset, p.highWatermark)
			if changedAt < 0 {
				found = append(found, span+": as planned")
			} else {
				found = append(found, fmt.Sprintf("%s: changed from offset %d (%d bytes planned, %d read)", span, changedAt, len(p.planned), len(got)))
			}
		}
		fw.resp.Topics[p.ti].Partitions[p.pi].RecordBatches = got
		w.stats.BytesFetched += int64(len(got))
	}
	w.respond(fw.req, fw.resp)
	return strings.Join(found, "; ")
}

// checkRead is F1: what a read returns below the high watermark its answer
// announces is what the log held there at the plan. Above it (a
// follower's read reaches the log end offset) the log may have changed:
// that is reported on the timeline, as is a change a loss excuses: one
// that struck the partition between the plan and the read, or an election
// that may have lost records at a leader epoch later than the one the
// replica knew at the plan (seed 21234 at 5 nodes: n3, the leader of
// epoch 1 and alone in its ISR, paused past an unclean election of epoch
// 2, took a produce and a Fetch on resuming, announced the high watermark
// 105 of its term and truncated [101, 105) to agree with the new leader
// before the read). It
// returns the base offset of the first batch that changed, -1 for none.
func (fw *fetchWrite) checkRead(p *writePart, got []byte) int64 {
	w := fw.n.w
	w.stats.InvariantsChecked++
	if p.planned == nil || bytes.Equal(got, p.planned) {
		return -1
	}
	w.stats.FetchReadsChanged++
	at := 0
	for at < len(got) && at < len(p.planned) && got[at] == p.planned[at] {
		at++
	}
	base := batchBaseAt(p.planned, at)
	kind := "a follower's"
	if !fw.follower {
		kind = "a consumer's"
	}
	switch {
	case base >= p.highWatermark:
		w.timelinef("%s: %s fetch read %s from offset %d after the log changed under it (above the high watermark %d)",
			fw.n.name(), kind, p.tp, base, p.highWatermark)
	case w.lossEra[p.tp] != p.lossEra:
		w.timelinef("%s: %s fetch read %s from offset %d after a loss changed the log under it", fw.n.name(), kind, p.tp, base)
	case p.at.h != nil && p.at.leaderEpoch < w.checks.lossyElection[p.tp]:
		// The replica planned it knowing only a leader epoch older than
		// an election that may have lost records: a deposed leader that
		// had not heard of it yet (paused) announced a high watermark
		// of its own term, whose records the election let go.
		w.timelinef("%s: %s fetch read %s from offset %d planned at leader epoch %d, before the election at epoch %d that may have lost records",
			fw.n.name(), kind, p.tp, base, p.at.leaderEpoch, w.checks.lossyElection[p.tp])
	default:
		w.violation("F1", fmt.Sprintf("%s: %s fetch of %s read other bytes from offset %d than planned, below the high watermark %d it announced",
			fw.n.name(), kind, p.tp, base, p.highWatermark))
	}
	return base
}

// batchBaseAt is the base offset of the batch of b holding byte at (of the
// last whole batch header before it when b is torn).
func batchBaseAt(b []byte, at int) int64 {
	base := int64(-1)
	for pos := 0; pos+12 <= len(b) && pos <= at; {
		base = int64(binary.BigEndian.Uint64(b[pos:]))
		size, err := logstore.BatchSize(b[pos:])
		if err != nil || size <= 0 {
			break
		}
		pos += size
	}
	return base
}
