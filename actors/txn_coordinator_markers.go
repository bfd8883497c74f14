package actors

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/cluster"
	"gregor/groups"
	"gregor/txn"
)

// localMarkerWait bounds how long a coordinator waits for a partition
// actor's answer to a marker (the partition's own timeout for the high
// watermark is 30 s).
const localMarkerWait = 35 * time.Second

// writeMarkers writes the core's markers: those of partitions this node
// leads go straight to their partition actors (no WriteTxnMarkers request
// built, routed and answered on the node itself), through the node's
// produce queues (txn_marker_queue.go), the others as
// WriteTxnMarkers to their leaders (txnNode.writeMarkers), which is also
// how markers to __consumer_offsets go, whose group coordinators must
// learn them. Each marker's outcome comes back as txnMarkersWritten. The
// partitions found idle are claimed, the markers first in their
// mailboxes, and run later by the caller (runs), once it answered the
// requests the core replied to: an EndTxn does not wait for the appends
// of its markers, as Kafka's does not.
func (a *txnCoordinator) writeMarkers(markers []txn.Marker, runs *inlineRuns) {
	rt := a.x.n.routes.load()
	var rest []txn.Marker
	results := make([]markerResult, 0, len(markers))
	pids := make([]*actor.PID, 0, len(markers))
	for _, m := range markers {
		t, ok := rt.image.Topic(m.Topic)
		var pid *actor.PID
		if ok && m.Topic != groups.OffsetsTopic && m.Partition >= 0 && m.Partition < t.PartitionCount() &&
			t.Partitions[m.Partition].Leader == a.x.n.cfg.NodeID {
			pid = rt.partition(m.Topic, m.Partition)
		}
		if pid == nil {
			rest = append(rest, m)
			continue
		}
		results = append(results, markerResult{marker: m, code: kerr.RequestTimedOut.Code})
		pids = append(pids, pid)
	}
	if len(rest) > 0 {
		a.x.writeMarkers(rest, a.self)
	}
	if len(results) == 0 {
		return
	}
	self, root := a.self, a.x.n.system.Root
	// A partition actor that stops with the marker in its mailbox answers
	// it NOT_LEADER_OR_FOLLOWER; should an answer still be lost, at the
	// deadline the missing ones are timed out, which the core sends again.
	// The messages are made in one slab, their answers counted by one
	// merger: a transaction's markers cost a few allocations, not a few
	// each.
	outcomes := &a.markerOutcomes
	mg := &merger{done: func() {
		if !outcomes.take(results) {
			root.Send(self, &txnMarkersWritten{results: results, inline: true})
		}
	}}
	msgs := make([]producePartition, len(results))
	var marker *cluster.TxnMarker
	for i := range results {
		m := &results[i].marker
		if marker == nil || marker.ProducerID != m.ProducerID || marker.ProducerEpoch != m.ProducerEpoch ||
			marker.CoordinatorEpoch != m.CoordinatorEpoch || marker.Commit != m.Commit || marker.TransactionVersion != m.TransactionVersion {
			marker = &cluster.TxnMarker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, CoordinatorEpoch: m.CoordinatorEpoch, Commit: m.Commit,
				TransactionVersion: m.TransactionVersion}
		}
		mg.expect()
		msgs[i] = producePartition{acks: -1, timeoutMs: int32(localMarkerWait / time.Millisecond), marker: marker,
			reply: func(res producePartitionResult) { mg.finish(func() { results[i].code = res.errorCode }) }}
	}
	mg.start(localMarkerWait)
	for i := range msgs {
		a.x.n.queueMarker(pids[i], &msgs[i], runs)
	}
}

// txnMarkersWritten carries the outcomes of a coordinator's markers to
// it (inline: of markers to partitions of its node, runsInline).
type txnMarkersWritten struct {
	results []markerResult
	inline  bool
}

// runsInline implements inlineMessage: the outcomes of markers a
// coordinator wrote to partitions of its node that come after its run
// (the partition was busy and took the marker with another sender's
// batch, or appended it on a worker) are taken by an idle coordinator on
// the goroutine that wrote the last of them, a partition's, which
// otherwise woke a worker for the coordinator. The producer's next add
// waits for them (its transaction completes first), and so does its
// Produce: with 4 transactional producers on six partitions (the raw
// cells of BenchmarkTransactions), about 0.65 workers were woken a
// transaction for it. Outcomes of WriteTxnMarkers answered by other
// brokers stay off the goroutine that read the answer.
func (m *txnMarkersWritten) runsInline() bool { return m.inline }

// markerOutcomes are the outcomes of a coordinator's markers to partitions
// of its node that come while it runs their appends itself (carryOut's
// inline runs, after its answers): they go to the core in the same step,
// not in a txnMarkersWritten behind the coordinator's run, which a
// connection's reader running the coordinator would hand to a worker (a
// goroutine woken per transaction, on the way of the producer's next add,
// which waits for the markers). Outcomes that come later (a partition was
// busy, its append ran on a worker) come as txnMarkersWritten.
type markerOutcomes struct {
	mu         sync.Mutex
	collecting bool
	results    []markerResult
}

// open starts taking outcomes.
func (o *markerOutcomes) open() {
	o.mu.Lock()
	o.collecting = true
	o.mu.Unlock()
}

// close stops taking outcomes and returns those taken.
func (o *markerOutcomes) close() []markerResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.collecting = false
	results := o.results
	o.results = nil
	return results
}

// take keeps results, from any goroutine, while open; false when closed
// (the caller sends them).
func (o *markerOutcomes) take(results []markerResult) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.collecting {
		return false
	}
	o.results = append(o.results, results...)
	return true
}
