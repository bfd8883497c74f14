package actors

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"gregor/cluster"
)

// produceQueues gathers the produces bound for each partition actor on this
// node (group commit): those that come while the partition's batch waits
// in its mailbox (the actor is busy) or while the actor yields before
// taking it (takeBatch) join that batch, and the partition
// checks each on its own (sequence, transaction verification, in the
// replica core) and writes all it accepts in one append, one write
// (appendAll). A partition's txnPartitionAdded messages come the same way,
// so each stays ahead of its producer's produce.
//
// A produce joining a batch already in the mailbox goes ahead of what was
// sent to the partition after that batch and not taken yet (a fetch, a
// ListOffsets, a metadata change). Nothing a produce must follow can be
// among it: what caused the produce (its producer's earlier produces and
// adds, the previous transaction's markers, which its producer waits for)
// was taken before it was sent, or is in the same queue ahead of it. A
// request sent on the same connection before the produce may see the
// produce's records, as it could on another connection.
type produceQueues struct {
	mu sync.Mutex
	// open holds, per partition actor (by process id: two *actor.PID
	// values may name one actor), the batch sent to its mailbox and not
	// yet taken by it.
	open map[string]*produceBatch
}

// Bounds of one batch: past either a new batch starts (and waits behind
// it). maxBatchMessages stays under the vector a single pwritev takes.
const (
	maxBatchMessages = 512
	maxBatchBytes    = 16 << 20
)

// produceBatch asks a partition actor to handle, in order, the messages
// (*producePartition, *txnPartitionAdded) gathered until it takes them.
type produceBatch struct {
	q    *produceQueues
	pid  *actor.PID
	msgs []any
	// bytes counts the records of msgs.
	bytes int
	// first holds the first messages, so that a batch of a few (the
	// common case) is one allocation.
	first [4]any
	// inline: the batch runs on its sender's goroutine if it finds the
	// actor idle (runProduces); deferTo, when set, takes that run for the
	// sender to make after its other sends (inlineRuns).
	inline  bool
	deferTo *inlineRuns
}

// runsInline implements inlineMessage.
func (b *produceBatch) runsInline() bool { return b.inline }

// send queues msg for the partition actor pid: in the batch already in
// pid's mailbox, or in a new one sent there.
func (q *produceQueues) send(root *actor.RootContext, pid *actor.PID, msg any) {
	q.sendInline(root, pid, msg, false)
}

// sendInline is send; a new batch it sends runs on this goroutine when it
// finds the partition actor idle, if inline (inlineMessage).
func (q *produceQueues) sendInline(root *actor.RootContext, pid *actor.PID, msg any, inline bool) {
	q.sendTo(root, pid, msg, inline, nil)
}

// sendTo is sendInline; with runs, a new batch that finds the partition
// actor idle is run by runs.run, not at once.
func (q *produceQueues) sendTo(root *actor.RootContext, pid *actor.PID, msg any, inline bool, runs *inlineRuns) {
	if b := q.add(pid, msg, inline); b != nil {
		b.deferTo = runs
		root.Send(pid, b)
	}
}

// sendHeld is send, but a new batch waits in held, open to the messages
// sent to its partition meanwhile, until held is sent.
func (q *produceQueues) sendHeld(root *actor.RootContext, pid *actor.PID, msg any, held *heldBatches) {
	if b := q.add(pid, msg, false); b != nil {
		held.root = root
		held.batches = append(held.batches, b)
	}
}

// add puts msg in pid's open batch, or in a new one, which it returns for
// the caller to send (nil when msg joined a batch already sent).
func (q *produceQueues) add(pid *actor.PID, msg any, inline bool) *produceBatch {
	size := 0
	if p, ok := msg.(*producePartition); ok {
		size = len(p.records)
	}
	q.mu.Lock()
	b := q.open[pid.Id]
	if b != nil && (len(b.msgs) >= maxBatchMessages || b.bytes+size > maxBatchBytes) {
		b = nil // full: it goes as it is, taken in its turn
	}
	first := b == nil
	if first {
		if q.open == nil {
			q.open = map[string]*produceBatch{}
		}
		b = &produceBatch{q: q, pid: pid, inline: inline}
		b.msgs = b.first[:0]
		q.open[pid.Id] = b
	}
	b.msgs = append(b.msgs, msg)
	b.bytes += size
	q.mu.Unlock()
	if first {
		return b
	}
	return nil
}

// heldBatches are the new batches of several produces handed on at once
// (producedAdds.drain), sent once all of them joined: each partition then
// takes them in one batch, one append. The last batch is sent inline (a
// Produce's last partition, runProduces). While held, a batch is open to
// every sender but not in its partition's mailbox: what is sent to the
// partition directly meanwhile (a Fetch's read, a metadata change) goes
// ahead of it, as it could have come just before the produces; the next
// produces of the same transactional id queue behind the drain, which
// sends the batches first.
type heldBatches struct {
	root    *actor.RootContext
	node    *Node
	batches []*produceBatch
}

