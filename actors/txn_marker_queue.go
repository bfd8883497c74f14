package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"gregor/cluster"
)

// markerQueues gathers the transaction markers bound for each partition
// actor on this node, from every coordinator on the node and from the
// WriteTxnMarkers requests of other brokers' coordinators: the markers
// that come while a partition's batch waits in its mailbox join that
// batch, and the partition writes them all in one append (one write)
// rather than one append each. Transactions that end together (several
// producers committing at about the same time) mostly share a partition's
// marker append.
//
// A marker joining a batch already in the mailbox goes ahead of what was
// sent to the partition after that batch. Nothing a marker must follow can
// be among it: the transaction's own data was answered before its EndTxn,
// and its producer's next transaction (its adds and produces) starts only
// once every marker of this one is written.
type markerQueues struct {
	mu sync.Mutex
	// open holds, per partition actor, the batch sent to its mailbox and
	// not yet taken by it.
	open map[*actor.PID]*markerBatch
}

// markerBatch is the markers gathered for one partition actor.
type markerBatch struct {
	markers []*producePartition
}

// txnMarkerBatch asks a partition actor to write the markers of batch, and
// those that join it until the actor takes it.
type txnMarkerBatch struct {
	q     *markerQueues
	pid   *actor.PID
	batch *markerBatch
}

// send queues msg, a marker's produce, for the partition actor pid: in the
// batch already in pid's mailbox, or in a new one sent there.
func (q *markerQueues) send(root *actor.RootContext, pid *actor.PID, msg *producePartition) {
	q.mu.Lock()
	b := q.open[pid]
	first := b == nil
	if first {
		if q.open == nil {
			q.open = map[*actor.PID]*markerBatch{}
		}
		b = &markerBatch{}
		q.open[pid] = b
	}
	b.markers = append(b.markers, msg)
	q.mu.Unlock()
	if first {
		root.Send(pid, &txnMarkerBatch{q: q, pid: pid, batch: b})
	}
}

// take closes the batch (markers sent later go in a new one) and returns
// its markers.
func (m *txnMarkerBatch) take() []*producePartition {
	m.q.mu.Lock()
	defer m.q.mu.Unlock()
	if m.q.open[m.pid] == m.batch {
		delete(m.q.open, m.pid)
	}
	ms := m.batch.markers
	m.batch.markers = nil
	return ms
}

// answerUndelivered answers every marker of a batch that reached no
// partition actor (it stopped): NOT_LEADER_OR_FOLLOWER, which the
// coordinator retries.
func (m *txnMarkerBatch) answerUndelivered() {
	for _, p := range m.take() {
		answerUndelivered(p)
	}
}

// writeMarkerBatch hands the core every marker of the batch in one step:
// their appends come in one Ready, written together (appendAll).
func (a *partitionActor) writeMarkerBatch(msg *txnMarkerBatch) {
	now := a.node.cfg.Clock.Now()
	for _, p := range msg.take() {
		a.core.Produce(a.await(p, p.reply != nil), cluster.ProduceRequest{Acks: p.acks, TimeoutMs: p.timeoutMs, Marker: p.marker}, now)
	}
}

// askMarkers runs a fan-out of markers' produces through the node's marker
// queues, as fanOut.run sends its messages: done runs once every marker
// was answered, or at timeout.
func (n *Node) askMarkers(f *fanOut[producePartitionResult], timeout time.Duration, done func()) {
	f.m.done = done
	f.m.start(timeout)
	for _, s := range f.sends {
		n.txns.markerQueues.send(n.system.Root, s.pid, s.msg.(*producePartition))
	}
	f.sends = nil
}
