package actors

import (
	"encoding/binary"
	"math"

	"github.com/asynkron/protoactor-go/actor"

	"gregor/logstore"
)

// smallAppendBytes bounds the records of held batches (heldBatches), a
// transaction coordinator's appends and its markers whose partitions each
// append on the sender's goroutine where they find the partition idle.
// A Produce's partitions always do, whatever its size (runProduces): the
// reader sends every batch first, so each partition counts its message as
// queued (fetchBoard.queued) and a Fetch that one append wakes reads the
// others behind theirs, then runs the partitions it found idle, in order
// (inlineRuns). Handing a partition to a worker wakes a goroutine, and
// often an idle thread of the Go scheduler that steals it (sleeping first
// when it is the sender's next goroutine): dearer than the write of a few
// kilobytes, and a worker on another core copies records that the reader
// just read into its own core's cache (a copy of memory another core just
// wrote costs about twice as much). A transaction of 100 records of 100 B
// over six partitions (BenchmarkTransactions) handed five of its six data
// appends to workers. Partitions whose log syncs after appends
// (syncsAppends) still append on workers but the last: one after another
// their syncs would add up.
const smallAppendBytes = 64 << 10

// syncsAppends says a log with cfg syncs after appends: flush.messages
// is set (unset, 0 or the default, it never does).
func syncsAppends(cfg logstore.Config) bool {
	return cfg.FlushMessages > 0 && cfg.FlushMessages < math.MaxInt64
}

// runsSmall says whether pid, a partition actor of n, appends small batches
// on their sender's goroutine: not when its log syncs after appends.
func (n *Node) runsSmall(pid *actor.PID) bool {
	board := n.fetchBoards.of(pid)
	return board == nil || !board.syncsAppends.Load()
}

// send sends the held batches in the order they were made, the last
// inline, or all of them when they are small (smallAppendBytes); nil
// sends nothing.
func (h *heldBatches) send() {
	if h == nil {
		return
	}
	total := 0
	for _, b := range h.batches {
		total += b.heldBytes()
	}
	runs := smallRuns(total <= smallAppendBytes)
	for i, b := range h.batches {
		// Not yet sent: nothing reads them.
		if runs != nil && h.node.runsSmall(b.pid) {
			b.inline, b.deferTo = true, runs
		} else {
			b.inline = i == len(h.batches)-1
		}
		h.root.Send(b.pid, b)
	}
	runs.run()
}

// heldBytes is the records' size of a batch not sent yet (heldBatches):
// senders may still add to it.
func (b *produceBatch) heldBytes() int {
	b.q.mu.Lock()
	defer b.q.mu.Unlock()
	return b.bytes
}

// inlineRuns are the runs of the mailboxes a sender found idle and claimed
// (deferredInline), to make once it sent all its messages.
type inlineRuns struct {
	runs []func()
	// first holds the first runs (a Produce's six partitions, a
	// transaction's six markers), so that collecting them allocates
	// nothing but the collector: a slice grown run by run cost four
	// allocations for six, a tenth of a transaction's.
	first [8]func()
}

// newInlineRuns is an empty collector of deferred runs.
func newInlineRuns() *inlineRuns {
	r := &inlineRuns{}
	r.runs = r.first[:0]
	return r
}

// smallRuns is a collector of deferred runs when small, else nil (no run
// deferred).
func smallRuns(small bool) *inlineRuns {
	if !small {
		return nil
	}
	return newInlineRuns()
}

// run makes the runs in the order they were claimed; nil runs nothing.
func (r *inlineRuns) run() {
	if r == nil {
		return
	}
	for _, fn := range r.runs {
		fn()
	}
	clear(r.first[:])
	r.runs = r.first[:0]
}

// deferRun implements deferredInline.
func (b *produceBatch) deferRun(run func()) bool {
	if b.deferTo == nil {
		return false
	}
	b.deferTo.runs = append(b.deferTo.runs, run)
	return true
}

// yieldsBefore says whether the actor yields before it takes b: always, but
// for a batch its sender runs (produceBatch.deferTo: every partition of a
// Produce appended on its reader, one after another, runProduces; a
// transaction coordinator's markers and its __transaction_state appends,
// on its goroutine) while the partition's produces come from one producer
// (producerMix; the coordinator's appends have no producer id, and nobody
// else writes its partition). runtime.Gosched
// puts the goroutine at the back of the global run queue, and on a busy
// machine it waits there behind every other runnable goroutine while the
// partition's mailbox stays claimed and the reader reads nothing, once per
// partition. A single producer's transactions of 100 records over six
// partitions ran 1.05 to 1.3 times as fast without it (the more, the busier
// the machine), with up to a tenth less broker CPU per record and an eighth
// fewer context switches per transaction (BenchmarkTransactions, interleaved
// rounds): nobody joins its batches, and its reader's own next Produce
// cannot (the reader is the one yielding). Where several producers share the
// partition, the yield lets them share its appends: without it, 4 and 16
// transactional producers at once cost 10-25% more CPU per record.
func (a *partitionActor) yieldsBefore(b *produceBatch) bool {
	return b.deferTo == nil || a.producers.several
}

// producerMix follows the producer ids of a partition's produces (a batch's
// header, a marker's producer): several says that two produces in a row
// among the last batch's, or its first and the one before it, came from
// different producers. Producers without an id (-1) count as one.
type producerMix struct {
	last    int64
	seen    bool
	several bool
}

// note takes the produces of a batch the partition took.
func (p *producerMix) note(msgs []any) {
	p.several = false
	for _, m := range msgs {
		pm, ok := m.(*producePartition)
		if !ok {
			continue
		}
		id := producerOf(pm)
		if p.seen && id != p.last {
			p.several = true
		}
		p.last, p.seen = id, true
	}
}

// producerOf is the producer id of a produce: its marker's, or its first
// batch's (the RecordBatch v2 header has it at byte 43); -1 for none.
func producerOf(m *producePartition) int64 {
	if m.marker != nil {
		return m.marker.ProducerID
	}
	const at = 43
	if len(m.records) < at+8 {
		return -1
	}
	return int64(binary.BigEndian.Uint64(m.records[at:]))
}