// take closes the batch (messages sent later go in a new one) and returns
// its messages.
func (b *produceBatch) take() []any {
	b.q.mu.Lock()
	defer b.q.mu.Unlock()
	if b.q.open[b.pid.Id] == b {
		delete(b.q.open, b.pid.Id)
	}
	msgs := b.msgs
	b.msgs = nil
	return msgs
}

// answerUndelivered answers every message of a batch that reached no
// partition actor (it stopped).
func (b *produceBatch) answerUndelivered() {
	for _, m := range b.take() {
		answerUndelivered(m)
	}
}

// runProduces runs a fan-out of produces through the node's produce
// queues, as fanOut.run sends its messages: done runs once every asked
// partition answered, or at timeout. It runs on the reader of the
// request's connection, which sends every partition's batch inline, and
// once all are sent appends those it found idle, one after another
// (inlineRuns): a Produce wakes no other goroutine, and its records are
// copied to the log by the core that just read them. Partitions whose
// log syncs after appends (runsSmall) append on workers but the last. With
// held, the new batches wait in it, for more produces to join them, until
// held is sent.
func (n *Node) runProduces(f *fanOut[producePartitionResult], timeout time.Duration, held *heldBatches, done func()) {
	f.m.done = done
	f.m.start(timeout)
	runs := smallRuns(held == nil)
	for i, s := range f.sends {
		if held != nil {
			held.node = n
			n.produceQueues.sendHeld(n.system.Root, s.pid, s.msg, held)
			continue
		}
		if runs != nil && n.runsSmall(s.pid) {
			n.produceQueues.sendTo(n.system.Root, s.pid, s.msg, true, runs)
			continue
		}
		n.produceQueues.sendInline(n.system.Root, s.pid, s.msg, i == len(f.sends)-1)
	}
	f.sends = nil
	runs.run()
}

// takeBatch takes the messages of b, after yielding the actor's goroutine
// once when yieldsBefore says so: the senders that are runnable meanwhile
// (connections with their next produce, coordinators writing markers, the
// partition's other producers) add theirs to b, and the partition writes
// them all in one append instead of an append each (a write system call
// each: with 16 transactional producers on 6 partitions, 5.7 writes per
// transaction became 4.0). With nothing else runnable the yield returns at
// once.
func (a *partitionActor) takeBatch(b *produceBatch) []any {
	if a.yieldsBefore(b) {
		yieldBeforeTake()
	}
	msgs := b.take()
	a.producers.note(msgs)
	return msgs
}

// yieldBeforeTake is how takeBatch yields: runtime.Gosched (tests run a
// sender there instead, which the scheduler does not promise to run).
var yieldBeforeTake = runtime.Gosched

// produceAll hands the core the messages of a batch in order, then carries
// out what they asked in one go: the appends of the produces it accepted
// are written together. After that nothing reads their records, so each
// produce's frame goes back, unless the log holds it for the followers.
func (a *partitionActor) produceAll(msgs []any) {
	now := a.node.cfg.Clock.Now()
	for _, m := range msgs {
		switch m := m.(type) {
		case *producePartition:
			a.startProduce(m, now)
		case *txnPartitionAdded:
			a.core.TxnPartitionAdded(m.producerID, m.producerEpoch)
		}
	}
	a.carryOut()
	a.releaseProducing()
}

// startProduce hands one produce to the core; its records stay readable
// until releaseProducing.
func (a *partitionActor) startProduce(msg *producePartition, now cluster.Instant) {
	a.bytesIn.Add(float64(len(msg.records)))
	if msg.added != nil {
		a.core.TxnPartitionAdded(msg.added.producerID, msg.added.producerEpoch)
	}
	req := cluster.ProduceRequest{Records: msg.records, Acks: msg.acks, TimeoutMs: msg.timeoutMs, Marker: msg.marker,
		TransactionalID: msg.transactionalID, TxnOperation: msg.txnOperation}
	id := a.await(msg, msg.answers())
	a.producing.add(id, msg)
	a.core.Produce(id, req, now)
}

// releaseProducing gives back the frames of the produces handled since
// the last call that the log did not take.
func (a *partitionActor) releaseProducing() {
	for _, p := range a.producing.all {
		p.msg.releaseRecords()
	}
	a.producing.reset()
}

// producingSet holds the produces of one batch by request id: a slice in
// the order they were handed to the core, so by increasing id (a map
// cost an insertion, an iteration and a deletion per produce).
type producingSet struct{ all []producingEntry }

type producingEntry struct {
	id  cluster.RequestID
	msg *producePartition
}

// add takes msg under id, above every id it holds.
func (s *producingSet) add(id cluster.RequestID, msg *producePartition) {
	s.all = append(s.all, producingEntry{id: id, msg: msg})
}

// get is the produce under id, nil for none.
func (s *producingSet) get(id cluster.RequestID) *producePartition {
	i, ok := slices.BinarySearchFunc(s.all, id, func(e producingEntry, id cluster.RequestID) int { return cmp.Compare(e.id, id) })
	if !ok {
		return nil
	}
	return s.all[i].msg
}

// reset forgets every produce, keeping the array.
func (s *producingSet) reset() {
	clear(s.all)
	s.all = s.all[:0]
}
